"""The Arrow path against the independent oracle directly: every real IPFIX
fixture read with ``scan_ipfix`` (all records, wire order) is compared row by
row and value by value with tshark's committed decode (tests/data/oracle/),
with the same comparators and the same tally (mismatches, minimum share
compared) as the record path's oracle test. Occurrence k (k >= 1) of an IE repeated in a
template is compared with column ``name.k``."""

from __future__ import annotations

import ipaddress
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from test_oracle import Tally

import ferrofix as ff
import oracle as oc

pa = pytest.importorskip("pyarrow")

CASES = [c for c in oc.load_cases() if oc.load_tshark(c.name)["records"]]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _columns(table: Any) -> dict[tuple[int, int, int], tuple[str, Any]]:
    """Columns by (pen, id, occurrence), the occurrence counted among the
    IE's columns in schema order (``name``, ``name.1``, ...)."""
    out: dict[tuple[int, int, int], tuple[str, Any]] = {}
    for f in table.schema:
        pen, fid = int(f.metadata[b"ipfix.pen"]), int(f.metadata[b"ipfix.id"])
        k = int(f.name.rsplit(".", 1)[1]) if "." in f.name else 0
        out[(pen, fid, k)] = (f.name, f.type)
    return out


def _record_form(value: Any, arrow_type: Any) -> Any:
    """An Arrow value in the form the record path gives (what the
    comparators read): addresses as ``ipaddress`` objects (timestamps are
    turned into datetimes by ``_rows``)."""
    if value is None:
        return None
    if pa.types.is_dictionary(arrow_type):
        return ipaddress.ip_address(value)
    return value


def _rows(table: Any) -> list[dict[str, Any]]:
    # Timestamps as integers of their unit, turned into datetimes here:
    # as_py() of a nanosecond timestamp cannot keep its nanoseconds.
    cols = {}
    for f, col in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(f.type):
            per_us = {"s": 10**-6, "ms": 10**-3, "us": 1, "ns": 1000}[f.type.unit]
            cols[f.name] = [
                None if v is None else EPOCH + timedelta(microseconds=int(v // per_us))
                for v in col.cast(pa.int64()).to_pylist()
            ]
        else:
            cols[f.name] = col.to_pylist()
    return [dict(zip(cols, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_arrow_against_tshark(case: oc.Case) -> None:
    theirs = oc.load_tshark(case.name)["records"]
    table = ff.scan_ipfix(case.data(), records="all", on_bad_records="skip").to_arrow()
    assert table.num_rows == len(theirs), f"{table.num_rows} rows, tshark decoded {len(theirs)}"
    columns = _columns(table)
    tally = Tally("tshark", case)
    for n, (row, rec) in enumerate(zip(_rows(table), theirs, strict=True)):
        seen: Counter[tuple[int, int]] = Counter()
        for f in rec["fields"]:
            pen, fid = f[0], f[1]
            name, arrow_type = columns[(pen, fid, seen[(pen, fid)])]
            seen[(pen, fid)] += 1
            value = row[name]
            where = f"row {n} {name}"
            if pa.types.is_list(arrow_type):
                tally.add(where, oc.SKIP_LIST, value, f[2])
                continue
            extra = f[5] if len(f) > 5 else None
            verdict = oc.compare_tshark(
                _record_form(value, arrow_type), f[2], f[3], f[4], pen, fid, extra
            )
            tally.add(where, verdict, value, f[2])
    tally.check()
