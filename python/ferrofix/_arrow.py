"""IPFIX straight into Arrow batches and pandas DataFrames.

:func:`scan_ipfix` returns a lazy :class:`IpfixScan` that implements the Arrow
PyCapsule stream interface (``__arrow_c_stream__``): ``pyarrow.table(scan)``,
``polars.DataFrame(scan)`` and DuckDB read it without a copy; iterating it
yields ``pyarrow.RecordBatch`` objects. :func:`read_ipfix` returns a pandas
DataFrame. pandas and pyarrow are imported only when asked for.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

from . import _ferrofix, _filter
from ._stream import _BatchStream, _need, _pandas

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ._reader import Policy, Source, TransportHealth

Records = Literal["data", "options", "all"]
Addresses = Literal["string", "int"]
DtypeBackend = Literal["pyarrow", "numpy_nullable", "numpy"]


class TemplateKey(NamedTuple):
    """Which records a ``by_template`` batch or DataFrame holds: those of
    one template id in one observation domain (RFC 7011 §8)."""

    observation_domain_id: int
    template_id: int


class IpfixScan(_BatchStream):
    """A lazy stream of Arrow record batches decoded from one IPFIX stream.

    The columns are the IEs asked for (``columns=``, IE names or IESpecs, in
    that order) or, by default, every IE of the stream's templates in order of
    first appearance (an IE a template repeats: one column per occurrence,
    ``name``, ``name.1``, ...); a record whose template lacks a column has a
    null there. The stream can be consumed once: by iterating, or by handing it to
    an Arrow consumer through ``__arrow_c_stream__``.

    Without ``columns=``, the templates are read first (a pre-scan that skips
    data sets): to the end of the stream, or only as far as the ``n_rows``
    asked for. A seekable file object is read again from where it was; one
    that cannot seek (a pipe, a live exporter) is pre-scanned only as far as
    its first batch (what was read is kept for the decoding pass), so batches
    come while it is still being written. A template met after the pre-scan
    stopped with an IE that is no column: its records come without that
    value and a :class:`FerrofixWarning` names it (pass ``columns=``).
    """

    def __init__(
        self,
        source: Source,
        *,
        columns: Sequence[str] | None = None,
        require: Literal["all"] | None = None,
        records: Records = "data",
        batch_size: int = 65536,
        n_rows: int | None = None,
        addresses: Addresses = "string",
        on_bad_records: Policy = "error",
        specs: Sequence[str] | None = None,
        spec_files: Sequence[str | os.PathLike[str]] | None = None,
        max_templates: int = 65536,
        max_list_depth: int = 16,
        by_template: bool = False,
        template_lifetime: int | None = 1800,
        export_ports: Sequence[int] | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> None:
        if require not in (None, "all"):
            raise ValueError(f"require must be None or 'all', not {require!r}")
        from ._model import default_spec_files

        files = default_spec_files() if spec_files is None else [Path(p) for p in spec_files]
        self._policy = on_bad_records
        self._s = _ferrofix._Scanner(
            source,
            columns=None if columns is None else list(columns),
            require_all=require == "all",
            records=records,
            batch_size=batch_size,
            n_rows=n_rows,
            addresses=addresses,
            on_bad_records=on_bad_records,
            specs=list(specs or []),
            spec_files=files,
            max_templates=max_templates,
            max_list_depth=max_list_depth,
            by_template=by_template,
            template_lifetime=template_lifetime,
            export_ports=None if export_ports is None else list(export_ports),
            filter=_filter.spec(where),
        )
        self._by_template = by_template

    def tagged_batches(self) -> Iterator[tuple[TemplateKey, pa.RecordBatch]]:
        """With ``by_template=True``: each batch with the template its
        records come from, keeping only the columns that template carries
        (those of every version of it seen so far, if it was redefined)."""
        pa = _need("pyarrow", "IpfixScan.tagged_batches")
        if not self._by_template:
            raise ValueError("tagged_batches() needs scan_ipfix(..., by_template=True)")
        for b in self.batches():
            key = self._s.last_template()
            if key is None:
                continue
            columns = self._s.template_columns().get(key, [])
            yield TemplateKey(*key), pa.record_batch(b).select(columns)

    @property
    def health(self) -> TransportHealth:
        """Transport-health counters of what has been read so far."""
        from ._reader import TransportHealth

        return TransportHealth.from_raw(self._s.health())


def _to_pandas(table: pa.Table, dtype_backend: DtypeBackend) -> pd.DataFrame:
    pd = _pandas("a DataFrame")
    pa = _need("pyarrow", "a DataFrame")
    if dtype_backend == "pyarrow":
        return _arrow_frame(table.schema, [c.chunks for c in table.columns])
    table = _decode_costly_dictionaries(pa, table)
    if dtype_backend == "numpy":
        return table.to_pandas()
    if dtype_backend == "numpy_nullable":
        return table.to_pandas(
            types_mapper=lambda t: None if pa.types.is_dictionary(t) else _nullable(pd, pa, t)
        )
    raise ValueError(
        f"dtype_backend must be 'pyarrow', 'numpy_nullable' or 'numpy', not {dtype_backend!r}"
    )


def _arrow_frame(schema: pa.Schema, columns: list[list[Any]]) -> pd.DataFrame:
    """A DataFrame of Arrow-backed columns, built column by column so that
    no column is copied (pyarrow's own to_pandas with a types_mapper
    combines chunks); dictionary-encoded addresses become pandas
    categoricals. ``columns`` holds each column's chunks and is emptied on
    the way, so that a converted column's Arrow memory can be freed."""
    pd = _pandas("a DataFrame")
    pa = _need("pyarrow", "a DataFrame")
    cols = {}
    for i, f in enumerate(schema):
        col = pa.chunked_array(columns[i], type=f.type)
        columns[i] = []
        if pa.types.is_dictionary(f.type):
            cols[f.name] = _dictionary_series(pd, pa, col)
        else:
            cols[f.name] = pd.Series(pd.arrays.ArrowExtensionArray(col), copy=False)
        del col
    return pd.DataFrame(cols, columns=schema.names, copy=False)


