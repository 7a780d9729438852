"""ferrofix on Dask: many IPFIX files or captures as one Dask DataFrame
(``pip install 'ferrofix[dask]'``).

>>> import ferrofix.dask as ffd
>>> df = ffd.read_ipfix("collector/2026-12-*.ipfix")         # doctest: +SKIP
>>> df.groupby("destinationTransportPort").octetDeltaCount.sum().compute()  # doctest: +SKIP
>>> flows = ffd.meter(["mon1.pcap", "mon2.pcap"])             # doctest: +SKIP

One partition per file, built with Dask's own ``from_map``; the keyword
options of :func:`ferrofix.read_ipfix` and :func:`ferrofix.meter` that
mean something per file, each applied to every file: all of them but
``read_ipfix``'s ``n_rows`` (it would count per file; use ``ddf.head(n)``),
``workers`` (Dask's workers are the parallelism: one task per file) and
``by_template``, and ``meter``'s ``workers`` (the same), each refused with
a ``TypeError`` that names it.
The schema is known before any partition is computed: from ``columns=``,
or from a pre-scan of every file's templates (run as Dask tasks on the
workers, each returning only its column names), whose union is then every
partition's columns (a file whose templates lack one has nulls there).
Column projection (``df[["a", "b"]]``) is pushed down into ferrofix's
decoder: the files are decoded for those columns only.

Paths are read by the workers themselves, so on a ``distributed`` cluster
the workers must see the same paths (a shared file system) or be URLs of
an fsspec file system (``s3://``, ``gs://``, ``file://``, ...; credentials
in ``storage_options``), which every function here opens on the workers
through fsspec; nothing but paths, options, and the partitions' results
travels over the network. Address columns are ``string[pyarrow]`` (a
categorical's categories would differ between partitions).

A Dask DataFrame has no ``flows`` accessor; its partitions are pandas
DataFrames that do: ``ddf.map_partitions(lambda p: p.flows.duration())``
for the row-wise helpers, or ``.compute()`` first.

Health and meter statistics: :func:`read_ipfix_health` and
:func:`meter_stats` give a small pandas DataFrame per file, computed on the
workers and concatenated.

:func:`meter` numbers flows (``flowId``) per capture, from 1 in each, so
its frame has a ``capture`` column (the capture's path or URL as given,
a categorical whose categories are every input, the same in every
partition): ``(capture, flowId)`` names a record's connection, e.g. for
:func:`ferrofix.tcp_series` of that capture.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any, Literal

import dask
import dask.dataframe as dd
import numpy as np
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


def _as_typed() -> Any:
    """The frames' dtypes as ferrofix gives them: Dask's default
    ``dataframe.convert-string`` would turn every object column into
    strings, lists too (``dtype_backend="numpy_nullable"``'s
    ``tcpRttHistogram`` arrays read back as their text)."""
    return dask.config.set({"dataframe.convert-string": False})


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


def _refuse(options: dict[str, Any], unsupported: dict[str, str]) -> None:
    """A TypeError naming each keyword not taken here (and why), or any
    other unexpected one, as Python names unexpected keywords."""
    for name, why in unsupported.items():
        if name in options:
            raise TypeError(f"ferrofix.dask does not take {name}=: {why}")
    if options:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(options))}")


_READ_UNSUPPORTED = {
    "n_rows": "it would apply to each file; take ddf.head(n) or ddf.partitions[:k]",
    "workers": "Dask's workers are the parallelism here, one task per file",
    "by_template": "a Dask DataFrame has one schema; read one file with ferrofix.read_ipfix",
}


def read_ipfix(
    source: Any,
    *,
    columns: Sequence[str] | None = None,
    require: Literal["all"] | None = None,
    records: str = "data",
    batch_size: int = 65536,
    addresses: str = "string",
    on_bad_records: str = "error",
    dtype_backend: str = "pyarrow",
    specs: Sequence[str] | None = None,
    spec_files: Sequence[str | os.PathLike[str]] | None = None,
    template_lifetime: int | None = 1800,
    export_ports: Sequence[int] | None = None,
    where: dict[str, Any] | None = None,
    storage_options: dict[str, Any] | None = None,
    **unsupported: Any,
) -> dd.DataFrame:
    """IPFIX files (a list of paths or a glob; NetFlow v9/v5 files and
    captures of export traffic too) as a Dask DataFrame, one partition per
    file, in input order. Options as :func:`ferrofix.read_ipfix`, applied
    to each file (``require="all"`` per file; ``where`` filters on flow
    keys inside each worker's decoder); ``n_rows``, ``workers`` and
    ``by_template`` raise ``TypeError``. Paths may be URLs of any fsspec
    file system (``s3://bucket/2026/12/*.ipfix``; ``storage_options`` for
    its credentials), opened by the workers."""
    _refuse(unsupported, _READ_UNSUPPORTED)
    paths = _paths(source, storage_options)
    options: dict[str, Any] = {
        "require": require,
        "records": records,
        "batch_size": batch_size,
        "addresses": addresses,
        "on_bad_records": on_bad_records,
        "dtype_backend": dtype_backend,
        "specs": list(specs) if specs else None,
        "spec_files": list(spec_files) if spec_files is not None else None,
        "template_lifetime": template_lifetime,
        "export_ports": list(export_ports) if export_ports is not None else None,
        "where": where,
    }
    if columns is None:
        scan_options = {k: v for k, v in options.items() if k not in ("require", "dtype_backend")}
        found = dask.compute(
            *[dask.delayed(_file_columns)(p, scan_options, storage_options) for p in paths]
        )
        names: list[str] = []
        for cols in found:
            names += [c for c in cols if c not in names]
    else:
        names = list(columns)
    meta = _dask_types(_read_ipfix([], columns=names, **options))
    with _as_typed():
        return dd.from_map(
            _read_file,
            paths,
            args=[names, options, storage_options],
            meta=meta,
            label="ferrofix-read-ipfix",
        )


def _health(path: Any, options: dict[str, Any], storage: Any) -> pd.DataFrame:
    with _open(path, storage) as f:
        scan = _scan_ipfix(f, columns=[], **options)
        for _ in scan.batches():
            pass
    h = scan.health.to_pandas()
    h.insert(0, "source", str(path))
    return h


def read_ipfix_health(
    source: Any, *, storage_options: dict[str, Any] | None = None, **options: Any
) -> pd.DataFrame:
    """The transport-health table of each file (``scan.health.to_pandas()``
    with a ``source`` column first: the path or URL), computed on the
    workers; ``options`` as :func:`ferrofix.scan_ipfix`'s, paths and URLs
    as :func:`read_ipfix`'s."""
    paths = _paths(source, storage_options)
    frames = dask.compute(*[dask.delayed(_health)(p, options, storage_options) for p in paths])
    return pd.concat(frames, ignore_index=True)


def _meter_file(
    path: Any,
    names: list[str],
    options: dict[str, Any],
    storage: Any,
    capture: tuple[str, list[str]] | None,
    columns: Any = None,
) -> Any:
    """One capture metered as a partition (the columns asked for), with
    its ``capture`` column when the frame has one."""
    want = names if columns is None else [columns] if isinstance(columns, str) else list(columns)
    name = capture[0] if capture is not None and capture[0] in want else None
    # the capture column alone: meter one cheap column, then select
    meter_columns = [c for c in want if c != name] or ["flowId"]
    backend = options.get("dtype_backend", "pyarrow")
    meter_options = {k: v for k, v in options.items() if k != "dtype_backend"}
    with _open(path, storage) as f:
        df = _Meter(f, columns=meter_columns, **meter_options).to_pandas(dtype_backend=backend)
    df = _dask_types(df)
    if name is not None and capture is not None:
        df[name] = _capture_column(capture[1].index(str(path)), len(df), capture[1])
        df = df[want]
    return df


def _capture_column(code: int, n: int, every: list[str]) -> pd.Categorical:
    """``n`` rows of capture ``every[code]``, categories ``every``."""
    codes = np.full(n, code, dtype=np.int32)
    return pd.Categorical.from_codes(codes, categories=pd.Index(every, dtype=object))


_METER_OPTIONS = {
    "idle_timeout", "active_timeout", "biflow", "max_flows", "decapsulate", "tcp_metrics",
    "batch_size", "addresses", "on_bad_records", "dtype_backend", "specs", "spec_files",
    "enterprise", "where",
}  # fmt: skip
_METER_UNSUPPORTED = {
    "workers": "Dask's workers are the parallelism here, one task per capture",
}


def _meter_options(kw: dict[str, Any]) -> dict[str, Any]:
    _refuse({k: v for k, v in kw.items() if k not in _METER_OPTIONS}, _METER_UNSUPPORTED)
    return kw


def meter(
    captures: Any,
    *,
    columns: Sequence[str] | None = None,
    capture_column: str | None = "capture",
    storage_options: dict[str, Any] | None = None,
    **options: Any,
) -> dd.DataFrame:
    """Captures (a list of paths or a glob, local or fsspec URLs opened by
    the workers, ``storage_options`` for their file system) metered as a
    Dask DataFrame, one partition per capture: each capture is its own
    meter (flows do not span files; use one capture per observation point
    and period). Options as :func:`ferrofix.meter` (``idle_timeout``,
    ``active_timeout``, ``biflow``, ``max_flows``, ``decapsulate``,
    ``tcp_metrics``, ``batch_size``, ``addresses``, ``on_bad_records``,
    ``dtype_backend``, ``specs``, ``spec_files``, ``enterprise``,
    ``where``); ``workers`` raises ``TypeError``.

    ``capture_column`` (default ``"capture"``; ``None`` for none): a last
    column naming each row's capture, its path or URL as given (expanded
    from a glob), as a categorical whose categories are every capture in
    input order, the same in every partition. flowIds restart from 1 in
    each capture, so ``(capture, flowId)`` is what names a connection
    (for a local capture, ``ferrofix.tcp_series(row.capture,
    [row.flowId])``). It is not an IPFIX element: drop it before writing
    the frame as IPFIX."""
    opts = _meter_options(options)
    paths = _paths(captures, storage_options)
    backend = opts.get("dtype_backend", "pyarrow")
    empty_opts = {k: v for k, v in opts.items() if k != "dtype_backend"}
    wanted = list(columns) if columns else None
    capture: tuple[str, list[str]] | None = None
    if capture_column is not None:
        if capture_column in (wanted or []):
            wanted = [c for c in wanted or [] if c != capture_column] or None
        every = list(dict.fromkeys(str(p) for p in paths))  # a capture named twice: once
        capture = (capture_column, every)
    empty = _Meter(_EMPTY_PCAP, columns=wanted, **empty_opts).to_pandas(dtype_backend=backend)
    meta = _dask_types(empty)
    if capture is not None:
        if capture[0] in meta.columns:
            raise ValueError(f"capture_column {capture[0]!r} is a column of the meter's frame")
        meta[capture[0]] = _capture_column(0, 0, capture[1])
        if columns and capture[0] in columns:
            meta = meta[list(columns)]
    names = list(meta.columns)
    with _as_typed():
        return dd.from_map(
            _meter_file,
            paths,
            args=[names, opts, storage_options, capture],
            meta=meta,
            label="ferrofix-meter",
        )


def _stats(path: Any, options: dict[str, Any], storage: Any) -> dict[str, Any]:
    with _open(path, storage) as f:
        m = _Meter(f, columns=["flowId"], **options)
        for _ in m.batches():
            pass
    return m.stats


def meter_stats(
    captures: Any, *, storage_options: dict[str, Any] | None = None, **options: Any
) -> pd.DataFrame:
    """The meter's counters per capture (one row each, the scalar counters
    of :attr:`ferrofix.Meter.stats`, with a ``source`` column: the path or
    URL), metered on the workers; ``.sum(numeric_only=True)`` gives the
    totals. Captures, ``storage_options`` and options as :func:`meter`'s."""
    opts = {k: v for k, v in _meter_options(options).items() if k != "dtype_backend"}
    paths = _paths(captures, storage_options)
    found = dask.compute(*[dask.delayed(_stats)(p, opts, storage_options) for p in paths])
    rows = [
        {"source": str(p), **{k: v for k, v in s.items() if isinstance(v, int | float)}}
        for p, s in zip(paths, found, strict=True)
    ]
    return pd.DataFrame(rows)
