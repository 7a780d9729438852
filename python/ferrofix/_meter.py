"""The flow meter: packet captures in, RFC 5103 biflow records out.

:func:`meter` returns a pandas DataFrame, one row per flow record;
:class:`Meter` is the lazy form: Arrow batches (``__arrow_c_stream__``, so
pyarrow, polars and DuckDB take it without a copy), :meth:`Meter.to_pandas`,
:meth:`Meter.write_ipfix` (a file, a file object, or a collector over UDP
or TCP) and the meter's counters (:attr:`Meter.stats`).

The columns are IPFIX information elements, named as IANA names them (and
CERT for YAF's ``initialTCPFlags``/``unionTCPFlags``), the reverse
direction's under RFC 5103's ``reverse`` names; a flow's record is the
same whether read here or from the meter's IPFIX with :func:`read_ipfix`.
Every counter's definition is in ``docs/meter.md``.
"""

from __future__ import annotations

import io
import operator
import os
from collections.abc import Callable, Mapping, Sequence

from . import _ferrofix
from ._stream import _BatchStream

# Neither ``typing`` nor ``pathlib`` is imported at run time: the
# ``ferrofix meter`` command's start (``BENCHMARKS.md``). Type checkers take
# this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, TypeAlias

    import pandas as pd

    from ._arrow import Addresses, DtypeBackend
    from ._reader import Policy

    Capture: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO


def _captures(capture: Capture | Sequence[Capture]) -> list[Any]:
    """One capture, a list of them, or a glob pattern (sorted)."""
    if isinstance(capture, io.TextIOBase):
        raise TypeError(
            "the capture's file object is open in text mode: open it in binary mode ('rb')"
        )
    if isinstance(capture, list | tuple):
        out: list[Any] = []
        for c in capture:
            out.extend(_captures(c))
        return out
    if isinstance(capture, str) and any(c in capture for c in "*?["):
        if not os.path.exists(capture):
            import glob

            found = sorted(glob.glob(capture))
            if not found:
                raise FileNotFoundError(f"no file matches {capture!r}")
            return list(found)
    return [capture]


