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

from collections import deque
from dataclasses import dataclass, field
from functools import cache

from craft import epoch_ns
from tcp_truth_data import ints, tshark_packets

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
SACK_KIND, SACK_PERMITTED_KIND = 5, 4
MAX_TIMED = 64  # segments timed at once per direction
MAX_TSVALS = 64  # TSvals remembered at once per direction
TS_MAX_AGE = 10 * 10**9  # ns
MAX_HOLES = 32  # open gaps per direction
REORDER_DEFAULT = 3_000_000  # ns, the reordering window without an RTT estimate
MS = 1_000_000  # ns

# Per-packet event bits of ``ff.tcp_series`` (docs/tcp-metrics.md).
NEW, RETRANSMISSION, REORDERED, REPAIRED, JUMP = 0x1, 0x2, 0x4, 0x8, 0x10
FAST, TIMEOUT, TAIL_LOSS_PROBE, SPURIOUS = 0x20, 0x40, 0x80, 0x100
WINDOW_PROBE, SACK, DSACK, DUP_ACK, ZERO_WINDOW = 0x200, 0x400, 0x800, 0x1000, 0x2000
CLASSES = {FAST: "fast", TIMEOUT: "timeout", TAIL_LOSS_PROBE: "tail_loss_probe"}
CLASSES[SPURIOUS] = "spurious"


def signed(x: int) -> int:
    """A 32-bit difference as a signed number (RFC 1982 arithmetic)."""
    return (x + 2**31) % 2**32 - 2**31


def ts_before(a: int, b: int) -> bool:
    """TSval a was sent before b (RFC 7323 §5.2, modulo 2^32)."""
    return signed(a - b) < 0


@dataclass
class Timed:
    start: int
    end: int
    sent: int  # ns; a repair's is unknown (ambiguous anyway)
    again: bool


@dataclass
class Hole:
    start: int
    end: int
    opened: int  # ns
    tsval: int | None


@dataclass
class Seen:
    """What a data segment was: its octets new, seen before, filling a gap
    (reordered or repaired), the gap it opened, and one past the last of
    its octets seen before."""

    start: int
    end: int
    new: int = 0
    again: int = 0
    reordered: int = 0
    repaired: int = 0
    jump: int = 0
    again_end: int = 0

    def events(self) -> int:
        bits = (NEW, RETRANSMISSION, REORDERED, REPAIRED, JUMP)
        counts = (self.new, self.again, self.reordered, self.repaired, self.jump)
        return sum(b for b, n in zip(bits, counts, strict=True) if n)


