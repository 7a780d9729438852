"""One direction of a TCP connection as the written definitions
(``docs/tcp-metrics.md``) read it, for the oracle of ``tcp_oracle.py``: its
sequence space (octets new, seen again, filling a gap as reordering or as
a repair), its timed segments and RTT samples, its losses and recovery
state, and per packet what the definitions found."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

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
CLASSES = {
    FAST: "fast",
    TIMEOUT: "timeout",
    TAIL_LOSS_PROBE: "tail_loss_probe",
    SPURIOUS: "spurious",
}


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
    # timed as ambiguous, loss indications (some of which make no event).
    untimed: int = 0
    by_sack: int = 0
    karn: int = 0
    repairs: int = 0
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
