"""How far the column pre-scan reads (``columns=None``): the columns of a
stream are the IEs of its templates, learned before the first batch; the
pre-scan reads only as far as the rows asked for (``n_rows``), a seekable
file object is read again from where it was (not copied into memory), and a
pipe, which can be read only once, is pre-scanned only as far as its first
batch, so its batches come while the exporter is still writing. A template
met after that with an IE that is no column gets a FerrofixWarning naming it.

The streams are built byte by byte from RFC 7011 (ipfixmsg.py): the expected
columns and values are those the bytes hold."""

from __future__ import annotations

import io
import os
import threading
import warnings
from typing import Any

import pyarrow as pa
import pytest

import ferrofix as ff
import ipfixmsg as im

# Template 256: sourceTransportPort (7), destinationTransportPort (11);
# template 257, sent late: sourceTransportPort, octetDeltaCount (1).
EARLY = im.template_set(im.template_record(256, [im.field(7, 2), im.field(11, 2)]))
LATE = im.template_set(im.template_record(257, [im.field(7, 2), im.field(1, 8)]))


def _early(first: int, n: int) -> bytes:
    """A message of n records of template 256: ports (first+i, 80)."""
    recs = b"".join(im.uint(first + i, 2) + im.uint(80, 2) for i in range(n))
    return im.message([im.set_(256, recs)], seq=first)


def _late() -> bytes:
    recs = im.uint(9999, 2) + im.uint(123456789, 8)
    return im.message([LATE, im.set_(257, recs)], seq=10_000)


def _stream(messages: int = 50, per: int = 20) -> list[bytes]:
    out = [im.message([EARLY])]
    out += [_early(1000 + i * per, per) for i in range(messages)]
    return [*out, _late()]


class CountingFile(io.BytesIO):
    """A seekable binary file that counts the bytes handed out."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.handed = 0

    def read(self, n: int | None = -1) -> bytes:
        b = super().read(n)
        self.handed += len(b)
        return b

    def read1(self, n: int = -1) -> bytes:
        b = super().read1(n)
        self.handed += len(b)
        return b


def test_the_whole_stream_gives_every_templates_columns() -> None:
    data = b"".join(_stream())
    t = pa.table(ff.scan_ipfix(data))
    assert t.column_names == ["sourceTransportPort", "destinationTransportPort", "octetDeltaCount"]
    assert t.num_rows == 50 * 20 + 1
    assert t["octetDeltaCount"].to_pylist()[-1] == 123456789


def test_n_rows_reads_only_as_far_as_those_rows() -> None:
    """n_rows=10: the pre-scan stops once it has seen 10 records, so the late
    template, which no row asked for holds, is no column, and of a file
    object far less than the stream is read (twice the 10 records'
    messages, not twice the stream)."""
    msgs = _stream()
    data = b"".join(msgs)
    f = CountingFile(data)
    t = pa.table(ff.scan_ipfix(f, n_rows=10))
    assert t.column_names == ["sourceTransportPort", "destinationTransportPort"]
    assert t["sourceTransportPort"].to_pylist() == list(range(1000, 1010))
    # Both passes end within the first messages (a reader may read ahead
    # by a buffer: 1 MiB at most per read, the stream here is ~5 KB, so
    # count reads of a larger stream instead).
    big = b"".join(_stream(messages=3000))
    f = CountingFile(big)
    t = pa.table(ff.scan_ipfix(f, n_rows=10))
    assert t.num_rows == 10
    assert f.handed < len(big), (f.handed, len(big))
    g = CountingFile(big)
    assert pa.table(ff.scan_ipfix(g)).num_rows == 3000 * 20 + 1
    assert g.handed >= 2 * len(big)  # the whole stream, pre-scanned then decoded


def test_a_seekable_file_object_is_read_again_from_where_it_was() -> None:
    """Opened at an offset (a header of another format before the stream):
    the same table as the bytes from there give, late template included."""
    data = b"".join(_stream())
    f = io.BytesIO(b"not ipfix" + data)
    f.seek(9)
    got = pa.table(ff.scan_ipfix(f))
    assert got.equals(pa.table(ff.scan_ipfix(data)))


def _pipe_exporter(
    w: int, first: list[bytes], rest: list[bytes], go: threading.Event, state: dict[str, Any]
) -> None:
    with os.fdopen(w, "wb") as out:
        for m in first:
            out.write(m)
        out.flush()
        # Hold the pipe open until the reader has its first batch.
        state["waited"] = go.wait(timeout=30)
        for m in rest:
            out.write(m)
    state["closed"] = True


def test_a_pipe_yields_its_first_batch_while_the_exporter_still_writes() -> None:
    """A live exporter on a pipe: the first batch (batch_size=8 records)
    comes before the exporter writes more or closes; the rest follows; the
    late template's IE, not among the columns learned from the first batch,
    is named in a FerrofixWarning and its record still comes, with that
    value left out (null where a column has no field)."""
    msgs = _stream(messages=3, per=8)
    first, rest = msgs[:3], msgs[3:]  # templates and two messages of 8 records
    r, w = os.pipe()
    go = threading.Event()
    state: dict[str, Any] = {}
    t = threading.Thread(target=_pipe_exporter, args=(w, first, rest, go, state))
    t.start()
    try:
        with os.fdopen(r, "rb") as f, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scan = ff.scan_ipfix(f, batch_size=8)
            it = iter(scan)
            b1 = next(it)
            assert "closed" not in state, "the first batch waited for the pipe to close"
            go.set()
            more = list(it)
    finally:
        go.set()
        t.join(timeout=30)
    assert state.get("waited") is True
    assert b1.schema.names == ["sourceTransportPort", "destinationTransportPort"]
    assert b1.column("sourceTransportPort").to_pylist() == list(range(1000, 1008))
    ports = [p for b in [b1, *more] for p in b.column("sourceTransportPort").to_pylist()]
    assert ports == [*range(1000, 1024), 9999]
    msgs_warned = [str(c.message) for c in caught if issubclass(c.category, ff.FerrofixWarning)]
    assert len(msgs_warned) == 1, msgs_warned
    assert "octetDeltaCount" in msgs_warned[0] and "template 257" in msgs_warned[0]
    assert "columns=" in msgs_warned[0]


def test_a_pipe_with_columns_given_reads_them_all() -> None:
    """With columns= the pre-scan is skipped: the late template's IE is read."""
    msgs = _stream(messages=3, per=8)
    r, w = os.pipe()
    go = threading.Event()
    go.set()
    state: dict[str, Any] = {}
    t = threading.Thread(target=_pipe_exporter, args=(w, msgs, [], go, state))
    t.start()
    with os.fdopen(r, "rb") as f, warnings.catch_warnings():
        warnings.simplefilter("error")
        got = pa.table(ff.scan_ipfix(f, columns=["sourceTransportPort", "octetDeltaCount"]))
    t.join(timeout=30)
    assert got["octetDeltaCount"].to_pylist() == [None] * 24 + [123456789]


@pytest.mark.parametrize("n_rows", [1, 19, 20, 21, 999])
def test_n_rows_gives_the_same_rows_as_the_whole_read(n_rows: int) -> None:
    """Stopping the pre-scan early changes no row: the first n_rows rows of
    the whole read, in the columns the whole read has for them."""
    data = b"".join(_stream())
    whole = pa.table(ff.scan_ipfix(data))
    part = pa.table(ff.scan_ipfix(data, n_rows=n_rows))
    assert part.num_rows == n_rows
    assert part.equals(whole.select(part.column_names).slice(0, n_rows))
