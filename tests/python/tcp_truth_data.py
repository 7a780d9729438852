"""The truth captures of `test_tcp_truth.py`: where they are, what the
harness recorded of each (the kernels' counters, the shaper's log), the
meter's records of each capture, and tshark's reading of their segments
(the oracle for which segment arrived where and when)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest

import ferrofix as ff

ROOT = Path(__file__).resolve().parents[1] / "data"
SETS = ("tcp-truth-ref", "tcp-truth", "tcp-truth-cases")
SCENARIOS = [
    f"{d}/{s['scenario']}"
    for d in SETS
    for s in json.loads((ROOT / d / "index.json").read_text())["scenarios"]
]
# The client's direction is queue 0 of the shaper, the server's queue 1.
CLIENT_QUEUE, SERVER_QUEUE = 0, 1


@cache
def truth(scenario: str) -> dict[str, Any]:
    return json.loads((ROOT / f"{scenario}.truth.json").read_text())


@cache
def metered(scenario: str, point: str) -> pd.DataFrame:
    df = ff.meter(ROOT / f"{scenario}.{point}.s96.pcap.zst")
    return df[df.protocolIdentifier == 6]


def row(scenario: str, point: str, conn: dict[str, Any]) -> pd.Series:
    """The biflow record of a connection (oriented by its initiator)."""
    ft = conn["five_tuple"]
    df = metered(scenario, point)
    r = df[(df.sourceTransportPort == ft["sport"]) & (df.destinationTransportPort == ft["dport"])]
    assert len(r) == 1, f"{scenario} {point}: {len(r)} records for {ft}"
    return r.iloc[0]


def connections(scenario: str) -> list[dict[str, Any]]:
    return truth(scenario)["connections"]


def events(scenario: str, conn: dict[str, Any], queue: int, kinds: tuple[str, ...]) -> list[dict]:
    """The shaper's events of one kind on one direction of a connection."""
    ft = conn["five_tuple"]
    ports = {ft["sport"], ft["dport"]}
    return [
        e
        for e in truth(scenario)["shaper"]["events"]
        if e["queue"] == queue and e["event"] in kinds and {e["sport"], e["dport"]} == ports
    ]


def distinct_octets(evs: list[dict]) -> int:
    """Octets covered by the events' segments, each counted once (a
    segment dropped, retransmitted and dropped again is one loss)."""
    if not evs:
        return 0
    base = evs[0]["seq"]
    spans = []
    for e in evs:
        start = (e["seq"] - base + 2**31) % 2**32 - 2**31
        spans.append((start, start + e["payload"]))
    total, end = 0, None
    for a, b in sorted(spans):
        if end is None or a >= end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


TSHARK = shutil.which("tshark") is not None
needs_tshark = pytest.mark.skipif(not TSHARK, reason="tshark (the oracle) is not installed")


FIELDS = [
    *("-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.seq_raw", "-e", "tcp.len"),
    *("-e", "frame.time_epoch", "-e", "tcp.options.timestamp.tsval"),
    *("-e", "tcp.analysis.initial_rtt"),
]


@dataclass(frozen=True)
class Arrival:
    """A data segment as tshark reads it from a capture."""

    sport: int
    dport: int
    seq: int
    len: int
    t: float  # arrival time, seconds
    timestamps: bool  # carries the TCP timestamps option
    # The handshake's round trip at the capture (SYN to the ACK of the
    # SYN/ACK) as tshark measures it, seconds; tshark leaves it off some
    # segments.
    initial_rtt: float | None


def tshark_pcap(scenario: str, point: str, *args: str) -> str:
    raw = (ROOT / f"{scenario}.{point}.s96.pcap.zst").read_bytes()
    pcap = subprocess.run(["zstd", "-dc"], input=raw, check=True, capture_output=True).stdout
    return subprocess.run(
        ["tshark", "-r", "-", *args], input=pcap, check=True, capture_output=True
    ).stdout.decode()


def points(scenario: str) -> list[str]:
    """The observation points a scenario was captured at."""
    return [p for p in ("snd", "rcv", "mid") if (ROOT / f"{scenario}.{p}.s96.pcap.zst").exists()]