def _carried(col: Any) -> bool:
    """Whether every chunk's dictionary is a prefix of the last one's (the
    reader carries an address dictionary from batch to batch)."""
    last = col.chunks[-1].dictionary
    for c in col.chunks[:-1]:
        d = c.dictionary
        if len(d) > len(last) or not d.equals(last.slice(0, len(d))):
            return False
    return True


def _decoded(pa: Any, col: Any) -> Any:
    """The values of a dictionary column as plain Arrow strings (one C++
    take per chunk; no Python object per value)."""
    return pa.chunked_array(
        [c.dictionary.take(c.indices) for c in col.chunks], type=col.type.value_type
    )


# A categorical of at most this many categories is kept whatever the rows.
SMALL_CATEGORIES = 1 << 16


def _categorical_pays(distinct: int, rows: int) -> bool:
    """A categorical holds a Python string per category and 1- to 4-byte
    codes; Arrow strings hold the text of every row (about 17 bytes for
    IPv4, 30 for IPv6). Past one category per 8 rows the categorical no
    longer saves memory, and building millions of categories costs seconds;
    up to 65,536 categories it costs little either way."""
    return distinct <= SMALL_CATEGORIES or distinct * 8 <= rows


def _distinct(pa: Any, col: Any) -> tuple[int, bool]:
    """The number of distinct values of a dictionary column, or a bound on
    it, and whether its dictionaries are carried. Exact when they are (the
    last one holds them all: the reader carries up to 65,536 addresses);
    else the sum of the chunks' dictionaries, an upper bound (counting
    exactly would hash every value again; taking strings when in doubt
    costs memory, never a cliff)."""
    if _carried(col):
        return len(col.chunks[-1].dictionary), True
    return sum(len(c.dictionary) for c in col.chunks), False


def _decode_costly_dictionaries(pa: Any, table: Any) -> Any:
    """The table with each dictionary column whose categorical would not
    pay replaced by its plain strings (for the NumPy backends, whose
    to_pandas would build a category per distinct value)."""
    for i, f in enumerate(table.schema):
        col = table.column(i)
        if pa.types.is_dictionary(f.type) and col.chunks:
            distinct, _ = _distinct(pa, col)
            if not _categorical_pays(distinct, len(col)):
                table = table.set_column(i, f.with_type(f.type.value_type), _decoded(pa, col))
    return table


def _dictionary_series(pd: Any, pa: Any, col: Any) -> Any:
    """A dictionary-encoded column (text addresses) as a pandas Series: a
    categorical while it pays (:func:`_categorical_pays`), else
    Arrow-backed strings (``string[pyarrow]``), so that the speed and
    memory of a read hold at any number of distinct values (issue 13)."""
    if not col.chunks:
        return col.to_pandas()
    distinct, carried = _distinct(pa, col)
    if not _categorical_pays(distinct, len(col)):
        return pd.Series(pd.arrays.ArrowExtensionArray(_decoded(pa, col)), copy=False)
    if carried:
        return pd.Series(_carried_categorical(pd, col), copy=False)
    return col.to_pandas()


