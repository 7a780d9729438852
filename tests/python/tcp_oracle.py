"""The TCP metrics' written definitions (``docs/tcp-metrics.md``) as a
Python model, applied to tshark's reading of every packet of a truth
capture (``tcp_truth_data.tshark_packets``: raw sequence and
acknowledgment numbers, SACK edges, TSval/TSecr, windows and capture
times, read by Wireshark's dissector, independent of ferrofix).

Written from the documents, not from the meter's code: per direction, the
sequence space (octets new, seen again, filling a gap as reordering or as
a repair), keep-alives and window probes, the round-trip samples of the
three methods, loss events, and the retransmission classes. A packet is
taken in the order the definitions read it: the handshake, the
direction's data (and its retransmission's class), its FIN, its window,
then its ACK of the other side's data. The round-trip estimate the
definitions use is the one that stood before the packet.

The tests that compare the meter's records with it:
``test_tcp_rtt_oracle.py`` (round-trip times), ``test_tcp_loss_oracle.py``
(sequence, loss and retransmission classes) and
``test_tcp_capture_loss.py`` (segments deleted from a capture).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from craft import epoch_ns
from tcp_oracle_direction import (
    ACK,
    CLASSES,
    DSACK,
    DUP_ACK,
    FAST,
    FIN,
    JUMP,
    REORDER_DEFAULT,
    RETRANSMISSION,
    RST,
    SACK,
    SACK_KIND,
    SACK_PERMITTED_KIND,
    SPURIOUS,
    SYN,
    TAIL_LOSS_PROBE,
    TIMEOUT,
    WINDOW_PROBE,
    ZERO_WINDOW,
    Direction,
)
from tcp_truth_data import ROOT, ints, metered, points, tshark_packets

import ferrofix as ff

__all__ = ["CLASSES", "JUMP", "Direction", "directions", "series_directions"]


def estimate_of(dirs: tuple[Direction, Direction]) -> int | None:
    """The round trip at the OP: the handshake's halves, else the sum of
    both directions' smallest samples."""
    a, b = dirs[0].handshake, dirs[1].handshake
    if a is not None and b is not None:
        return a + b
    if dirs[0].samples() and dirs[1].samples():
        return min(dirs[0].samples()) + min(dirs[1].samples())
    return None


def probe_kind(d: Direction, r: Direction, n: int, flags: int, at: int | None) -> str | None:
    """A keep-alive or a zero-window probe of d (at most one octet, no SYN,
    FIN or RST), by the definitions of tcpRetransmitCount and
    tcpWindowProbeCount; None for anything else."""
    nxt = d.next_expected()
    if n > 1 or flags & (SYN | FIN | RST) or at is None or nxt is None:
        return None
    before_next = at == nxt - 1
    if r.zero_window:
        linux = n == 0 and d.acked is not None and at == d.acked - 1
        octet = n == 1 and (at == nxt or before_next)
        return "window" if linux or (n == 0 and before_next) or octet else None
    return "keepalive" if before_next and d.acked is not None and d.acked >= nxt else None


def classify(
    d: Direction,
    r: Direction,
    resent_end: int,
    end: int,
    highest: bool,
    now: int,
    estimate: int | None,
) -> int:
    """The class of d's retransmission whose octets seen before end at
    `resent_end` (the whole segment at `end`; `highest`: it re-sends d's
    highest segment): its event bit, counted."""
    assert d.high is not None or d.fin_pos is not None
    # Past everything d sent, its FIN included: a probe's episode's end.
    fin_end = None if d.fin_pos is None else d.fin_pos + 1
    sent_end = max(x for x in (d.high, end, fin_end) if x is not None)
    if d.acked is not None and resent_end <= d.acked:
        bit = SPURIOUS
    elif d.rto_until is not None:
        bit = TIMEOUT
    else:
        if estimate is not None:
            half = min(r.samples(), default=0)
            quiet = None if r.last_cue is None else now - r.last_cue
            silence = quiet is None or quiet > half + estimate * 3 // 2
        else:
            silence = not (r.dup_run >= 3 or r.sack_past)
        no_sack = d.syn_seen and r.syn_seen and not (d.sack_ok and r.sack_ok)
        if not silence:
            bit = FAST
        elif highest and d.probe_end is None and not no_sack:
            bit = TAIL_LOSS_PROBE
        else:
            bit = TIMEOUT
            d.rto_until = d.high
    if bit in (FAST, TIMEOUT):
        d.probe_end = None
    elif bit == TAIL_LOSS_PROBE:
        d.probe_end = sent_end
    d.classes[CLASSES[bit]] += 1
    return bit


