"""Reading IPFIX streams into Python records: :class:`Reader` and :func:`iter_records`."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, NamedTuple

from . import _ferrofix
from ._errors import FerrofixWarning
from ._model import default_spec_files

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]
"""A path, a bytes-like object, or a binary file object (gzip/zstd recognised)."""

Policy = Literal["error", "warn", "skip"]
Shape = Literal["dict", "tuple", "fields"]
Kind = Literal["all", "data", "options"]


class RecordMeta(NamedTuple):
    """Where a record came from. For a packet capture of export traffic:
    ``exporter`` is the sender's (address, port), ``frame`` the packet
    number (from 1, as Wireshark counts), ``message_index`` counts the
    exporter's messages, ``offset`` is in the capture file."""

    message_index: int
    offset: int
    observation_domain_id: int
    template_id: int
    export_time: datetime
    exporter: tuple[str, int] | None = None
    frame: int | None = None


@dataclass(frozen=True)
class TemplateField:
    """One field of a template."""

    name: str
    pen: int
    id: int
    length: int
    type: str

    @property
    def varlen(self) -> bool:
        """Whether the field is variable-length (RFC 7011 §7)."""
        return self.length == 65535


@dataclass(frozen=True)
class Template:
    """A template or options template held by a reader."""

    observation_domain_id: int
    template_id: int
    scope_count: int | None
    fields: tuple[TemplateField, ...]

    @property
    def is_options(self) -> bool:
        """Whether this is an options template (it has scope fields)."""
        return self.scope_count is not None


@dataclass(frozen=True)
class DomainSequence:
    """Sequence-number accounting of one observation domain (RFC 7011 §3.1;
    for NetFlow v9, whose numbers count packets, RFC 3954 §5.1, losses are
    in ``lost_packets``)."""

    messages: int
    records: int
    gaps: int
    lost_records: int
    out_of_order: int
    unknown_counts: int
    lost_packets: int = 0
    #: Messages numbered after their own records (softflowd's quirk: the
    #: previous number plus this message's records), not counted as loss.
    post_incremented: int = 0


@dataclass(frozen=True)
class TransportHealth:
    """What a stream said about itself besides its records. For a packet
    capture, ``sequence`` is keyed by (exporter "address:port", domain) (the
    counters of its sessions to several collectors summed) and
    data sets that came before their template are held until it comes
    (``sets_held`` now, ``sets_replayed`` decoded late; those never resolved
    count in ``sets_missing_template``)."""

    bytes: int
    messages: int
    data_records: int
    options_records: int
    templates_learned: int
    templates_replaced: int
    templates_refreshed: int
    templates_withdrawn: int
    withdrawals_unknown: int
    sets_missing_template: int
    missing_templates: dict[tuple[int, int], int]
    sets_reserved: int
    problems_skipped: int
    problems: list[str]
    malformed_values: int
    records_filtered: int
    sequence: dict[int | tuple[str, int], DomainSequence] = field(default_factory=dict)
    sets_held: int = 0
    sets_replayed: int = 0
    #: UDP templates dropped after their lifetime (1800 s of export time)
    #: without being sent again.
    templates_expired: int = 0
    #: Template withdrawals received over UDP, ignored (RFC 7011 §8.4:
    #: over UDP templates expire, they are not withdrawn).
    withdrawals_ignored: int = 0
    #: Sampling parameters from options records (samplingInterval,
    #: samplerRandomInterval, samplingPacketInterval/Space,
    #: samplingSize/Population, ...): the latest per (domain, selector or
    #: sampler id), or per (exporter, domain, selector) for a capture.
    sampling: dict[tuple[Any, ...], dict[str, int]] = field(default_factory=dict)
    #: For a packet capture: ``packets`` read, each counted once as a UDP
    #: datagram of flow export (``datagrams``), an IP fragment
    #: (``fragments``), a TCP segment of an IPFIX stream (``tcp_segments``)
    #: or another packet (``other_packets``); ``reassembled`` datagrams of
    #: flow export put together from fragments, ``fragments_dropped`` of
    #: datagrams never completed; ``tcp_streams`` IPFIX connections (one
    #: direction each), ``tcp_gaps`` holes (bytes the capture lacks)
    #: skipped, ``tcp_bytes_skipped`` stream bytes not read (lost in holes,
    #: cut off, or passed over to find the next message header),
    #: ``tcp_retransmitted`` segments received again.
    capture: dict[str, int] | None = None

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> TransportHealth:
        """From the extension's dict of counters."""
        h = dict(raw)
        h["missing_templates"] = {(o, t): n for (o, t), n in h["missing_templates"]}
        h["sequence"] = {o: DomainSequence(**s) for o, s in h["sequence"].items()}
        return cls(**h)

    def to_pandas(self) -> Any:
        """The sequence accounting as a DataFrame, one row per observation
        domain (per exporter and domain for a capture, with an ``exporter``
        column); the stream-wide counters are in ``DataFrame.attrs``."""
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError("TransportHealth.to_pandas needs pandas: pip install pandas") from e
        rows = []
        for key, s in self.sequence.items():
            exporter, odid = key if isinstance(key, tuple) else (None, key)
            rows.append({"exporter": exporter, "observationDomainId": odid, **vars(s)})
        cols = ["exporter", "observationDomainId", *DomainSequence.__dataclass_fields__]
        if all(r["exporter"] is None for r in rows):
            cols = cols[1:]
            for r in rows:
                del r["exporter"]
        df = pd.DataFrame(rows, columns=cols)
        df.attrs.update({k: v for k, v in vars(self).items() if k != "sequence"})
        return df


