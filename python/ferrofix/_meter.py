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

import glob
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from . import _ferrofix, _filter
from ._arrow import Addresses, DtypeBackend, _BatchStream

if TYPE_CHECKING:
    import pandas as pd

    from ._reader import Policy

Capture = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO


def _captures(capture: Capture | Sequence[Capture]) -> list[Any]:
    """One capture, a list of them, or a glob pattern (sorted)."""
    if isinstance(capture, list | tuple):
        out: list[Any] = []
        for c in capture:
            out.extend(_captures(c))
        return out
    if isinstance(capture, str) and any(c in capture for c in "*?[") and not Path(capture).exists():
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

    Flows: biflows by default (RFC 5103; ``biflow=False`` for one record
    per direction), keyed by IP version, addresses, ports (ICMP: type and
    code), protocol and VLAN id, oriented by their initiator (the sender of
    the SYN where one is seen, else of the first packet). A record ends
    after ``idle_timeout`` seconds without a packet (flowEndReason 1), when
    a packet comes more than ``active_timeout`` seconds after its start
    (2; the next record keeps the flowId), at a TCP RST or the
    acknowledgment of the last FIN (3), at the end of the input (4), or
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
    directions alike, fragments with their datagram); one plain capture
    file is read by every worker itself, other inputs by the calling
    thread, which hands the frames over. The records are the same as
    with one worker, timeouts included, except that flowIds are numbered
    per worker (worker ``w`` gives ``w + 1``, ``w + 1 + n``, ...), the
    rows come worker by worker rather than in the order the records
    ended, and ``max_flows`` is shared out between the workers (each
    holds at most ``max_flows / n``).

    ``on_bad_records``: what a corrupt or truncated capture does: "error"
    (the flows up to the bad byte are given, then a :class:`DecodeError`
    naming the capture and the byte offset), "warn" or "skip" (that
    capture ends there, the others go on). Malformed packets never stop
    metering: they are counted in :attr:`stats` by reason.
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
        sources = _captures(capture)
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
            spec_files=[Path(p) for p in spec_files or []],
            enterprise=enterprise,
            filter=_filter.spec(where),
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
        truncated link header, malformed IP), ``by_linktype``,
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
    ) -> bytes | None:
        """Meter into IPFIX (RFC 7011): to ``dest`` (a path, ``.gz``/``.zst``
        compressed by extension or ``compression=``; a binary file object;
        or None to get the bytes back), or to a collector with
        ``export="udp://host:4739"`` (one message per datagram of at most
        1400 octets, templates re-sent every 64 messages, RFC 7011 §8.4) or
        ``"tcp://host:4739"``. ``progress(bytes_read)`` is called as the
        captures are read."""
        if dest is not None and not isinstance(dest, str | os.PathLike) and export is None:
            if not hasattr(dest, "write"):
                raise TypeError("dest must be a path or a binary file object")
        out = self._s.write_ipfix(
            dest, export=export, compression=compression, mtu=mtu, progress=progress
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
    record (see :class:`Meter` for the options and the flow rules).

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


class TcpSeries(NamedTuple):
    """One TCP connection's per-packet series (:func:`tcp_series`): a dict
    of numpy arrays per direction, ``forward`` the initiator's packets,
    ``reverse`` the responder's, each row a packet in capture order.

    Columns: ``time_ns`` (capture time, ns since the epoch), ``seq`` (the
    segment's position in its direction's sequence space: 0 is the octet
    after the SYN, or the first data octet seen), ``len`` (data octets),
    ``ack`` (the position acknowledged in the other direction's space; -1
    without ACK), ``window`` (advertised, scaled; -1 for a RST), ``flags``
    (TCP flags), ``ecn`` (IP ECN field), ``rtt_ns`` and ``rtt_method`` (the
    RTT sample this packet completed, of the *other* direction's data: -1
    and 0 when none; methods 1 handshake, 2 sequence/ACK, 3 timestamp
    echo) and ``events`` (bits: 0x1 new data, 0x2 retransmission, 0x4
    reordered, 0x8 repaired loss, 0x10 opened a hole, 0x20 fast, 0x40
    timeout, 0x80 tail-loss probe, 0x100 spurious, 0x200 window probe,
    0x400 SACK, 0x800 D-SACK, 0x1000 duplicate ACK, 0x2000 zero window).
    ``dropped``: packets not kept once a direction held ``max_packets``.
    See ``docs/tcp-metrics.md``."""

    flow_id: int
    forward: dict[str, Any]
    reverse: dict[str, Any]
    dropped: int


FlowSelector = int | tuple[Any, ...]


def _flow_ids(
    capture: Capture | Sequence[Capture], flows: Any, options: dict[str, Any]
) -> list[int]:
    """flowIds of `flows`: ints, a DataFrame with a flowId column (e.g. a
    filtered :func:`meter` result), or (source, source port, destination,
    destination port[, protocol]) tuples, matched in either orientation by
    metering the captures once more."""
    if hasattr(flows, "columns") and "flowId" in flows.columns:
        return [int(x) for x in flows["flowId"]]
    if isinstance(flows, int):
        return [flows]
    items = list(flows)
    ids = [int(x) for x in items if isinstance(x, int)]
    tuples = [t for t in items if isinstance(t, tuple)]
    if len(ids) + len(tuples) != len(items):
        raise TypeError(
            "flows must be flowIds, (src, sport, dst, dport[, proto]) tuples or a DataFrame"
        )
    if tuples:
        names = ["flowId", "sourceTransportPort", "destinationTransportPort", "protocolIdentifier"]
        table = Meter(capture, **options).to_pandas()
        for t in tuples:
            if len(t) not in (4, 5):
                raise ValueError(f"a flow tuple has 4 or 5 items, not {t!r}")
            a, ap, b, bp = str(t[0]), int(t[1]), str(t[2]), int(t[3])
            proto = int(t[4]) if len(t) == 5 else 6
            for v in ("IPv4", "IPv6"):
                s, d = f"source{v}Address", f"destination{v}Address"
                if s not in table.columns:
                    continue
                same = (table[s].astype(str) == a) & (table[d].astype(str) == b)
                same &= (table[names[1]] == ap) & (table[names[2]] == bp)
                back = (table[s].astype(str) == b) & (table[d].astype(str) == a)
                back &= (table[names[1]] == bp) & (table[names[2]] == ap)
                hit = table[(same | back) & (table[names[3]] == proto)]
                ids.extend(int(x) for x in hit["flowId"])
    return ids


def tcp_series(
    capture: Capture | Sequence[Capture],
    flows: Any,
    *,
    max_packets: int = 1_000_000,
    idle_timeout: float = 30.0,
    active_timeout: float = 300.0,
    biflow: bool = True,
    max_flows: int = 1 << 20,
    decapsulate: bool = False,
    on_bad_records: Policy = "error",
    specs: Sequence[str] | None = None,
    spec_files: Sequence[str | os.PathLike[str]] | None = None,
) -> dict[int, TcpSeries]:
    """The per-packet series of chosen TCP connections, for a look inside
    them (time-sequence graphs, RTT over time, windows): meter ``capture``
    again and keep, for each connection in ``flows``, every packet's
    numbers as numpy arrays (:class:`TcpSeries`), at most ``max_packets``
    a direction. ``flows``: flowIds from :func:`meter` of the same capture
    with the same options (and one worker), a filtered DataFrame of its
    result, or (source, source port, destination, destination port[,
    protocol]) tuples.

    >>> flows = ff.meter("trace.pcap")                                   # doctest: +SKIP
    >>> slow = flows[flows.tcpRetransmitCount > 10]                       # doctest: +SKIP
    >>> s = ff.tcp_series("trace.pcap", slow)[int(slow.flowId.iloc[0])]   # doctest: +SKIP
    >>> plt.plot(s.forward["time_ns"], s.forward["seq"], ".")            # doctest: +SKIP
    """
    if max_packets < 1:
        raise ValueError("max_packets must be at least 1")
    options: dict[str, Any] = dict(
        idle_timeout=idle_timeout,
        active_timeout=active_timeout,
        biflow=biflow,
        max_flows=max_flows,
        decapsulate=decapsulate,
        on_bad_records=on_bad_records,
        specs=specs,
        spec_files=spec_files,
    )
    ids = _flow_ids(capture, flows, options)
    try:
        import numpy  # noqa: F401  (the arrays are numpy's)
    except ImportError as e:  # pragma: no cover - numpy comes with pandas
        raise ImportError("tcp_series needs numpy: pip install numpy") from e
    m = Meter(capture, **options)
    got = _ferrofix.meter_tcp_series(m._s, ids, max_packets)
    return {int(k): TcpSeries(int(k), fwd, rev, int(n)) for k, (fwd, rev, n) in got.items()}
