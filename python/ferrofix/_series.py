"""Inside chosen TCP connections: :func:`tcp_series` meters a capture once
more and keeps every packet's numbers of the connections asked for, as
numpy arrays (:class:`TcpSeries`); ``docs/tcp-metrics.md`` defines them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from . import _ferrofix
from ._meter import Meter

if TYPE_CHECKING:
    from ._meter import Capture
    from ._reader import Policy


class TcpSeries(NamedTuple):
    """One TCP connection's per-packet series (:func:`tcp_series`): a dict
    of numpy arrays per direction, ``forward`` the initiator's packets,
    ``reverse`` the responder's (for a uniflow record's flowId: its own
    direction's, and the other's), each row a packet in capture order.

    Columns: ``time_ns`` (capture time, ns since the epoch), ``seq`` (the
    segment's position in its direction's sequence space: 0 is the octet
    after the SYN, or the first data octet seen, or a FIN before any
    data), ``len`` (data octets),
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
    protocol]) tuples. With ``biflow=False`` the flowIds are uniflow
    records' and each series has the record's direction as ``forward``.

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
    if biflow:
        got = _ferrofix.meter_tcp_series(m._s, ids, max_packets)
        return {int(k): TcpSeries(int(k), fwd, rev, int(n)) for k, (fwd, rev, n) in got.items()}
    # Uniflow records are the directions of biflows metered as usual:
    # flowId 2n - 1 is connection n's initiator's direction, 2n the other's
    # (docs/meter.md); a record's series has its own direction forward.
    got = _ferrofix.meter_tcp_series(m._s, sorted({(k + 1) // 2 for k in ids}), max_packets)
    out: dict[int, TcpSeries] = {}
    for k in ids:
        if (k + 1) // 2 in got:
            fwd, rev, n = got[(k + 1) // 2]
            out[k] = TcpSeries(k, fwd, rev, int(n)) if k % 2 else TcpSeries(k, rev, fwd, int(n))
    return out
