"""Bad input: exceptions name what and where; skip/warn keep what decoded; nothing
hangs, crashes or grows with a lie in a length field."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrofix as ff
from ipfixmsg import VARLEN, field, message, set_, template_record, template_set, uint, varlen

DATA = Path(__file__).resolve().parents[1] / "data" / "ipfix"

# (file, exception under "error", records kept under "skip") — the counts of
# records before the fault come from the MANIFEST of ../shared/data.
MALFORMED = [
    ("ipfixcol__bad-length-in-set.ipfix", ff.DecodeError, 0),
    ("ipfixcol__bad-template-field-count.ipfix", ff.DecodeError, 0),
    ("ipfixcol__header-and-zeros.ipfix", ff.DecodeError, 0),
    ("ipfixcol__only-data-no-templates.ipfix", ff.MissingTemplateError, 0),
    ("ipfixcol__missing-template-258.ipfix", ff.MissingTemplateError, 4),
]


@pytest.mark.parametrize(("name", "exc", "kept"), MALFORMED)
def test_malformed_files(name: str, exc: type[Exception], kept: int) -> None:
    path = DATA / name
    with pytest.raises(exc) as ei:
        list(ff.iter_records(path))
    assert isinstance(ei.value, ValueError)
    assert ei.value.offset is not None and ei.value.message_index is not None  # type: ignore[attr-defined]
    assert f"byte offset {ei.value.offset}" in str(ei.value)  # type: ignore[attr-defined]
    r = ff.Reader(path, on_bad_records="skip")
    assert len(list(r)) == kept
    assert r.health.problems_skipped >= 1
    with pytest.warns(ff.FerrofixWarning):
        assert len(list(ff.iter_records(path, on_bad_records="warn"))) == kept


def test_withdrawal_only_file_is_fine() -> None:
    r = ff.Reader(DATA / "ipfixcol__withdrawal-message-256.ipfix")
    assert list(r) == []
    assert r.health.withdrawals_unknown == 1


def test_records_before_an_error_are_yielded_first() -> None:
    t = template_set(template_record(256, [field(1, 8)]))
    good = message([t, set_(256, uint(1, 8) + uint(2, 8))])
    bad = message([set_(256, uint(3, 8)), struct.pack("!HH", 256, 2)], seq=2)
    got = []
    with pytest.raises(ff.DecodeError, match="shorter than its header"):
        for rec in ff.iter_records(good + bad):
            got.append(rec["octetDeltaCount"])
    assert got == [1, 2, 3]


def test_zero_length_set_does_not_loop() -> None:
    msg = message([struct.pack("!HH", 256, 0) + b"\x00" * 8])
    with pytest.raises(ff.DecodeError, match="length 0"):
        list(ff.iter_records(msg))
    assert list(ff.iter_records(msg, on_bad_records="skip")) == []


def test_lying_lengths() -> None:
    # field count 65535 in a tiny set; a varlen prefix past the set; a message
    # header claiming 65535 bytes in a 20-byte input
    lie = message([set_(2, struct.pack("!HH", 256, 65535) + field(1, 8))])
    with pytest.raises(ff.DecodeError, match="declares 65535 fields"):
        list(ff.iter_records(lie))
    t = template_set(template_record(256, [field(82, VARLEN)]))
    over = message([t, set_(256, b"\xff\xff\xf0abc")])
    with pytest.raises(ff.DecodeError, match="overruns"):
        list(ff.iter_records(over))
    with pytest.raises(ff.DecodeError, match="65535 bytes needed"):
        list(ff.iter_records(struct.pack("!HHIII", 10, 65535, 0, 0, 0) + b"1234"))


def test_not_ipfix() -> None:
    # NetFlow v7 is none of the versions read (IPFIX, v9, v5).
    with pytest.raises(ff.DecodeError, match="version 7 is not IPFIX") as e:
        list(ff.iter_records(struct.pack("!HH", 7, 20) + b"\x00" * 16))
    assert e.value.offset == 0


def _real_stream() -> bytes:
    names = [
        "logstash-codec-netflow__ipfix_test_yaf_tpl45841.dat",
        "logstash-codec-netflow__ipfix_test_yaf_tpls_option_tpl.dat",
        "logstash-codec-netflow__ipfix_test_yaf_data45873.dat",
    ]
    return (
        b"".join((DATA / n).read_bytes() for n in names)
        + (DATA / "ipfixcol__02-odid4.ipfix").read_bytes()[:3000]
    )


def _message_spans(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each message of a stream, by the length field of
    each 16-octet header (RFC 7011 §3.1), the last one possibly cut short."""
    spans = []
    at = 0
    while at + 4 <= len(data):
        version, length = struct.unpack_from("!HH", data, at)
        assert version == 10 and length >= 16
        spans.append((at, length))
        at += length
    return spans