@dataclass
class Handshake:
    syn: tuple[int, int, int] | None = None  # (sender, time, seq)
    syns: int = 0
    synack: tuple[int, int] | None = None  # (time, seq)
    synacks: int = 0
    done: bool = False  # the SYN/ACK's ACK was taken (or found ambiguous)


def _handshake(
    hs: Handshake,
    dirs: tuple[Direction, Direction],
    side: int,
    flags: int,
    seq: int,
    ack: int,
    t: int,
) -> None:
    """SYN to SYN/ACK is the initiator's half, SYN/ACK to its ACK the
    responder's; none when the SYN (or SYN/ACK) was seen twice."""
    if flags & SYN and not flags & ACK:
        if hs.syn is None:
            hs.syn, hs.syns = (side, t, seq), 1
        elif hs.syn[0] == side and hs.syn[2] == seq:
            hs.syns += 1
    elif flags & SYN:
        if hs.syn is None or hs.syn[0] == side:
            return
        if hs.synack is None:
            hs.synack, hs.synacks = (t, seq), 1
            if hs.syns == 1 and t >= hs.syn[1]:
                dirs[hs.syn[0]].handshake = t - hs.syn[1]
        elif hs.synack[1] == seq:
            hs.synacks += 1
    elif flags & ACK and hs.syn is not None and hs.synack is not None:
        if hs.syn[0] == side and not hs.done and ack == (hs.synack[1] + 1) % 2**32:
            hs.done = True
            if hs.synacks == 1 and t >= hs.synack[0]:
                dirs[1 - side].handshake = t - hs.synack[0]