class Meter(_BatchStream):
    """The flow meter over one capture or several (merged in timestamp
    order), read lazily: the captures are metered as the flows are asked
    for, with Python's GIL released.

    ``capture``: a path (pcap or pcapng, either byte order, µs or ns, gzip
    or zstd compressed; the format is found from the file's magic number,
    never its extension), bytes, a binary file object (a pipe included), a
    list of these, or a glob pattern.

    Flows: biflows by default (RFC 5103; ``biflow=False`` writes each
    biflow as a record per direction, flowIds ``2n - 1`` and ``2n``),
    keyed by IP version, addresses, ports (ICMP: type and code), protocol
    and VLAN id, oriented by their initiator (the sender of the SYN where
    one is seen, else of the first packet). A record ends
    after ``idle_timeout`` seconds without a packet (flowEndReason 1), when
    a packet comes more than ``active_timeout`` seconds after its start
    (2; the next record keeps the flowId), at a TCP RST or once both FINs
    are acknowledged (3), at the end of the input (4), or
    when a new flow finds ``max_flows`` open (5: the least recently seen
    goes). ``decapsulate=True`` meters the packets inside GRE, VXLAN and
    IP-in-IP tunnels instead of the tunnel.

    TCP flows carry the TCP-performance metrics (``tcp_metrics=True``, the
    default): QoF's (``tcpRetransmitCount``, ``minTcpRttMilliseconds``, ...)
    and ferrofix's (RTT by method and half in microseconds, retransmissions
    by class, loss located relative to the capture, windows, ECN, a
    measurement-quality flag word), each defined in ``docs/tcp-metrics.md``.
    A value that could not be measured is null, never 0.
    ``tcp_metrics=False`` meters faster and leaves those columns out.
    ferrofix's own IEs are exported under PEN 32473 (RFC 5612's
    documentation number); ``enterprise=`` an organisation's own PEN moves
    them there (same numbers and names; readers of the IPFIX then need
    ``ferrofix.iespec`` with that PEN).

    ``workers=n`` (n > 1) meters on ``n`` threads: each worker takes
    apart and meters the frames whose IP address pair hashes to it (both
    directions alike, fragments with their datagram); one capture file
    (plain or compressed) is read by the workers themselves, who take
    turns at walking it, other inputs by the calling thread, which hands
    the frames over. The records are the same as
    with one worker, timeouts included, except that flowIds are numbered
    per worker (worker ``w`` gives ``w + 1``, ``w + 1 + n``, ...), the
    rows come worker by worker, and ``max_flows`` is shared out between
    the workers (each holds at most ``ceil(max_flows / n)``, so together
    up to ``n - 1`` more). Row order is not the order records ended, with
    any number of workers: records are gathered template by template (IP
    version and protocol kind) into batches of ``batch_size``; sort by
    ``flowEndMilliseconds`` (or flowId) for an order that does not depend
    on either.

    ``on_bad_records``: what a corrupt or truncated capture does: "error"
    (the flows up to the bad byte are given, then a :class:`DecodeError`
    naming the capture and the byte offset), "warn" or "skip" (that
    capture ends there, the others go on; a file that is not a capture at
    all, an empty one included, is passed over the same way and counted
    in ``stats["failed_captures"]``). Malformed packets never stop
    metering: they are counted in :attr:`stats` by reason.

    ``columns``: the IEs to keep, in this order (a list of names as the
    columns are named, e.g. ``["sourceIPv4Address",
    "reverseOctetDeltaCount"]``; default every IE of the meter's
    templates). ``where``: a filter on the flow keys, applied as each
    record is made (:mod:`ferrofix._filter`): a dict of any of
    ``"start": (from, to)`` (the flow's start in ``[from, to)``; datetimes,
    ISO text or seconds since 1970, None for no bound), ``"protocol"``,
    ``"port"`` (source or destination) and ``"address"`` (an address or
    prefix, source or destination), each one value or a list; every key
    given must match. ``batch_size``: the most rows an Arrow batch holds.
    ``addresses``: "string" (text, as categoricals in pandas) or "int"
    (IPv4 as ``uint32``, IPv6 as 16-byte binary). ``specs``/``spec_files``:
    more information elements as IESpecs (``name(pen/id)<type>[size]``),
    or files of them. ``dtype_backend`` (:meth:`to_pandas`, :func:`meter`):
    "pyarrow" (default), "numpy_nullable" or "numpy".

    A Meter is read once: its batches, :meth:`to_pandas`, an Arrow
    consumer or :meth:`write_ipfix` take its flows, and reading it again
    after its end raises ``RuntimeError`` (make a new Meter).
    """

    _name = "Meter"
    _always_warn = False

    def __init__(
        self,
        capture: Capture | Sequence[Capture],
        *,
        idle_timeout: float = 30.0,
        active_timeout: float = 300.0,
        biflow: bool = True,
        max_flows: int = 1 << 20,
        decapsulate: bool = False,
        tcp_metrics: bool = True,
        workers: int = 1,
        columns: Sequence[str] | None = None,
        batch_size: int = 65536,
        addresses: Addresses = "string",
        on_bad_records: Policy = "error",
        specs: Sequence[str] | None = None,
        spec_files: Sequence[str | os.PathLike[str]] | None = None,
        enterprise: int = 32473,
        where: Mapping[str, Any] | None = None,
    ) -> None:
        self._policy = on_bad_records
        if isinstance(columns, str | bytes):
            raise TypeError(f"columns is a list of IE names, not one string: columns=[{columns!r}]")
        max_flows = _whole("max_flows", max_flows, 1)
        workers = _whole("workers", workers, 1, 256)
        batch_size = _whole("batch_size", batch_size, 1)
        enterprise = _whole("enterprise", enterprise, 0, 2**32 - 1)
        for name, v in (("idle_timeout", idle_timeout), ("active_timeout", active_timeout)):
            if isinstance(v, bool | str | bytes) or not hasattr(v, "__float__"):
                raise TypeError(f"{name} is a number of seconds, not {v!r}")
        biflow, decapsulate, tcp_metrics = (
            _flag("biflow", biflow),
            _flag("decapsulate", decapsulate),
            _flag("tcp_metrics", tcp_metrics),
        )
        sources = _captures(capture)
        # The files read, so that write_ipfix does not write over one.
        self._paths = [os.fspath(c) for c in sources if isinstance(c, str | os.PathLike)]
        # write_ipfix writes whole records: a choice of columns is refused there.
        self._columns = None if columns is None else list(columns)
        self._s = _ferrofix._Meter(
            sources,
            idle_timeout=float(idle_timeout),
            active_timeout=float(active_timeout),
            biflow=biflow,
            max_flows=max_flows,
            decapsulate=decapsulate,
            tcp_metrics=tcp_metrics,
            workers=workers,
            columns=None if columns is None else list(columns),
            batch_size=batch_size,
            addresses=addresses,
            on_bad_records=on_bad_records,
            specs=list(specs or []),
            spec_files=[os.fspath(p) for p in spec_files or []],
            enterprise=enterprise,
            filter=_filter_spec(where),
        )

    @property
    def total_bytes(self) -> int | None:
        """The captures' size in bytes, when known (files not compressed)."""
        total = self._s.total_bytes()
        return None if total is None else int(total)

    @property
    def bytes_read(self) -> int:
        """Bytes of the captures read so far."""
        return int(self._s.position())

    @property
    def stats(self) -> dict[str, Any]:
        """The meter's counters so far: ``packets`` read, ``metered`` (in
        a flow), ``not_ip`` by reason (unsupported link type, not IP,
        truncated link header, malformed IP; the malformed IP packets'
        ``malformed_ip_octets`` on the wire and the capture times of the
        first and last, ``malformed_ip_first_ns`` and
        ``malformed_ip_last_ns``, None without one), ``by_linktype``,
        ``fragments`` (``fragments_held`` until their first fragment came,
        ``fragments_without_first``), ``length_from_frame`` (IPv4 total
        length 0, as segmentation offload leaves it), ``transport_header_cut``,
        ``decapsulated``, ``flows``, ``records``, ``peak_flows``,
        ``out_of_order`` (packets older than a frame before them, kept),
        ``end_reasons``, ``failed_captures`` and ``bytes_read``."""
        return dict(self._s.stats())

    def write_ipfix(
        self,
        dest: str | os.PathLike[str] | BinaryIO | None = None,
        *,
        export: str | None = None,
        compression: str | None = None,
        mtu: int | None = None,
        progress: Callable[[int], object] | None = None,
        template_refresh: int | None = None,
        template_refresh_timeout: float | None = None,
        stats: bool = True,
        observation_domain_id: int = 0,
    ) -> bytes | None:
        """Meter into IPFIX (RFC 7011): to ``dest`` (a path, ``.gz``/``.zst``
        compressed by extension or ``compression=`` "gzip", "zstd" or
        "none"; a binary file object; or None to get the bytes back), or to
        a collector with ``export="udp://host:4739"`` (one message per
        datagram of at most 1400 octets, templates re-sent every
        ``template_refresh`` messages, default 64, or once
        ``template_refresh_timeout`` seconds of export time passed, default
        600, whichever comes first: RFC 7011 §8.4; 0 turns either off) or
        ``"tcp://host:4739"``. ``mtu``: the
        most octets a message holds (65535 for files and TCP by default).
        ``progress(bytes_read)`` is called as the captures are read. A
        ``dest`` that is one of the captures is refused (``ValueError``)
        before anything is written. ``where=`` applies as it does to the
        table (the statistics still count every record); ``columns=`` is
        refused (``ValueError``): the meter's records are written whole, in
        its templates. To a collector, records leave as packets end them, not
        once a chunk of packets is metered; over UDP, messages the
        collector's host refuses (or that find no route) are lost as UDP
        loses them, the export goes on, and a ``FerrofixWarning`` at the end
        says how many. ``stats`` (True by default):
        after the last flow record, and after template refreshes (UDP's
        by default; once a chunk of packets), the
        meter's statistics as options records in the templates RFC 7011
        §4.1 and §4.2 recommend (``exportedMessageTotalCount``,
        ``exportedFlowRecordTotalCount`` and ``exportedOctetTotalCount`` of
        the messages before them; ``ignoredPacketTotalCount``, IP packets
        with a malformed header); ``read_ipfix`` leaves them out of the
        flows (``records="options"`` reads them). ``stats=False`` writes
        flow records only. ``observation_domain_id`` (0 by default; up to
        2**32 - 1): the observation domain of every message (RFC 7011
        §3.1), so that a collector keeps the flows of several meters apart;
        the statistics name it in their scope."""
        if self._columns is not None:
            raise ValueError(
                "write_ipfix writes the meter's whole records: columns= chooses the "
                "columns of a table (to_pandas, Arrow); make the Meter without it"
            )
        if dest is not None and not isinstance(dest, str | os.PathLike) and export is None:
            if not hasattr(dest, "write"):
                raise TypeError("dest must be a path or a binary file object")
            if isinstance(dest, io.TextIOBase):
                raise TypeError("dest is open in text mode: open it in binary mode ('wb')")
        if isinstance(dest, str | os.PathLike):
            from ._cli import refuse_overwriting_inputs

            refuse_overwriting_inputs(os.fspath(dest), self._paths)
        if mtu is not None:
            mtu = _whole("mtu", mtu, 1, 65535)
        domain = _whole("observation_domain_id", observation_domain_id, 0, 2**32 - 1)
        if template_refresh is not None:
            template_refresh = _whole("template_refresh", template_refresh, 0)
        timeout = None
        if template_refresh_timeout is not None:
            if isinstance(template_refresh_timeout, bool) or not hasattr(
                template_refresh_timeout, "__float__"
            ):
                raise TypeError(
                    f"template_refresh_timeout is a number of seconds, not "
                    f"{template_refresh_timeout!r}"
                )
            if not 0 <= float(template_refresh_timeout) < 2**32:
                raise ValueError("template_refresh_timeout must be from 0 to 2**32 - 1 seconds")
            # Here, not at the top: a shared library to load, at the command's start.
            import math

            timeout = math.ceil(float(template_refresh_timeout))
        out = self._s.write_ipfix(
            dest,
            export=export,
            compression=compression,
            mtu=mtu,
            progress=progress,
            template_refresh=template_refresh,
            template_refresh_timeout=timeout,
            stats=_flag("stats", stats),
            observation_domain_id=domain,
        )
        return None if out is None else bytes(out)