def test_truncated_at_every_byte() -> None:
    """Every prefix of a real stream (whose last message is itself cut
    short). Cut at a message boundary: the records of the whole messages
    before it, and no error. Cut inside a message: those records, then a
    DecodeError at that message's header (its offset and index), saying
    how many bytes the message needs (its version's 2, its header's 16,
    then its length) and how many the cut left. Under skip: the
    same records and one problem counted, never an error."""
    full = _real_stream()
    spans = _message_spans(full)
    assert len(spans) == 15 and spans[-1][0] + spans[-1][1] > len(full)
    ref = list(ff.Reader(full, on_bad_records="skip").records(meta=True, as_="fields"))
    assert len(ref) > 5
    raised = 0
    for cut in range(len(full)):
        src = full[:cut]
        index = max((i for i, (at, _n) in enumerate(spans) if at <= cut), default=0)
        at, length = spans[index]
        inside = cut > at
        want = [fields for meta, fields in ref if meta.message_index < index]
        got: list[object] = []
        error = None
        try:
            for rec in ff.iter_records(src, as_="fields"):
                got.append(rec)
        except ff.DecodeError as e:
            error = e
        assert got == want, f"cut at {cut}: {len(got)} records, want {len(want)}"
        if not inside:
            assert error is None, f"cut at {cut}, a message boundary: {error}"
        else:
            assert error is not None, f"cut at {cut}, inside message {index}: no error"
            raised += 1
            # The framer reads the version (2 octets: IPFIX, NetFlow v9 or
            # v5), then the 16-octet header, then the message's length.
            needed = 2 if cut - at < 2 else 16 if cut - at < 16 else length
            assert (error.offset, error.message_index) == (at, index), (cut, str(error))
            assert f"{needed} bytes needed, {cut - at} available" in str(error), (cut, str(error))
        r = ff.Reader(src, on_bad_records="skip")
        assert list(r.records(as_="fields")) == want
        assert r.health.problems_skipped == int(inside), (cut, r.health.problems)
    assert raised == len(full) - len(spans)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=2000))
def test_garbage_and_bit_flips_never_crash(noise: bytes, pos: int) -> None:
    base = bytearray(_real_stream()[:1500])
    base[pos % len(base) : pos % len(base) + len(noise)] = noise
    for policy in ("error", "skip"):
        try:
            for _ in ff.iter_records(bytes(base), on_bad_records=policy, as_="fields"):
                pass
        except ff.FerrofixError:
            assert policy == "error"


def test_varlen_record_overrun_keeps_earlier_records() -> None:
    t = template_set(template_record(256, [field(82, VARLEN)]))
    data = varlen(b"ok") + b"\x09abc"
    r = ff.Reader(message([t, set_(256, data)]), on_bad_records="skip")
    assert list(r) == [{"interfaceName": "ok"}]
    assert "overruns" in r.health.problems[0]


# The malformed NetFlow files are read and refused in test_netflow.py.


PCAPS = Path(__file__).resolve().parents[1] / "data" / "pcap"


def _captures() -> bytes:
    """A small real capture of NetFlow v9 export (nDPI's, 14 KB)."""
    return (PCAPS / "nDPI__netflowv9.pcap").read_bytes()


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["ipfix", "pcap"]),
    st.binary(min_size=1, max_size=64),
    st.integers(min_value=0, max_value=14_000),
)
def test_noise_never_crashes_any_path(kind: str, noise: bytes, pos: int) -> None:
    """Noise written into a real IPFIX stream or capture: the record path,
    the Arrow path and pandas raise only ferrofix's errors under "error"
    and nothing under "skip"."""
    base = bytearray(_real_stream() if kind == "ipfix" else _captures())
    at = pos % len(base)
    base[at : at + len(noise)] = noise
    data = bytes(base)
    readers = (
        lambda p: sum(1 for _ in ff.iter_records(data, on_bad_records=p)),
        lambda p: ff.scan_ipfix(data, on_bad_records=p).to_arrow().num_rows,
        lambda p: len(ff.read_ipfix(data, on_bad_records=p)),
    )
    for policy in ("error", "skip"):
        for read in readers:
            try:
                read(policy)
            except ff.FerrofixError:
                assert policy == "error"


@pytest.mark.parametrize("magic", [b"(\xb5/\xfd", b"\x1f\x8b\x08\x00"])
def test_corrupt_compressed_input_is_a_decode_error(magic: bytes) -> None:
    """zstd or gzip magic followed by bytes that do not decode: a
    DecodeError of the input (not an OSError), skipped like other bad
    framing under on_bad_records="skip"."""
    data = magic + _real_stream()[4:1500]
    with pytest.raises(ff.DecodeError, match="bad compressed data"):
        list(ff.iter_records(data))
    assert list(ff.iter_records(data, on_bad_records="skip")) == []
