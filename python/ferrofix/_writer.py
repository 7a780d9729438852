"""Writing IPFIX: :class:`Writer` for incremental writing of records, and
:func:`write_ipfix` for a whole iterable of records at once.

Records are tuples or lists (one value per template field, in order) or
dicts keyed by IE name, with values of the types the reader returns: int,
float, bool, str, bytes, ``ipaddress`` objects (or address text, packed bytes
or int), ``datetime`` (timezone-aware, or naive meaning UTC), MAC addresses
as ``"aa:bb:cc:dd:ee:ff"``. Fields are named by IE name or IESpec; an IESpec
length asks for a reduced-size or fixed-length encoding
(``"octetDeltaCount[4]"``, ``"interfaceName[16]"``).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

from . import _ferrofix
from ._model import default_spec_files

Dest = str | os.PathLike[str] | IO[bytes] | None
Compression = Literal["gzip", "zstd", "none"]


class Writer:
    """An IPFIX exporter: define templates, write records, withdraw, flush.

    ``dest`` is a path (``.gz``/``.zst`` compress, or ``compression=``), a
    binary file object, or None to collect the bytes (``close()`` returns
    them). Messages hold at most ``mtu`` octets (65535 for files and TCP; about
    1400 for UDP) and one observation domain each; sequence numbers count each
    domain's data records (RFC 7011 §3.1). ``export_time`` (seconds since 1970)
    fixes every message's export time, else the clock is read.
    ``template_refresh=n`` writes a domain's templates again every ``n``
    messages, as exporters over UDP must (RFC 7011 §8.4). A message reaches
    ``dest`` only whole: a record that cannot be encoded raises
    :class:`ferrofix.EncodeError` naming the field and writes nothing.
    """

    def __init__(
        self,
        dest: Dest = None,
        *,
        observation_domain_id: int = 0,
        mtu: int = 65535,
        export_time: int | None = None,
        template_refresh: int | None = None,
        compression: Compression | None = None,
        specs: Sequence[str] | None = None,
        spec_files: Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        files = default_spec_files() if spec_files is None else [Path(p) for p in spec_files]
        self._w = _ferrofix._Writer(
            dest,
            mtu=mtu,
            export_time=export_time,
            template_refresh=template_refresh,
            compression=compression,
            specs=list(specs or []),
            spec_files=files,
        )
        self.observation_domain_id = observation_domain_id
        self._next_id: dict[int, int] = {}
        self._fields: dict[tuple[int, int], list[str]] = {}
        self._result: bytes | None = None

    def add_template(
        self,
        fields: Sequence[str],
        *,
        template_id: int | None = None,
        observation_domain_id: int | None = None,
        scope: int = 0,
    ) -> int:
        """Define a template (an options template when ``scope`` > 0: its
        first ``scope`` fields are the scope) and write it; returns its id
        (the next free one from 256 unless given)."""
        odid = self._odid(observation_domain_id)
        if template_id is None:
            template_id = self._next_id.get(odid, 256)
        names = self._w.add_template(list(fields), template_id, odid, scope)
        self._next_id[odid] = max(self._next_id.get(odid, 256), template_id + 1)
        self._fields[(odid, template_id)] = names
        return template_id

    def fields(self, template_id: int, *, observation_domain_id: int | None = None) -> list[str]:
        """The IE names of a template's fields, in order."""
        return list(self._fields[(self._odid(observation_domain_id), template_id)])

    def write(
        self, template_id: int, record: Any, *, observation_domain_id: int | None = None
    ) -> None:
        """Write one record (tuple, list or dict) of a template."""
        self._w.write(template_id, record, self._odid(observation_domain_id))

    def write_records(
        self,
        template_id: int,
        records: Iterable[Any],
        *,
        observation_domain_id: int | None = None,
    ) -> int:
        """Write every record of an iterable; returns how many."""
        return self._w.write_many(template_id, records, self._odid(observation_domain_id))

    def write_table(
        self,
        data: Any,
        *,
        columns: dict[str, str] | None = None,
        observation_domain_id: int | None = None,
        nulls: Literal["template", "error"] = "template",
    ) -> int:
        """Write a table: a pandas or polars DataFrame, a pyarrow Table,
        RecordBatch or RecordBatchReader, anything with
        ``__arrow_c_stream__``. Columns are IEs by name (``columns`` maps
        other names to IE names or IESpecs, e.g. ``{"bytes":
        "octetDeltaCount[4]"}``); their types are checked against the IEs'.
        pandas' forms are taken as they are: a float column of whole numbers
        for an integer IE (what pandas makes of integers with a missing
        value: NaN is null; a fraction is an error naming the row, never
        rounded), and an object column of ``ipaddress`` objects or of text.
        A row with nulls goes under a template without those columns (one
        template per null pattern), and the template of every column comes
        first, so that a reader (``read_ipfix``) gives back the columns in
        the table's order; ``nulls="error"`` refuses nulls.
        Returns the number of rows written."""
        odid = self._odid(observation_domain_id)
        rows, next_id = self._w.write_arrow(
            _arrow_ready(data), columns, odid, self._next_id.get(odid, 256), nulls
        )
        self._next_id[odid] = next_id
        return int(rows)

    def withdraw(self, template_id: int, *, observation_domain_id: int | None = None) -> None:
        """Withdraw a template (RFC 7011 §8.1); not for UDP, where
        templates expire instead."""
        self._w.withdraw(template_id, self._odid(observation_domain_id))

    def withdraw_all(self, *, observation_domain_id: int | None = None) -> None:
        """Withdraw every template and options template of a domain."""
        self._w.withdraw_all(self._odid(observation_domain_id))

    def flush(self) -> None:
        """Write the message being built."""
        self._w.flush()

    @property
    def stats(self) -> dict[str, int]:
        """Messages, records, templates, withdrawals and bytes written."""
        keys = ("messages", "records", "templates", "withdrawals", "bytes")
        return dict(zip(keys, self._w.stats(), strict=True))

    def close(self) -> bytes | None:
        """Write what is pending and complete the destination; the bytes
        when writing to memory. Closing again returns the same."""
        out = self._w.close()
        if out is not None:
            self._result = bytes(out)
        return self._result

    def __enter__(self) -> Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _odid(self, odid: int | None) -> int:
        return self.observation_domain_id if odid is None else odid


