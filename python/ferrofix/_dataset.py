"""Parquet datasets: flow records in a Hive-partitioned folder
(``root/date=2026-12-04/hour=17/exporter=192.0.2.1/part-....parquet``)
that pandas, polars, DuckDB, Dask and Spark read without ferrofix.

The files keep every column's IE in the Arrow field metadata Parquet stores
(``ipfix.pen``, ``ipfix.id``, ``ipfix.type``, ``ipfix.semantics``,
``ipfix.units``). Writing into an existing dataset adds files beside the
ones there (each write names its files with a fresh identifier), so a
collector or a daily job appends; nothing is overwritten.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ._arrow import _sources, scan_ipfix
from ._stream import _need

#: The partition keys derived from the records: the UTC date and hour of
#: the flow's start, and the exporter's address.
DERIVED = ("date", "hour", "exporter")
DEFAULT_PARTITIONS = ("date", "hour", "exporter")
_STARTS = (
    "flowStartMilliseconds",
    "flowStartSeconds",
    "flowStartMicroseconds",
    "flowStartNanoseconds",
)
_EXPORTERS = ("exporterIPv4Address", "exporterIPv6Address")


def _with_keys(batch: Any, partition_by: Sequence[str]) -> Any:
    """The batch (a pyarrow RecordBatch or Table) with the derived
    partition columns added."""
    pa = _need("pyarrow", "write_dataset")
    import pyarrow.compute as pc

    names = batch.schema.names
    for key in partition_by:
        if key in names and key not in DERIVED:
            continue
        if key in ("date", "hour"):
            start = next((c for c in _STARTS if c in names), None)
            if start is None:
                raise ValueError(
                    f"partition {key!r} needs a flowStart column ({', '.join(_STARTS)})"
                )
            t = batch.column(start)
            col = pc.strftime(t, format="%Y-%m-%d") if key == "date" else pc.hour(t)
        elif key == "exporter":
            col = None
            for name in _EXPORTERS:
                if name in names:
                    text = batch.column(name).cast(pa.string())
                    col = text if col is None else pc.coalesce(col, text)
            none = pa.scalar("none", pa.string())
            col = pa.repeat(none, batch.num_rows) if col is None else pc.fill_null(col, none)
        else:
            raise ValueError(f"no column {key!r} to partition by (and it is not one of {DERIVED})")
        batch = batch.append_column(key, col)
    return batch


def _batches(data: Any, options: dict[str, Any]) -> Iterator[Any]:
    pa = _need("pyarrow", "write_dataset")
    many = _sources(data) if isinstance(data, str | os.PathLike | list | tuple) else None
    if many is not None or isinstance(data, str | os.PathLike):
        sources = many if many is not None else [data]
        if len(sources) > 1 and options.get("columns") is None:
            # One schema for every file: the union of their templates' IEs.
            names: list[str] = []
            for src in sources:
                names += [c for c in scan_ipfix(src, **options).schema.names if c not in names]
            options = {**options, "columns": names}
        for src in sources:
            yield from scan_ipfix(src, **options)
        return
    if options:
        raise TypeError(f"{', '.join(options)}: options for reading IPFIX, not for a table")
    yield from pa.table(data).to_batches()


def write_dataset(
    data: Any,
    root: str | os.PathLike[str],
    *,
    partition_by: Sequence[str] = DEFAULT_PARTITIONS,
    **options: Any,
) -> list[str]:
    """Write flow records into a Hive-partitioned Parquet dataset at
    ``root``, adding to what is there; returns the files written.

    ``data``: IPFIX sources (a path, a list of paths, a glob: read with
    :func:`scan_ipfix` and ``options``, a batch at a time), or a table (a
    pandas or polars DataFrame, a pyarrow Table, anything with
    ``__arrow_c_stream__``). ``partition_by``: column names, or the derived
    keys ``date`` (UTC date of the flow's start, ``YYYY-MM-DD``), ``hour``
    (its hour, 0-23) and ``exporter`` (``exporterIPv4Address`` or
    ``exporterIPv6Address`` as text: a capture's or a collector's records;
    a record without one, read from a file, goes under ``exporter=none``)."""
    return _write(_batches(data, options), Path(root), tuple(partition_by))


def _write(batches: Iterable[Any], root: Path, partition_by: tuple[str, ...]) -> list[str]:
    pa = _need("pyarrow", "write_dataset")
    import pyarrow.dataset as ds

    keyed = (_with_keys(b, partition_by) for b in batches)
    first = next(keyed, None)
    if first is None:
        return []
    schema = first.schema

    def all_batches() -> Iterator[Any]:
        yield first
        for b in keyed:
            yield b.cast(schema) if b.schema != schema else b

    part_schema = pa.schema([schema.field(k) for k in partition_by])
    tag = uuid.uuid4().hex
    ds.write_dataset(
        pa.RecordBatchReader.from_batches(schema, all_batches()),
        root,
        format="parquet",
        partitioning=ds.partitioning(part_schema, flavor="hive"),
        existing_data_behavior="overwrite_or_ignore",
        basename_template=f"part-{tag}-{{i}}.parquet",
    )
    # The files of this write, by the name it gave them (pyarrow's
    # file_visitor, a Python callback on Arrow's threads, could abort the
    # interpreter at exit: about one run in ten here).
    return sorted(str(p) for p in root.rglob(f"part-{tag}-*.parquet"))