# The TCP header fields and capture times the per-packet oracle tests read,
# in one tshark run per capture: raw sequence and acknowledgment numbers,
# so that they and the SACK edges are in one space.
PACKET_FIELDS = (
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.len",
    "tcp.window_size",
    "tcp.window_size_value",
    "ip.dsfield.ecn",
    "ipv6.tclass.ecn",
    "tcp.option_kind",
    "tcp.option_len",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.options.timestamp.tsval",
    "tcp.options.timestamp.tsecr",
    "tcp.options.sack_le",
    "tcp.options.sack_re",
    "tcp.options.sack.dsack_le",
    "tcp.analysis.duplicate_ack",
    "_ws.short",
    "frame.time_epoch",
    "frame.number",
)


def ints(text: str) -> list[int]:
    """A repeated tshark field's values."""
    return [int(x) for x in text.split(",") if x]


@cache
def tshark_packets(scenario: str, point: str) -> tuple[dict[str, str], ...]:
    """tshark's PACKET_FIELDS of every TCP packet of a truth capture, in
    capture order (every occurrence of a repeated field, comma-separated;
    a field tshark did not read is empty)."""
    args = ["-o", "tcp.relative_sequence_numbers:FALSE", "-Y", "tcp"]
    args += ["-T", "fields", "-E", "occurrence=a"]
    for f in PACKET_FIELDS:
        args += ["-e", f]
    text = tshark_pcap(scenario, point, *args)
    return tuple(
        dict(zip(PACKET_FIELDS, line.split("\t"), strict=True)) for line in text.splitlines()
    )


@cache
def arrivals(scenario: str, point: str) -> list[Arrival]:
    """The capture's data segments in capture order."""
    out = []
    text = tshark_pcap(scenario, point, "-Y", "tcp.len > 0", "-T", "fields", *FIELDS)
    for line in text.splitlines():
        sp, dp, seq, n, t, tsval, irtt = line.split("\t")
        rtt = float(irtt) if irtt else None
        out.append(Arrival(int(sp), int(dp), int(seq), int(n), float(t), tsval != "", rtt))
    return out


def segments(scenario: str, point: str, sport: int, dport: int, base: int) -> list[tuple[int, int]]:
    """One direction's data segments at a capture, as [start, end) relative
    to `base`, in arrival order."""
    return [(s, e) for s, e, _ in timed_segments(scenario, point, sport, dport, base)]


def timed_segments(
    scenario: str, point: str, sport: int, dport: int, base: int
) -> list[tuple[int, int, float]]:
    """As `segments`, with each one's arrival time."""
    out = []
    for a in arrivals(scenario, point):
        if (a.sport, a.dport) == (sport, dport):
            start = (a.seq - base + 2**31) % 2**32 - 2**31
            out.append((start, start + a.len, a.t))
    return out


def has_timestamps(scenario: str, point: str, sport: int, dport: int) -> bool:
    ours = [a for a in arrivals(scenario, point) if (a.sport, a.dport) == (sport, dport)]
    return any(a.timestamps for a in ours)


def initial_rtt(scenario: str, point: str, sport: int, dport: int) -> float:
    """The handshake's round trip at the capture, seconds
    (`tcp.analysis.initial_rtt`, one per connection, on its data segments
    either way)."""
    ends = {(sport, dport), (dport, sport)}
    ours = [a for a in arrivals(scenario, point) if (a.sport, a.dport) in ends]
    return next(a.initial_rtt for a in ours if a.initial_rtt is not None)


def within(measured_us: float, kernel_us: float) -> bool:
    """The brief's bound: max(0.2 ms, 3%)."""
    return abs(measured_us - kernel_us) <= max(200.0, 0.03 * kernel_us)


def column(prefix: str, name: str) -> str:
    """A record's column of a direction: ``name`` itself for the forward
    direction (prefix ""), ``reverseName`` for the reverse."""
    return prefix + name[0].upper() + name[1:] if prefix else name


def value(x: Any) -> int | None:
    """A record's integer value, None where null."""
    return None if pd.isna(x) else int(x)


D = TypeVar("D")


def each_direction(
    scenario: str, directions: Callable[[str, str, tuple[int, int]], tuple[D, D]]
) -> Iterator[tuple[str, pd.Series, str, D, D]]:
    """Every direction of every connection of a scenario at every
    observation point: (where, the connection's record, the direction's
    column prefix, an oracle's direction, its other direction), the
    oracle's by ``directions(scenario, point, (sport, dport))`` (forward,
    reverse)."""
    for point in points(scenario):
        for conn in connections(scenario):
            ft = conn["five_tuple"]
            r = row(scenario, point, conn)
            fwd, rev = directions(scenario, point, (ft["sport"], ft["dport"]))
            yield f"{scenario} {point} forward", r, "", fwd, rev
            yield f"{scenario} {point} reverse", r, "reverse", rev, fwd