def write_ipfix(
    data: Any,
    dest: Dest = None,
    *,
    template: Sequence[str] | None = None,
    columns: dict[str, str] | None = None,
    nulls: Literal["template", "error"] = "template",
    observation_domain_id: int = 0,
    mtu: int = 65535,
    export_time: int | None = None,
    template_refresh: int | None = None,
    compression: Compression | None = None,
    specs: Sequence[str] | None = None,
    spec_files: Sequence[str | os.PathLike[str]] | None = None,
) -> bytes | None:
    """Write a table or records as IPFIX; returns the bytes when ``dest`` is
    None.

    ``data`` is a table (pandas or polars DataFrame, pyarrow Table, anything
    with ``__arrow_c_stream__``: see :meth:`Writer.write_table` for
    ``columns`` and ``nulls``), or an iterable of dicts (keyed by IE name) or
    of tuples with ``template`` naming their fields (without ``template`` the
    keys of the first dict are the template). See :class:`Writer` for the
    other options. A DataFrame from :func:`ferrofix.read_ipfix` is written
    back with the same IEs and values.
    """
    table = hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__")
    with Writer(
        dest,
        observation_domain_id=observation_domain_id,
        mtu=mtu,
        export_time=export_time,
        template_refresh=template_refresh,
        compression=compression,
        specs=specs,
        spec_files=spec_files,
    ) as w:
        if table:
            if template is not None:
                raise ValueError("template= is for records; a table's columns are its fields")
            w.write_table(data, columns=columns, nulls=nulls)
            return w.close()
        it = iter(data)
        first = next(it, None)
        if template is None:
            if first is None:
                raise ValueError("no records and no template: nothing to write")
            if not isinstance(first, dict):
                raise ValueError("records that are not dicts need template=[...]")
            template = list(first)
        tid = w.add_template(template)
        if first is not None:
            w.write(tid, first)
            w.write_records(tid, it)
    return w.close()


def _arrow_ready(data: Any) -> Any:
    """A pandas DataFrame with the object columns pyarrow cannot convert
    (``ipaddress`` objects) as text; anything else as it is."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(data, pd.DataFrame):
        return data
    addresses = (ipaddress.IPv4Address, ipaddress.IPv6Address)
    fixed = None
    for i, (_name, col) in enumerate(data.items()):
        if col.dtype != object:
            continue
        present = col.notna().to_numpy()
        if not present.any() or not isinstance(col.array[int(present.argmax())], addresses):
            continue
        if fixed is None:
            fixed = data.copy(deep=False)
        fixed.isetitem(i, col.astype("string"))
    return data if fixed is None else fixed