def _carried_categorical(pd: Any, col: Any) -> Any:
    """A pandas Categorical of a dictionary column whose chunks'
    dictionaries are carried (:func:`_carried`): the codes are the indices
    as they are, with no dictionary unification."""
    import numpy as np

    chunks = col.chunks
    last = chunks[-1].dictionary
    # The codes are written straight into an array of the width pandas
    # would pick (no int32 copy of the whole column on the way).
    n = len(last)
    width = np.int8 if n < 2**7 else np.int16 if n < 2**15 else np.int32
    codes = np.empty(len(col), dtype=width)
    at = 0
    for c in chunks:
        keys = c.indices.fill_null(-1) if c.null_count else c.indices
        codes[at : at + len(c)] = keys.to_numpy()
        at += len(c)
    categories = pd.Index(last.to_pandas())
    return pd.Categorical.from_codes(codes, categories=categories, validate=False)


def _nullable(pd: Any, pa: Any, t: Any) -> Any:
    mapping = {
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.float32(): pd.Float32Dtype(),
        pa.float64(): pd.Float64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
        pa.string(): pd.StringDtype(),
    }
    return mapping.get(t)


scan_ipfix = IpfixScan
"""``scan_ipfix(source, **options)``: a lazy stream of Arrow batches, see
:class:`IpfixScan` (``records``: data records by default, options records
or both; ``addresses="int"``: IPv4 as ``uint32``, IPv6 as 16-byte binary)."""


def _by_template(scan: IpfixScan, dtype_backend: DtypeBackend) -> dict[TemplateKey, Any]:
    """One DataFrame per template of a stream, each with the columns its
    template carries, in order of the templates' first records."""
    pa = _need("pyarrow", "read_ipfix(by_template=True)")
    schema = scan.schema
    groups: dict[tuple[int, int], list[Any]] = {}
    for b in scan.batches():
        key = scan._s.last_template()
        if key is not None:
            groups.setdefault(key, []).append(pa.record_batch(b))
    present = scan._s.template_columns()
    frames: dict[TemplateKey, Any] = {}
    for key, batches in groups.items():
        cols = present.get(key, [])
        sub = pa.schema([schema.field(i) for i in cols])
        if dtype_backend == "pyarrow":
            chunks = [[b.column(i) for b in batches] for i in cols]
            frames[TemplateKey(*key)] = _arrow_frame(sub, chunks)
        else:
            table = pa.Table.from_batches([b.select(cols) for b in batches], schema=sub)
            frames[TemplateKey(*key)] = _to_pandas(table, dtype_backend)
        groups[key] = []
    return frames


def _sources(source: Source | Sequence[Source]) -> list[Source] | None:
    """Several sources (a list, or a glob pattern), or None for one source."""
    if isinstance(source, list | tuple):
        return list(source)
    if isinstance(source, str) and any(c in source for c in "*?[") and not Path(source).exists():
        found = sorted(glob.glob(source))
        if not found:
            raise FileNotFoundError(f"no file matches {source!r}")
        return list(found)
    return None


def _read_many(sources: list[Source], workers: int | None, **kw: Any) -> pa.Table:
    """Decode several sources in parallel threads (decoding releases the
    GIL); tables come back in input order and are concatenated with their
    schemas unified (columns missing from a file are null)."""
    pyarrow = _need("pyarrow", "read_ipfix of several sources")

    def one(src: Source) -> Any:
        return scan_ipfix(src, **kw).to_arrow()

    # Imported here: concurrent.futures (with logging and threading) is a
    # tenth of `import ferrofix`, and only reading many files needs it.
    from concurrent.futures import ThreadPoolExecutor

    if not sources:
        # No input: the table of an empty stream, its columns (those asked
        # for) typed as any read would type them.
        return one(b"")
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        tables = list(pool.map(one, sources))
    return pyarrow.concat_tables(tables, promote_options="default")


@overload
def read_ipfix(
    source: Source | Sequence[Source],
    *,
    columns: Sequence[str] | None = None,
    require: Literal["all"] | None = None,
    records: Records = "data",
    n_rows: int | None = None,
    batch_size: int = 65536,
    addresses: Addresses = "string",
    on_bad_records: Policy = "error",
    dtype_backend: DtypeBackend = "pyarrow",
    specs: Sequence[str] | None = None,
    spec_files: Sequence[str | os.PathLike[str]] | None = None,
    template_lifetime: int | None = 1800,
    export_ports: Sequence[int] | None = None,
    where: Mapping[str, Any] | None = None,
    workers: int | None = None,
    by_template: Literal[False] = False,
) -> pd.DataFrame: ...


