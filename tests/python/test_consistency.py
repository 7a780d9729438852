"""What a user trips over between the API's parts (issue 16): a closed
reader's iterators, and a DataFrame's round trip through write_ipfix."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import ferrofix as ff

DATA = Path(__file__).resolve().parents[1] / "data" / "ipfix"
FLOWS = DATA / "ipfixcol2__example_flows.ipfix"


@pytest.mark.parametrize("policy", ["error", "warn"])
@pytest.mark.parametrize("meta", [False, True])
def test_close_stops_iterators_already_made(policy: str, meta: bool) -> None:
    """As a closed file's iterator: ValueError, not the rest of the stream."""
    r = ff.Reader(str(FLOWS), on_bad_records=policy)  # type: ignore[arg-type]
    it = r.records(meta=meta)
    assert next(it) is not None
    r.close()
    with pytest.raises(ValueError, match="closed"):
        for _ in it:
            pass
    r.close()  # closing again does nothing


def test_a_closed_reader_keeps_what_it_learned() -> None:
    with ff.Reader(str(FLOWS)) as r:
        n = sum(1 for _ in r.records())
        templates = r.templates
    # ipfixDump reads 3979 data records and 8 templates in this file.
    assert n == 3979 and len(templates) == 8
    assert r.health.data_records == n


def test_a_frame_reads_back_with_its_columns_in_order() -> None:
    """Rows with nulls go under templates lacking those columns; the
    template of every column comes first, so the reader's columns (the
    templates' IEs in order of first appearance) are the frame's."""
    df = ff.read_ipfix(str(FLOWS))
    assert df["sourceIPv6Address"].isna().any() and df["sourceIPv4Address"].isna().any()
    buf = io.BytesIO()
    ff.write_ipfix(df, buf)
    back = ff.read_ipfix(buf.getvalue())
    assert list(back.columns) == list(df.columns)
    assert len(back) == len(df)
    # And a frame in another column order keeps that order.
    shuffled = df[list(reversed(df.columns))]
    buf = io.BytesIO()
    ff.write_ipfix(shuffled, buf)
    assert list(ff.read_ipfix(buf.getvalue()).columns) == list(shuffled.columns)


def test_no_sources_give_the_typed_empty_table() -> None:
    """An empty list of sources reads as an empty stream: the columns asked
    for, typed as a read of a real file types them."""
    cols = ["octetDeltaCount", "sourceIPv4Address", "flowStartMilliseconds"]
    empty = ff.read_ipfix([], columns=cols)
    real = ff.read_ipfix(str(FLOWS), columns=cols)
    assert len(empty) == 0 and len(real) > 0
    assert list(empty.columns) == cols
    assert empty.dtypes.astype(str).tolist() == real.dtypes.astype(str).tolist()
