"""ferrofix on Dask: many IPFIX files or captures as one Dask DataFrame
(``pip install 'ferrofix[dask]'``).

>>> import ferrofix.dask as ffd
>>> df = ffd.read_ipfix("collector/2026-12-*.ipfix")         # doctest: +SKIP
>>> df.groupby("destinationTransportPort").octetDeltaCount.sum().compute()  # doctest: +SKIP
>>> flows = ffd.meter(["mon1.pcap", "mon2.pcap"])             # doctest: +SKIP

One partition per file, built with Dask's own ``from_map``; the same
keyword options as :func:`ferrofix.read_ipfix` and :func:`ferrofix.meter`.
The schema is known before any partition is computed: from ``columns=``,
or from a pre-scan of every file's templates (run as Dask tasks on the
workers, each returning only its column names), whose union is then every
partition's columns (a file whose templates lack one has nulls there).
Column projection (``df[["a", "b"]]``) is pushed down into ferrofix's
decoder: the files are decoded for those columns only.

Paths are read by the workers themselves, so on a ``distributed`` cluster
the workers must see the same paths (a shared file system); nothing but
paths, options, and the partitions' results travels over the network.
Address columns are ``string[pyarrow]`` (a categorical's categories would
differ between partitions).

Health and meter statistics: :func:`read_ipfix_health` and
:func:`meter_stats` give a small pandas DataFrame per file, computed on the
workers and concatenated.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import dask
import dask.dataframe as dd
import pandas as pd

from ._arrow import _sources
from ._arrow import read_ipfix as _read_ipfix
from ._arrow import scan_ipfix as _scan_ipfix
from ._meter import Meter as _Meter

__all__ = ["meter", "meter_stats", "read_ipfix", "read_ipfix_health"]

# The classic pcap header alone (microseconds, Ethernet): an empty capture,
# metered for the schema of the meter's frames.
_EMPTY_PCAP = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")


def _paths(source: Any, storage: dict[str, Any] | None = None) -> list[Any]:
    if _is_url(source):
        import fsspec

        # A URL, maybe a glob: expanded by its file system, as URLs.
        fs, _, found = fsspec.get_fs_token_paths(source, storage_options=storage or {})
        if not found:
            raise FileNotFoundError(f"no file matches {source!r}")
        return [fs.unstrip_protocol(p) for p in found]
    many = _sources(source)
    paths = many if many is not None else [source]
    if not paths:
        raise ValueError("no input: an empty list")
    return [os.fspath(p) if isinstance(p, os.PathLike) else p for p in paths]


def _dask_types(df: pd.DataFrame) -> pd.DataFrame:
    """Address categoricals as Arrow strings, the same in every partition."""
    for name, dtype in df.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            df[name] = df[name].astype("string[pyarrow]")
    return df


def _is_url(path: Any) -> bool:
    return isinstance(path, str) and "://" in path


def _open(path: Any, storage: dict[str, Any] | None) -> Any:
    """A URL (``s3://``, ``gs://``, ``file://``, ...) opened through fsspec
    on the worker (a seekable binary file object, which ferrofix reads
    without copying it whole); a local path as it is."""
    if not _is_url(path):
        return contextlib.nullcontext(path)
    import fsspec

    return fsspec.open(path, "rb", **(storage or {}))


def _read_file(
    path: Any, names: list[str], options: dict[str, Any], storage: Any, columns: Any = None
) -> Any:
    """One file as a partition: the columns Dask asks for (``columns``,
    when it projects), else every column of the schema (``names``). A
    module-level function, so that it pickles to the workers."""
    want = names if columns is None else [columns] if isinstance(columns, str) else list(columns)
    with _open(path, storage) as f:
        return _dask_types(_read_ipfix(f, columns=want, **options))


def _file_columns(path: Any, options: dict[str, Any], storage: Any) -> list[str]:
    """A file's columns, from its templates (no record decoded)."""
    with _open(path, storage) as f:
        return list(_scan_ipfix(f, **{**options, "where": None}).schema.names)


def read_ipfix(
    source: Any,
    *,
    columns: Sequence[str] | None = None,
    records: str = "data",
    addresses: str = "string",
    on_bad_records: str = "error",
    specs: Sequence[str] | None = None,
    spec_files: Sequence[str | os.PathLike[str]] | None = None,
    template_lifetime: int | None = 1800,
    export_ports: Sequence[int] | None = None,
    where: dict[str, Any] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> dd.DataFrame:
    """IPFIX files (a list of paths or a glob; NetFlow v9/v5 files and
    captures of export traffic too) as a Dask DataFrame, one partition per
    file, in input order. Options as :func:`ferrofix.read_ipfix`; ``where``
    filters on flow keys inside each worker's decoder. Paths may
    be URLs of any fsspec file system (``s3://bucket/2026/12/*.ipfix``;
    ``storage_options`` for its credentials), opened by the workers."""
    paths = _paths(source, storage_options)
    options: dict[str, Any] = {
        "records": records,
        "addresses": addresses,
        "on_bad_records": on_bad_records,
        "specs": list(specs) if specs else None,
        "spec_files": list(spec_files) if spec_files is not None else None,
        "template_lifetime": template_lifetime,
        "export_ports": list(export_ports) if export_ports is not None else None,
        "where": where,
    }
    if columns is None:
        found = dask.compute(
            *[dask.delayed(_file_columns)(p, options, storage_options) for p in paths]
        )
        names: list[str] = []
        for cols in found:
            names += [c for c in cols if c not in names]
    else:
        names = list(columns)
    meta = _dask_types(_read_ipfix([], columns=names, **options))
    return dd.from_map(
        _read_file,
        paths,
        args=[names, options, storage_options],
        meta=meta,
        label="ferrofix-read-ipfix",
    )


def _health(path: Any, options: dict[str, Any]) -> pd.DataFrame:
    scan = _scan_ipfix(path, columns=[], **options)
    for _ in scan.batches():
        pass
    h = scan.health.to_pandas()
    h.insert(0, "source", str(path))
    return h


def read_ipfix_health(source: Any, **options: Any) -> pd.DataFrame:
    """The transport-health table of each file (``scan.health.to_pandas()``
    with a ``source`` column first), computed on the workers."""
    frames = dask.compute(*[dask.delayed(_health)(p, options) for p in _paths(source)])
    return pd.concat(frames, ignore_index=True)


def _meter_file(path: Any, names: list[str], options: dict[str, Any], columns: Any = None) -> Any:
    """One capture metered as a partition (the columns asked for)."""
    want = names if columns is None else [columns] if isinstance(columns, str) else list(columns)
    return _dask_types(_Meter(path, columns=want, **options).to_pandas())


def _meter_options(kw: dict[str, Any]) -> dict[str, Any]:
    allowed = {
        "idle_timeout", "active_timeout", "biflow", "max_flows", "decapsulate",
        "tcp_metrics", "addresses", "on_bad_records", "specs", "spec_files", "enterprise", "where",
    }  # fmt: skip
    unknown = set(kw) - allowed
    if unknown:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")
    return kw


def meter(captures: Any, *, columns: Sequence[str] | None = None, **options: Any) -> dd.DataFrame:
    """Captures (a list of paths or a glob) metered as a Dask DataFrame, one
    partition per capture: each capture is its own meter (flows do not
    span files; use one capture per observation point and period).
    Options as :func:`ferrofix.meter` (``idle_timeout``, ``active_timeout``,
    ``biflow``, ``max_flows``, ``decapsulate``, ``tcp_metrics``,
    ``addresses``, ``on_bad_records``, ``specs``, ``spec_files``,
    ``enterprise``, ``where``)."""
    opts = _meter_options(options)
    paths = _paths(captures)
    empty = _Meter(_EMPTY_PCAP, columns=list(columns) if columns else None, **opts).to_pandas()
    meta = _dask_types(empty)
    names = list(meta.columns)
    return dd.from_map(_meter_file, paths, args=[names, opts], meta=meta, label="ferrofix-meter")


def _stats(path: Any, options: dict[str, Any]) -> dict[str, Any]:
    m = _Meter(path, columns=["flowId"], **options)
    for _ in m.batches():
        pass
    return m.stats


def meter_stats(captures: Any, **options: Any) -> pd.DataFrame:
    """The meter's counters per capture (one row each, the scalar counters
    of :attr:`ferrofix.Meter.stats`, with a ``source`` column), metered on
    the workers; ``.sum(numeric_only=True)`` gives the totals."""
    opts = _meter_options(options)
    paths = _paths(captures)
    found = dask.compute(*[dask.delayed(_stats)(p, opts) for p in paths])
    rows = [
        {"source": str(p), **{k: v for k, v in s.items() if isinstance(v, int | float)}}
        for p, s in zip(paths, found, strict=True)
    ]
    return pd.DataFrame(rows)
