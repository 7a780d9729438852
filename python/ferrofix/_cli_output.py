"""Arrow batches to the command line's file formats: Parquet, CSV and JSON
lines (``ferrofix convert`` and ``ferrofix meter`` write through here).

CSV holds text only: addresses (dictionary columns) as their text, lists
of numbers (basicLists, the meter's RTT histograms) as their items joined
by ``;``, octet arrays as hex, structured values (RFC 6313
subTemplateLists) as JSON text. JSON lines hold one object per record with
the fields the record has (a column its template lacks is left out), times
in ISO 8601 (UTC), octet arrays as hex."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from ._cli import FORMATS
from ._stream import _need


def _json_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, timedelta):
        return v.total_seconds()
    if isinstance(v, bytes | bytearray):
        return bytes(v).hex()
    # Decimal and anything else: its text.
    return str(v)


def _json_text(v: Any) -> str | None:
    if v is None:
        return None
    import json

    return json.dumps(_drop_nulls(v), default=_json_value, separators=(",", ":"))


def _drop_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _drop_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_drop_nulls(x) for x in v]
    return v


def _flat(pa: Any, t: Any) -> bool:
    """Whether a type is one value CSV can hold as it is."""
    return not (
        pa.types.is_nested(t)
        or pa.types.is_dictionary(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
    )


def plain_schema(pa: Any, schema: Any) -> Any:
    """The schema CSV can hold: every column CSV cannot hold as text."""

    def plain(f: Any) -> Any:
        if pa.types.is_dictionary(f.type):
            return f.with_type(f.type.value_type)
        return f if _flat(pa, f.type) else f.with_type(pa.string())

    return pa.schema([plain(f) for f in schema])


def plain_batch(pa: Any, batch: Any) -> Any:
    """``batch`` in :func:`plain_schema`'s schema."""
    pc = __import__("pyarrow.compute").compute
    columns = []
    for f, col in zip(batch.schema, batch.columns, strict=True):
        t = f.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
        elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and _flat(pa, t.value_type):
            col = pc.binary_join(col.cast(pa.list_(pa.string())), ";")
        elif pa.types.is_binary(t) or pa.types.is_fixed_size_binary(t):
            col = pa.array([None if v is None else v.hex() for v in col.to_pylist()], pa.string())
        elif not _flat(pa, t):
            col = pa.array([_json_text(v) for v in col.to_pylist()], pa.string())
        columns.append(col)
    return pa.RecordBatch.from_arrays(columns, schema=plain_schema(pa, batch.schema))


def write_file(
    fmt: str,
    path: str,
    compression: str | None,
    schema: Any,
    batches: Iterable[Any],
    after_batch: Callable[[], object] = lambda: None,
) -> int:
    """:func:`write` to the file ``path`` (opened here, so that a failure
    names it), CSV and JSON lines compressed as ``compression`` says
    (``"gzip"``, ``"zstd"``: pyarrow's streams) when it is given."""
    with open(path, "wb") as f:
        if compression is None:
            return write(fmt, f, schema, batches, after_batch)
        pa = _need("pyarrow", f"{compression} output")
        with pa.CompressedOutputStream(f, compression) as z:
            return write(fmt, z, schema, batches, after_batch)


def write(
    fmt: str,
    out: Any,
    schema: Any,
    batches: Iterable[Any],
    after_batch: Callable[[], object] = lambda: None,
) -> int:
    """Write ``batches`` (pyarrow RecordBatches of ``schema``) to ``out``
    (a path or a binary file object) as ``fmt``; returns the rows written.
    ``after_batch`` is called after each batch (progress)."""
    pa = _need("pyarrow", f"{fmt} output")
    rows = 0
    if fmt == "parquet":
        pq = __import__("pyarrow.parquet").parquet
        with pq.ParquetWriter(out, schema) as w:
            for b in batches:
                w.write_batch(b)
                rows += b.num_rows
                after_batch()
        return rows
    if fmt == "csv":
        pcsv = __import__("pyarrow.csv").csv
        with pcsv.CSVWriter(out, plain_schema(pa, schema)) as w:
            for b in batches:
                w.write_batch(plain_batch(pa, b))
                rows += b.num_rows
                after_batch()
        return rows
    if fmt == "jsonl":
        import json

        for b in batches:
            # Dictionary columns as their text: to_pylist gives values anyway.
            lines = [
                json.dumps(_drop_nulls(r), default=_json_value, separators=(",", ":")) + "\n"
                for r in b.to_pylist()
            ]
            out.write("".join(lines).encode())
            rows += b.num_rows
            after_batch()
        return rows
    raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