def _sack_blocks_sent(p: dict[str, str]) -> int:
    """SACK blocks the packet's options announce, by their length octets."""
    sized = [k for k in ints(p["tcp.option_kind"]) if k > 1]  # EOL and NOP have no length
    lengths = ints(p["tcp.option_len"])
    return sum((n - 2) // 8 for k, n in zip(sized, lengths, strict=True) if k == SACK_KIND)


@cache
def directions(
    scenario: str, point: str, ports: tuple[int, int], dropped: frozenset[int] = frozenset()
) -> tuple[Direction, Direction]:
    """The connection's forward (from ports[0]) and reverse directions, of
    the capture without the frames numbered in `dropped`."""
    dirs = (Direction(), Direction())
    hs = Handshake()
    for p in tshark_packets(scenario, point):
        sport, dport = int(p["tcp.srcport"]), int(p["tcp.dstport"])
        if {sport, dport} != set(ports) or int(p["frame.number"]) in dropped:
            continue
        side = 0 if sport == ports[0] else 1
        _packet(p, dirs, side, hs)
    return dirs


def _packet(p: dict[str, str], dirs: tuple[Direction, Direction], side: int, hs: Handshake) -> None:
    d, r = dirs[side], dirs[1 - side]
    now = epoch_ns(p["frame.time_epoch"])
    flags, n = int(p["tcp.flags"], 16), int(p["tcp.len"])
    seq, ack = int(p["tcp.seq_raw"]), int(p["tcp.ack_raw"] or 0)
    kinds = ints(p["tcp.option_kind"])
    tsvals = ints(p["tcp.options.timestamp.tsval"])
    ecrs = ints(p["tcp.options.timestamp.tsecr"])
    tsval = tsvals[0] if tsvals else None
    before = (len(r.seq_ack), len(r.ts), dirs[0].handshake, dirs[1].handshake)
    # The round trip as it stood before the packet; the reordering window
    # half of it, else 3 ms.
    estimate = estimate_of(dirs)
    window = REORDER_DEFAULT if estimate is None else estimate // 2
    _handshake(hs, dirs, side, flags, seq, ack, now)
    events = 0
    if flags & SYN:
        d.syn_seen = True
        d.sack_ok |= SACK_PERMITTED_KIND in kinds
        if d.isn is None:
            d.isn = seq
        elif d.isn == seq and n == 0:
            # A SYN sent again: a timeout, and a loss indication.
            d.retransmitted += 1
            d.classes["timeout"] += 1
            d.loss_indication(now, estimate)
            events |= RETRANSMISSION | TIMEOUT
    start = d.position(seq + bool(flags & SYN)) if d.isn is not None else None
    probe = probe_kind(d, r, n, flags, start)
    if probe == "window":
        d.window_probes += 1
        events |= WINDOW_PROBE
    if probe and not (n == 1 and start == d.high):
        # Not data: an ACK covering its octet is ambiguous (Karn).
        if n and start is not None:
            d.sent_again(start, start + 1)
    elif n > 0 and not flags & RST:
        assert start is not None, "data before the SYN"
        s = d.data(start, start + n, now, tsval, window)
        events |= s.events()
        if s.again:
            events |= classify(d, r, s.again_end, s.end, d.high == s.end, now, estimate)
        if s.again or s.jump:
            d.loss_indication(now, estimate)
    if flags & FIN:
        fin_seq = (seq + bool(flags & SYN) + n) % 2**32
        at = d.position(fin_seq)
        if d.fin_seq == fin_seq and n == 0:
            # A FIN sent again, as the segment of its one number.
            d.retransmitted += 1
            highest = d.high is None or at >= d.high
            events |= RETRANSMISSION | classify(d, r, at + 1, at + 1, highest, now, estimate)
            d.loss_indication(now, estimate)
        else:
            d.fin_seq = fin_seq
            nxt = d.next_expected()
            if n == 0 and nxt is not None and at > nxt:
                # Past the next expected position: a gap, as data's.
                if d.high is None:
                    d.high = nxt
                d.open_gap(d.high, at, now, tsval)
                d.high = at
                events |= JUMP
                d.loss_indication(now, estimate)
        d.fin_pos = at
    if (n > 0 or flags & (SYN | FIN)) and not flags & RST and tsval is not None:
        d.sent_tsval(tsval, now)
    if not flags & RST:
        d.zero_window = int(p["tcp.window_size"] or 1) == 0
        events |= ZERO_WINDOW if d.zero_window else 0
    cue = False
    if flags & ACK and not flags & RST:
        at = r.position(ack)
        pure = n == 0 and not flags & (SYN | FIN)
        raw_window = int(p["tcp.window_size_value"] or -1)
        repeat = pure and d.last_ack == (ack, raw_window)
        d.last_ack = (ack, raw_window)
        nxt = d.fin_pos + 1 if d.fin_pos is not None else d.next_expected()
        in_order = nxt is None or d.isn is None or d.position(seq) == nxt
        outstanding = r.high is not None and r.high > at
        dup = repeat and in_order and raw_window != 0 and outstanding
        sacks = _sack_blocks_sent(p)
        dsack = bool(p["tcp.options.sack.dsack_le"])
        events |= (DUP_ACK if dup else 0) | (SACK if sacks else 0) | (DSACK if dsack else 0)
        advanced = r.acked is None or at > r.acked
        end = r.probe_end
        if end is not None and (at > end or (at == end and (dsack or (repeat and not advanced)))):
            r.probe_end = None
        if advanced:
            d.dup_run = 0
            if r.rto_until is not None and at >= r.rto_until:
                r.rto_until = None
        elif dup:
            d.dup_run += 1
        le, re = ints(p["tcp.options.sack_le"]), ints(p["tcp.options.sack_re"])
        sack = (r.position(le[0]), r.position(re[0])) if le and re else None
        d.sack_past = sack is not None and sack[1] > at
        r.ack(at, sack, now)
        if ecrs and (ecrs[0] != 0 or not flags & SYN):
            r.echoed(ecrs[0], now)
        cue = dup or sacks > 0 or advanced
    if cue:
        d.last_cue = now
    d.per_events.append(events)
    if len(r.seq_ack) > before[0]:
        d.per_packet.append((r.seq_ack[-1], 2))
    elif (dirs[0].handshake, dirs[1].handshake) != before[2:]:
        half = dirs[0].handshake if dirs[0].handshake != before[2] else dirs[1].handshake
        assert half is not None
        d.per_packet.append((half, 1))
    elif len(r.ts) > before[1]:
        d.per_packet.append((r.ts[-1], 3))
    else:
        d.per_packet.append((-1, 0))


def series_directions(scenario: str) -> Iterator[tuple[str, Direction, dict[str, Any]]]:
    """Every direction of every TCP connection of a scenario at every
    observation point with its per-packet series (``ff.tcp_series`` of the
    capture, for the meter's records of it): (where, the oracle's
    direction, the series' columns)."""
    for point in points(scenario):
        flows = metered(scenario, point)
        series = ff.tcp_series(ROOT / f"{scenario}.{point}.s96.pcap.zst", flows)
        for _, f in flows.iterrows():
            ports = (int(f["sourceTransportPort"]), int(f["destinationTransportPort"]))
            s = series[int(f["flowId"])]
            assert s.dropped == 0
            fwd, rev = directions(scenario, point, ports)
            yield f"{scenario} {point} {ports} forward", fwd, s.forward
            yield f"{scenario} {point} {ports} reverse", rev, s.reverse