class Reader:
    """A reader of one IPFIX message stream (one transport session).

    ``source`` is a path, a bytes-like object or a binary file object; gzip
    and zstd are recognised by their magic numbers. The stream is read one
    message at a time, never whole.

    ``on_bad_records`` says what to do with malformed input and data sets
    that arrive without their template: ``"error"`` raises (records before
    the fault have already been yielded), ``"warn"`` skips with a
    :class:`FerrofixWarning`, ``"skip"`` skips silently; skipped problems are
    counted in :attr:`health`.

    ``specs`` adds enterprise IEs from IESpec strings, ``spec_files`` from
    spec files (default: the bundled CERT and QoF files; ``[]`` for none).

    ``template_lifetime``: templates received over UDP (captures of export
    traffic) expire after this many seconds of export time without a
    refresh (RFC 7011 §8.4); ``None``: never. ``export_ports``: in a
    capture, read flow export only from UDP datagrams and TCP connections
    to or from these ports (default: any port, recognised by content).
    """

    def __init__(
        self,
        source: Source,
        *,
        on_bad_records: Policy = "error",
        specs: Sequence[str] | None = None,
        spec_files: Sequence[str | os.PathLike[str]] | None = None,
        max_templates: int = 65536,
        max_list_depth: int = 16,
        template_lifetime: int | None = 1800,
        export_ports: Sequence[int] | None = None,
    ) -> None:
        files = default_spec_files() if spec_files is None else [Path(p) for p in spec_files]
        self._policy = on_bad_records
        self._r = _ferrofix._Reader(
            source,
            on_bad_records=on_bad_records,
            specs=list(specs or []),
            spec_files=files,
            max_templates=max_templates,
            max_list_depth=max_list_depth,
            template_lifetime=template_lifetime,
            export_ports=None if export_ports is None else list(export_ports),
        )
        self._busy = False

    def records(
        self,
        *,
        columns: Sequence[str] | None = None,
        as_: Shape = "dict",
        require: Literal["all"] | None = None,
        records: Kind = "data",
        meta: bool = False,
    ) -> Iterator[Any]:
        """Iterate the records still unread.

        ``as_="dict"`` yields dicts keyed by IE name (an IE the template
        repeats: ``name``, ``name.1``, ... per occurrence; only ``columns``
        when given, ``None`` for those a record's template lacks); ``as_="tuple"``
        yields tuples in ``columns`` order; ``as_="fields"`` yields lists of
        ``(pen, id, value)`` in template order. ``require="all"`` drops
        records lacking any requested column (python-ipfix's tuple semantics).
        ``records`` picks data records (the default, as for
        :func:`read_ipfix` and :func:`scan_ipfix`), options records
        (``"options"``: sampling, interface names, ...) or both (``"all"``). With
        ``meta=True`` each item is ``(RecordMeta, record)``.
        """
        if as_ == "tuple" and columns is None:
            raise ValueError("as_='tuple' needs columns=[...] to fix the tuple layout")
        if require not in (None, "all"):
            raise ValueError(f"require must be None or 'all', not {require!r}")
        if require == "all" and columns is None:
            raise ValueError("require='all' needs columns=[...]")
        self._r.configure(
            shape=as_,
            columns=None if columns is None else list(columns),
            require_all=require == "all",
            kind=records,
            meta=meta,
        )
        return self._iterate(meta)

    def _iterate(self, meta: bool) -> Iterator[Any]:
        if not meta and self._policy != "warn":
            # Nothing to do between batches: iterate them at C speed.
            return chain.from_iterable(iter(self._r.next_batch, None))
        return self._iterate_slow(meta)

    def _iterate_slow(self, meta: bool) -> Iterator[Any]:
        next_batch = self._r.next_batch
        warn = self._policy == "warn"
        while True:
            try:
                batch = next_batch()
            finally:
                if warn:
                    for msg in self._r.take_warnings():
                        warnings.warn(msg, FerrofixWarning, stacklevel=3)
            if batch is None:
                return
            if meta:
                for (mi, off, odid, tid, et, exporter, frame), rec in batch:
                    when = datetime.fromtimestamp(et, UTC)
                    yield RecordMeta(mi, off, odid, tid, when, exporter, frame), rec
            else:
                yield from batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.records()

    @property
    def templates(self) -> list[Template]:
        """The templates held now (after what has been read so far)."""
        return [
            Template(odid, tid, sc, tuple(TemplateField(*f) for f in fields))
            for odid, tid, sc, fields in self._r.templates()
        ]

    @property
    def health(self) -> TransportHealth:
        """Transport-health counters of what has been read so far."""
        return TransportHealth.from_raw(self._r.health())

    @property
    def source(self) -> str:
        """A description of the source (a path, or ``<bytes>``...)."""
        return str(self._r.label)

    def close(self) -> None:
        """Release the source (files opened by path are closed); an
        iterator of its records raises ``ValueError`` from then on, as a
        closed file's does. Closing again does nothing."""
        self._r.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def iter_records(
    source: Source,
    *,
    columns: Sequence[str] | None = None,
    as_: Shape = "dict",
    require: Literal["all"] | None = None,
    records: Kind = "data",
    meta: bool = False,
    on_bad_records: Policy = "error",
    specs: Sequence[str] | None = None,
    spec_files: Sequence[str | os.PathLike[str]] | None = None,
    template_lifetime: int | None = 1800,
    export_ports: Sequence[int] | None = None,
) -> Iterator[Any]:
    """Iterate the records of an IPFIX stream: see :class:`Reader` and
    :meth:`Reader.records` for the options."""
    reader = Reader(
        source,
        on_bad_records=on_bad_records,
        specs=specs,
        spec_files=spec_files,
        template_lifetime=template_lifetime,
        export_ports=export_ports,
    )
    return reader.records(columns=columns, as_=as_, require=require, records=records, meta=meta)
