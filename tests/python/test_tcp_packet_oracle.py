"""TCP metrics of the truth captures against tshark's reading of every
packet (Wireshark's dissector, an implementation independent of
ferrofix), each direction of every connection at every observation point.

Three kinds of comparison, by what tshark gives:
- its fields directly: the options seen, the IP ECN field, CWR, and the
  window it scales itself (``tcp.window_size``, from the SYNs it saw);
- its analysis: duplicate ACKs (``tcp.analysis.duplicate_ack``), with
  ferrofix's one addition, data outstanding from the other side;
- the written definitions (``docs/tcp-metrics.md``) applied to its
  relative sequence and acknowledgment numbers: data in flight, sequence
  jumps and retransmitted octets. The kernel's own counts hold the last
  beside the sender (``test_tcp_truth.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache

import pandas as pd
import pytest
from tcp_truth_data import (
    SCENARIOS,
    connections,
    ints,
    needs_tshark,
    points,
    row,
    tshark_packets,
    value,
)

FIN, SYN, RST, ACK, CWR = 0x01, 0x02, 0x04, 0x10, 0x80
SACK_KIND, SACK_PERMITTED_KIND = 5, 4


def _round_half_up(total: int, n: int) -> int:
    return (2 * total + n) // (2 * n)


@dataclass
class Direction:
    """One direction's numbers, as tshark's fields give them. Positions
    are sequence numbers relative to the direction's SYN (as tshark's
    relative numbers): 1 is the octet after it."""

    isn: int | None = None  # the SYN's sequence number
    options: int = 0  # tcpOptionsSeen's bits
    characteristics: int = 0  # qofTcpCharacteristics' bits
    ect0: int = 0
    ect1: int = 0
    ce: int = 0
    cwr: int = 0
    windows: list[int] = field(default_factory=list)
    dup_acks: int = 0
    # Pure ACKs whose TCP header the snaplen cut: tshark's analysis
    # stops at them, so they have no duplicate-ACK flag either way.
    cut_acks: int = 0
    high: int | None = None  # one past the highest data octet
    next: int = 1  # the next expected position
    acked: int | None = None  # the other side's highest acknowledgment
    flights: list[int] = field(default_factory=list)
    jumps: list[int] = field(default_factory=list)
    seen: list[tuple[int, int]] = field(default_factory=list)  # disjoint, sorted
    retransmitted_octets: int = 0
    # The octets sent before the other side first acknowledged any of its
    # data (from the anchor to the highest octet then).
    initial_window: int | None = None

    def data(self, start: int, end: int) -> None:
        """A data segment [start, end): its octets seen before and the
        highest octet."""
        again = sum(max(0, min(end, b) - max(start, a)) for a, b in self.seen)
        self.retransmitted_octets += again
        merged: list[tuple[int, int]] = []
        for a, b in sorted([*self.seen, (start, end)]):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self.seen = merged
        self.high = end if self.high is None else max(self.high, end)


@cache
def directions(scenario: str, point: str, ports: tuple[int, int]) -> tuple[Direction, Direction]:
    """The connection's forward (from ports[0]) and reverse directions."""
    fwd, rev = Direction(), Direction()
    for p in tshark_packets(scenario, point):
        sport, dport = int(p["tcp.srcport"]), int(p["tcp.dstport"])
        if {sport, dport} != set(ports):
            continue
        d, other = (fwd, rev) if sport == ports[0] else (rev, fwd)
        flags, n = int(p["tcp.flags"], 16), int(p["tcp.len"])
        if flags & SYN:
            d.isn = int(p["tcp.seq_raw"])
        assert d.isn is not None, f"{scenario} {point}: data before the SYN"
        seq = (int(p["tcp.seq_raw"]) - d.isn) % 2**32
        # IP ECN (RFC 3168 §5): 10 ECT(0), 01 ECT(1), 11 CE.
        ecn = int(p["ip.dsfield.ecn"] or p["ipv6.tclass.ecn"] or 0)
        d.ect0 += ecn == 2
        d.ect1 += ecn == 1
        d.ce += ecn == 3
        d.characteristics |= {0: 0, 2: 0x01, 1: 0x02, 3: 0x04}[ecn]
        d.cwr += bool(flags & CWR and not flags & SYN)
        # Options tshark read whole (a cut one has a kind and no value).
        kinds = ints(p["tcp.option_kind"])
        if p["tcp.options.mss_val"]:
            d.options |= 0x01
        if p["tcp.options.wscale.shift"]:
            d.options |= 0x02
            d.characteristics |= 0x40
        if SACK_PERMITTED_KIND in kinds:
            d.options |= 0x04
            d.characteristics |= 0x20
        if p["tcp.options.timestamp.tsecr"]:
            d.options |= 0x08
            d.characteristics |= 0x10
        sized = [k for k in kinds if k > 1]  # EOL and NOP have no length
        lengths = ints(p["tcp.option_len"])
        if any(k == SACK_KIND and n_ >= 10 for k, n_ in zip(sized, lengths, strict=True)):
            d.options |= 0x10
        if not flags & RST:
            d.windows.append(int(p["tcp.window_size"]))
        ack = None
        if flags & ACK and not flags & RST:
            assert other.isn is not None, f"{scenario} {point}: an ACK before the SYN"
            ack = (int(p["tcp.ack_raw"]) - other.isn) % 2**32
        pure = n == 0 and not flags & (SYN | FIN | RST) and flags & ACK
        dup = p["tcp.analysis.duplicate_ack"]
        if dup and ack is not None and other.high is not None and other.high > ack:
            d.dup_acks += 1
        if p["_ws.short"] and pure:
            d.cut_acks += 1
        if (n > 0 and not flags & RST) or (flags & FIN and n == 0):
            if seq > d.next:
                d.jumps.append(seq - d.next)
            d.next = max(d.next, seq + n)
        if n > 0 and not flags & RST:
            d.data(seq, seq + n)
        if ack is not None:
            other.acked = ack if other.acked is None else max(other.acked, ack)
            if other.initial_window is None and other.high is not None and ack > 1:
                other.initial_window = other.high - 1
        if n > 0 and not flags & RST and d.acked is not None and d.high is not None:
            d.flights.append(max(0, d.high - d.acked))
    return fwd, rev