@dataclass
class Direction:
    """One direction as the OP saw it: its data, its RTT samples (ns), its
    losses and retransmissions, and per packet what the definitions found."""

    isn: int | None = None  # its SYN's sequence number
    syn_seen: bool = False
    sack_ok: bool = False  # its SYN offered SACK-permitted
    high: int | None = None  # one past the highest data octet (or gap's FIN)
    seen: list[tuple[int, int]] = field(default_factory=list)  # disjoint, sorted
    holes: list[Hole] = field(default_factory=list)
    fin_seq: int | None = None  # its FIN's raw sequence number
    fin_pos: int | None = None
    timed: list[Timed] = field(default_factory=list)
    acked: int | None = None  # the other side's highest cumulative ACK
    tsvals: deque[tuple[int, int]] = field(default_factory=deque)
    last_tsval: int | None = None
    zero_window: bool = False  # its last advertised window was 0
    last_ack: tuple[int, int] | None = None  # (ACK number, raw window)
    handshake: int | None = None
    seq_ack: list[int] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    # Counters of the records.
    retransmitted: int = 0  # segments, SYNs and FINs sent again included
    retransmitted_octets: int = 0
    reordered: int = 0
    reordered_octets: int = 0
    repaired: int = 0
    repaired_octets: int = 0
    jumps: int = 0
    max_jump: int = 0
    loss_events: int = 0
    window_probes: int = 0
    classes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES.values(), 0))
    # Loss and recovery state: the last loss event, its duplicate ACKs
    # since its acknowledgment last advanced, its last ACK that could set a
    # retransmission off (a cue), whether that ACK's first SACK block was
    # past its acknowledgment, a timeout's recovery (until the other side
    # acknowledges this) and a tail-loss probe's episode (its end).
    last_loss: int | None = None
    dup_run: int = 0
    last_cue: int | None = None
    sack_past: bool = False
    rto_until: int | None = None
    probe_end: int | None = None
    # Per packet of this direction: the RTT sample it completed (timing
    # the other direction's data): (ns, method: 1 handshake, 2
    # sequence/ACK, 3 timestamp echo), (-1, 0) for none; a sequence/ACK
    # sample shows before a timestamp one completed by the same packet.
    per_packet: list[tuple[int, int]] = field(default_factory=list)
    # Per packet, the series' event bits.
    per_events: list[int] = field(default_factory=list)
    # What the rules did, for the tests that the captures exercise them:
    # new segments left untimed (64 timed), samples by a SACK block, ACKs
    # newly covering timed segments and giving no sample (Karn), repairs
    # timed as ambiguous, keep-alives, loss indications that were no event.
    untimed: int = 0
    by_sack: int = 0
    karn: int = 0
    repairs: int = 0
    keepalives: int = 0
    indications: int = 0

    def position(self, seq: int) -> int:
        """A sequence number relative to the octet after the SYN."""
        assert self.isn is not None, "a number before the SYN"
        return signed(seq - self.isn - 1)

    def next_expected(self) -> int | None:
        """One past the highest data octet, else the anchor after the SYN."""
        if self.high is not None:
            return self.high
        return 0 if self.isn is not None else None

    def samples(self) -> list[int]:
        hs = [] if self.handshake is None else [self.handshake]
        return self.seq_ack + self.ts + hs

    def never_seen(self) -> int:
        return sum(h.end - h.start for h in self.holes)

    def open_gap(self, start: int, end: int, now: int, tsval: int | None) -> int:
        """A segment (or a FIN) starting at `end` past the highest `start`."""
        self.holes.append(Hole(start, end, now, tsval))
        assert len(self.holes) <= MAX_HOLES, "more gaps open than the oracle models"
        self.jumps += 1
        self.max_jump = max(self.max_jump, end - start)
        return end - start

    # The sequence definitions: octets new, seen before, or filling a gap
    # (reordered: sent no later than the segment that opened the gap;
    # repaired: sent later, after a loss before the OP).
    def data(self, start: int, end: int, now: int, tsval: int | None, window: int) -> Seen:
        s = Seen(start, end)
        if self.high is None:
            self.high = 0  # the SYN was seen: data starts after it
        s.again = sum(max(0, min(end, b) - max(start, a)) for a, b in self.seen)
        s.again_end = max((min(end, b) for a, b in self.seen if a < end and start < b), default=0)
        kept = []
        for h in self.holes:
            lo, hi = max(start, h.start), min(end, h.end)
            if lo >= hi:
                kept.append(h)
                continue
            if tsval is not None and h.tsval is not None and tsval != h.tsval:
                later = ts_before(h.tsval, tsval)
            else:
                later = now - h.opened > window
            if later:
                s.repaired += hi - lo
            else:
                s.reordered += hi - lo
            if h.start < lo:
                kept.append(Hole(h.start, lo, h.opened, h.tsval))
            if hi < h.end:
                kept.append(Hole(hi, h.end, h.opened, h.tsval))
        self.holes = kept
        if start > self.high:
            s.jump = self.open_gap(self.high, start, now, tsval)
        s.new = max(0, end - max(self.high, start))
        self.high = max(self.high, end)
        self.seen = merged([*self.seen, (start, end)])
        if s.again:
            self.retransmitted += 1
            self.retransmitted_octets += s.again
        if s.reordered:
            self.reordered += 1
            self.reordered_octets += s.reordered
        if s.repaired:
            self.repaired += 1
            self.repaired_octets += s.repaired
        self.time(s, now)
        return s

    def time(self, s: Seen, now: int) -> None:
        """Which segments are timed (Karn's rule)."""
        if s.again:
            self.sent_again(s.start, s.end)
        elif s.new and not s.reordered and not s.repaired:
            if len(self.timed) < MAX_TIMED:
                self.timed.append(Timed(s.start, s.end, now, False))
            else:
                self.untimed += 1
        if s.repaired:
            self.repairs += 1
            if len(self.timed) < MAX_TIMED:
                at = sum(1 for t in self.timed if t.start < s.start)
                self.timed.insert(at, Timed(s.start, s.end, 0, True))
            else:
                for t in self.timed:
                    if t.end > s.start:
                        t.again = True

    def sent_again(self, start: int, end: int) -> None:
        for t in self.timed:
            if t.start < end and start < t.end:
                t.again = True

    def ack(self, at: int, sack: tuple[int, int] | None, now: int) -> None:
        """The other side acknowledged up to `at`, its first SACK block
        `sack`: the segments newly covered by either, together."""
        covered: list[Timed] = []
        if self.acked is None or at > self.acked:
            self.acked = at
            while self.timed and self.timed[0].end <= at:
                covered.append(self.timed.pop(0))
        sacked = []
        if sack is not None:
            sacked = [t for t in self.timed if sack[0] <= t.start and t.end <= sack[1]]
            self.timed = [t for t in self.timed if t not in sacked]
        covered += sacked
        if not covered:
            return
        # The timed list is in the order the segments were seen (a
        # repair, placed by position, is ambiguous anyway).
        newest = covered[-1]
        if any(t.again for t in covered):
            self.karn += 1
        elif now >= newest.sent:
            self.seq_ack.append(now - newest.sent)
            self.by_sack += bool(sacked)

    def sent_tsval(self, v: int, now: int) -> None:
        if self.last_tsval is not None and not ts_before(self.last_tsval, v):
            return
        self.last_tsval = v
        while self.tsvals and now - self.tsvals[0][1] > TS_MAX_AGE:
            self.tsvals.popleft()
        if len(self.tsvals) >= MAX_TSVALS:
            self.tsvals.popleft()
        self.tsvals.append((v, now))

    def echoed(self, ecr: int, now: int) -> None:
        while self.tsvals and (
            ts_before(self.tsvals[0][0], ecr) or now - self.tsvals[0][1] > TS_MAX_AGE
        ):
            self.tsvals.popleft()
        if self.tsvals and self.tsvals[0][0] == ecr and now >= self.tsvals[0][1]:
            self.ts.append(now - self.tsvals.popleft()[1])

    def loss_indication(self, now: int, estimate: int | None) -> None:
        """tcpLossEventCount: an event when more than a round trip after
        the last event, or without an estimate in a later millisecond."""
        self.indications += 1
        last = self.last_loss
        if last is None:
            new = True
        elif estimate is not None:
            new = now - last > estimate
        else:
            new = now // MS > last // MS
        if new:
            self.loss_events += 1
            self.last_loss = now


def merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


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
    d.keepalives += probe == "keepalive"
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