def meter(
    capture: Capture | Sequence[Capture],
    *,
    idle_timeout: float = 30.0,
    active_timeout: float = 300.0,
    biflow: bool = True,
    max_flows: int = 1 << 20,
    decapsulate: bool = False,
    tcp_metrics: bool = True,
    workers: int = 1,
    columns: Sequence[str] | None = None,
    batch_size: int = 65536,
    addresses: Addresses = "string",
    on_bad_records: Policy = "error",
    dtype_backend: DtypeBackend = "pyarrow",
    specs: Sequence[str] | None = None,
    spec_files: Sequence[str | os.PathLike[str]] | None = None,
    enterprise: int = 32473,
    where: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Meter packet captures into a pandas DataFrame, one row per flow
    record: ``Meter(capture, ...).to_pandas(dtype_backend=...)``.

    ``capture``: a path, bytes, a binary file object, a list of these or
    a glob pattern (pcap or pcapng, gzip or zstd compressed). Biflows
    (``biflow``) keyed by addresses, ports, protocol and VLAN, ended by
    ``idle_timeout``/``active_timeout`` seconds, FIN/RST, the input's end
    or ``max_flows``; TCP flows with the TCP-performance metrics
    (``tcp_metrics``). ``columns``, ``where``, ``workers``,
    ``on_bad_records``, ``addresses``, ``dtype_backend``, ``specs``,
    ``spec_files``, ``enterprise``, ``decapsulate``, ``batch_size``: see
    :class:`Meter`, which documents each; the columns are defined in
    ``docs/meter.md`` and ``docs/tcp-metrics.md``.

    >>> flows = ff.meter("trace.pcap")                       # doctest: +SKIP
    >>> flows.groupby("destinationTransportPort").octetDeltaCount.sum()  # doctest: +SKIP
    """
    return Meter(
        capture,
        idle_timeout=idle_timeout,
        active_timeout=active_timeout,
        biflow=biflow,
        max_flows=max_flows,
        decapsulate=decapsulate,
        tcp_metrics=tcp_metrics,
        workers=workers,
        columns=columns,
        batch_size=batch_size,
        addresses=addresses,
        on_bad_records=on_bad_records,
        specs=specs,
        spec_files=spec_files,
        enterprise=enterprise,
        where=where,
    ).to_pandas(dtype_backend=dtype_backend)


def _whole(name: str, v: object, low: int, high: int | None = None) -> int:
    """A whole-number argument in range (numpy's integers too), or an error
    naming it."""
    try:
        n = None if isinstance(v, bool) else operator.index(v)  # type: ignore[arg-type]
    except TypeError:
        n = None
    if n is None:
        raise TypeError(f"{name} is a whole number, not {v!r}")
    v = n
    if v < low or (high is not None and v > high):
        within = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {within}, not {v}")
    return v


def _flag(name: str, v: object) -> bool:
    """A true/false argument (numpy's booleans too), or an error naming it."""
    if v is True or v is False or (not isinstance(v, int | float) and v in (True, False)):
        return bool(v)
    raise TypeError(f"{name} is True or False, not {v!r}")


def _filter_spec(where: Mapping[str, Any] | None) -> Any:
    """``where=`` as the extension takes it (:mod:`ferrofix._filter`,
    imported only when a filter is given)."""
    if where is None:
        return None
    from . import _filter

    return _filter.spec(where)