def _each_direction(
    scenario: str,
) -> Iterator[tuple[str, pd.Series, Callable[[str], str], Direction]]:
    """(where, the record, its column for a name, tshark's direction)."""
    for point in points(scenario):
        for conn in connections(scenario):
            ft = conn["five_tuple"]
            r = row(scenario, point, conn)
            fwd, rev = directions(scenario, point, (ft["sport"], ft["dport"]))
            for prefix, d in (("", fwd), ("reverse", rev)):

                def col(name: str, prefix: str = prefix) -> str:
                    return prefix + name[0].upper() + name[1:] if prefix else name

                yield f"{scenario} {point} {prefix or 'forward'}", r, col, d


@needs_tshark
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_options_ecn_and_cwr_are_tsharks(scenario: str) -> None:
    for where, r, col, d in _each_direction(scenario):
        want = {
            "tcpOptionsSeen": d.options,
            "qofTcpCharacteristics": d.characteristics,
            "ectMarkCount": d.ect0 + d.ect1,
            "tcpEct1PacketCount": d.ect1,
            "ceMarkCount": d.ce,
            "tcpCwrCount": d.cwr,
        }
        for name, expected in want.items():
            assert value(r[col(name)]) == expected, f"{where} {col(name)}"


@needs_tshark
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_advertised_windows_are_tsharks_scaled_ones(scenario: str) -> None:
    """Every truth capture has both SYNs, so the scale is known and
    tshark scales every window but the SYNs' (RFC 7323 §2.2)."""
    for where, r, col, d in _each_direction(scenario):
        assert value(r[col("minTcpRwin")]) == min(d.windows), where
        assert value(r[col("maxTcpRwin")]) == max(d.windows), where
        mean = _round_half_up(sum(d.windows), len(d.windows))
        assert value(r[col("meanTcpRwin")]) == mean, where


@needs_tshark
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_duplicate_acks_are_tsharks_with_data_outstanding(scenario: str) -> None:
    """Where the snaplen cut a pure ACK's TCP header (the SACK option of
    IPv6 with timestamps), tshark does not analyse it: there its count is
    a lower bound."""
    for where, r, col, d in _each_direction(scenario):
        got = value(r[col("tcpDupAckCount")])
        if d.cut_acks == 0:
            assert got == d.dup_acks, where
        else:
            assert got is not None and d.dup_acks <= got <= d.dup_acks + d.cut_acks, where


@needs_tshark
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_flight_jumps_and_retransmitted_octets_follow_their_definitions(scenario: str) -> None:
    for where, r, col, d in _each_direction(scenario):
        flight = max(d.flights) if d.flights else None
        assert value(r[col("maxTcpFlightOctets")]) == flight, where
        mean = _round_half_up(sum(d.flights), len(d.flights)) if d.flights else None
        assert value(r[col("meanTcpFlightOctets")]) == mean, where
        assert value(r[col("maxTcpSequenceJump")]) == max(d.jumps, default=0), where
        assert value(r[col("tcpSequenceJumpCount")]) == len(d.jumps), where
        got = value(r[col("tcpRetransmittedOctetCount")])
        assert got == d.retransmitted_octets, where


@needs_tshark
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_initial_windows_follow_their_definition(scenario: str) -> None:
    """Null for a direction whose data was never acknowledged (or that
    sent none)."""
    for where, r, col, d in _each_direction(scenario):
        assert value(r[col("tcpInitialWindowOctets")]) == d.initial_window, where


@needs_tshark
def test_the_captures_hold_what_the_comparisons_need() -> None:
    """The comparisons above are not of zeros: every number but ECT(1)
    (no truth scenario sends L4S) is non-zero somewhere, duplicate ACKs
    also where tshark analysed every packet, and every option bit is set
    somewhere."""
    totals: dict[str, int] = {}
    options = 0
    for scenario in SCENARIOS:
        for _, _, _, d in _each_direction(scenario):
            options |= d.options
            for name, count in (
                ("ect", d.ect0),
                ("ce", d.ce),
                ("cwr", d.cwr),
                ("flight", max(d.flights, default=0)),
                ("jumps", len(d.jumps)),
                ("retransmitted", d.retransmitted_octets),
                ("exact dup acks", d.dup_acks if d.cut_acks == 0 else 0),
                ("cut acks", d.cut_acks),
                ("scaled windows", max(d.windows) > 0xFFFF),
                ("initial windows", d.initial_window or 0),
            ):
                totals[name] = totals.get(name, 0) + int(count)
    assert min(totals.values()) > 0, totals
    assert options == 0x1F, hex(options)