@overload
def read_ipfix(
    source: Source | Sequence[Source],
    *,
    columns: Sequence[str] | None = None,
    require: Literal["all"] | None = None,
    records: Records = "data",
    n_rows: int | None = None,
    batch_size: int = 65536,
    addresses: Addresses = "string",
    on_bad_records: Policy = "error",
    dtype_backend: DtypeBackend = "pyarrow",
    specs: Sequence[str] | None = None,
    spec_files: Sequence[str | os.PathLike[str]] | None = None,
    template_lifetime: int | None = 1800,
    export_ports: Sequence[int] | None = None,
    where: Mapping[str, Any] | None = None,
    workers: int | None = None,
    by_template: Literal[True],
) -> dict[TemplateKey, pd.DataFrame]: ...


def read_ipfix(
    source: Source | Sequence[Source],
    *,
    columns: Sequence[str] | None = None,
    require: Literal["all"] | None = None,
    records: Records = "data",
    n_rows: int | None = None,
    batch_size: int = 65536,
    addresses: Addresses = "string",
    on_bad_records: Policy = "error",
    dtype_backend: DtypeBackend = "pyarrow",
    specs: Sequence[str] | None = None,
    spec_files: Sequence[str | os.PathLike[str]] | None = None,
    template_lifetime: int | None = 1800,
    export_ports: Sequence[int] | None = None,
    where: Mapping[str, Any] | None = None,
    workers: int | None = None,
    by_template: bool = False,
) -> pd.DataFrame | dict[TemplateKey, pd.DataFrame]:
    """Read an IPFIX stream into a pandas DataFrame, one row per record.

    Columns are named by IE (``octetDeltaCount``, ``reverseOctetDeltaCount``;
    an IE a template repeats has a column per occurrence: ``name``,
    ``name.1``, ...) and typed by IE: unsigned/signed integers of the IE's width, floats,
    booleans, strings, binary, ``timestamp[unit, UTC]`` by the IE's precision,
    addresses as categoricals of strings (``addresses="int"`` for integers).
    ``dtype_backend="pyarrow"`` (default) keeps Arrow-backed columns without
    a copy; ``"numpy_nullable"`` uses pandas' nullable dtypes; ``"numpy"``
    plain NumPy. An empty stream gives an empty DataFrame with every column
    typed.

    ``source`` may also be a list of sources or a glob pattern: they are
    decoded in parallel (``workers`` threads, default one per core), each as
    its own transport session, and concatenated in input order (``n_rows``
    applies to each source).

    ``by_template=True`` returns a dict instead: a DataFrame per
    :class:`TemplateKey` (observation domain, template id), each with only
    the columns its template carries, in order of first appearance; handy
    for options records (``records="options"``), whose templates describe
    unrelated things. Several sources give the concatenation per template.

    ``template_lifetime``: templates received over UDP (in captures of
    export traffic) expire when not refreshed for this many seconds of the
    exporter's export time (RFC 7011 §8.4; deterministic for a capture);
    ``None`` keeps them for ever. Data after expiry counts as a missing
    template in the health table. Files and TCP streams are unaffected.
    A capture's DataFrame carries each row's sender in
    ``exporterIPv4Address``/``exporterIPv6Address`` and
    ``exporterTransportPort`` after the other columns; with ``columns=``,
    only if named there (the columns asked for are exactly those, in that
    order). ``where``: keep only the records whose flow keys match, decided
    while decoding (start time range, protocols, ports, address prefixes;
    see :mod:`ferrofix._filter`). ``export_ports``: in a capture, read flow
    export only from UDP datagrams and TCP connections to or from these
    ports (default: any port, recognised by content).
    """
    options: dict[str, Any] = {
        "columns": columns,
        "require": require,
        "records": records,
        "batch_size": batch_size,
        "n_rows": n_rows,
        "addresses": addresses,
        "on_bad_records": on_bad_records,
        "specs": specs,
        "spec_files": spec_files,
        "template_lifetime": template_lifetime,
        "export_ports": export_ports,
        "where": where,
    }
    many = _sources(source)
    if by_template:
        pd = _pandas("a DataFrame")
        parts: dict[TemplateKey, list[Any]] = {}
        for src in many if many is not None else [source]:
            scan = IpfixScan(src, by_template=True, **options)  # type: ignore[arg-type]
            for key, frame in _by_template(scan, dtype_backend).items():
                parts.setdefault(key, []).append(frame)
        return {
            k: v[0] if len(v) == 1 else pd.concat(v, ignore_index=True) for k, v in parts.items()
        }
    if many is not None:
        return _to_pandas(_read_many(many, workers, **options), dtype_backend)
    scan = IpfixScan(source, **options)  # type: ignore[arg-type]
    return scan.to_pandas(dtype_backend=dtype_backend)
