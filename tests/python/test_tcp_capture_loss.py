"""Capture loss of known octets. The truth captures taken beside the
receiver, on paths that neither lose nor reorder the client's data, hold
every data segment once and in order; editcap (Wireshark's, independent
of ferrofix) then deletes chosen ones, as a capture that missed them.
What the capture lost is then known exactly, from the list of deleted
frames:

- the octets never seen (``tcpSequenceLossCount``) and lost before the OP
  (``tcpUpstreamLossOctetCount``) are the deleted segments' octets, none
  repaired or reordered;
- each run of consecutive deleted segments makes one sequence jump (the
  last run's at the FIN), of the run's octets at most;
- the capture-gap bit of ``tcpMeasurementQuality`` is set, where the
  whole capture leaves it clear;
- the server's ACKs of data the capture no longer holds, and their
  largest excess, are those the definition of ``tcpAckedUnseenCount``
  (docs/tcp-metrics.md) finds in tshark's reading of the frames kept;
- the RTT statistics of both directions still follow their definitions
  (``test_tcp_rtt_oracle.py``) with the segments gone.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from tcp_oracle import JUMP, directions
from tcp_truth_data import ROOT, SCENARIOS, connections, needs_tshark, points, truth, tshark_packets
from test_tcp_loss_oracle import check_events, check_fields
from test_tcp_rtt_oracle import check_histogram, check_statistics

import ferrofix as ff

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
CAPTURE_GAP = 0x10  # tcpMeasurementQuality
IMPAIRMENTS = ("loss", "drop", "reorder", "rate_mbit")


def _clean_to_server(scenario: str) -> bool:
    spec = truth(scenario)["shaping"]["client_to_server"]
    return "rcv" in points(scenario) and not any(spec.get(k) for k in IMPAIRMENTS)


CLEAN = [s for s in SCENARIOS if _clean_to_server(s)]


def _position(seq: int, isn: int) -> int:
    return (seq - isn - 1 + 2**31) % 2**32 - 2**31


def _client_data(scenario: str, ft: dict) -> tuple[int, list[tuple[int, int, int]]]:
    """The client's ISN and its data segments beside the server, as
    (frame number, position, length) in arrival order."""
    isn, out = None, []
    for p in tshark_packets(scenario, "rcv"):
        if (int(p["tcp.srcport"]), int(p["tcp.dstport"])) != (ft["sport"], ft["dport"]):
            continue
        flags, n = int(p["tcp.flags"], 16), int(p["tcp.len"])
        if flags & SYN:
            isn = int(p["tcp.seq_raw"])
        if n > 0:
            assert isn is not None
            out.append((int(p["frame.number"]), _position(int(p["tcp.seq_raw"]), isn), n))
    assert isn is not None
    return isn, out


def _chosen(n: int) -> list[int]:
    """Which of n data segments to delete: six single ones spread over the
    transfer, a run of three in the middle and the last one."""
    picks = {k * n // 7 for k in range(1, 7)} | {n // 2, n // 2 + 1, n // 2 + 2, n - 1}
    return sorted(i for i in picks if 0 < i < n)


def _acked_unseen(scenario: str, ft: dict, isn: int, dropped: frozenset[int]) -> tuple[int, int]:
    """The definition applied to the frames kept: server ACKs past the
    end of what the capture saw of the client's data (one past its FIN,
    else its highest octet, else the octet after its SYN), and the
    largest excess."""
    high = fin = None
    count = excess = 0
    for p in tshark_packets(scenario, "rcv"):
        if int(p["frame.number"]) in dropped:
            continue
        ports = (int(p["tcp.srcport"]), int(p["tcp.dstport"]))
        flags, n = int(p["tcp.flags"], 16), int(p["tcp.len"])
        if ports == (ft["sport"], ft["dport"]):
            start = _position(int(p["tcp.seq_raw"]), isn)
            if n > 0 and not flags & RST:
                high = start + n if high is None else max(high, start + n)
            if flags & FIN:
                fin = start + n
        elif ports == (ft["dport"], ft["sport"]) and flags & ACK and not flags & RST:
            at = _position(int(p["tcp.ack_raw"]), isn)
            end = fin + 1 if fin is not None else high if high is not None else 0
            if at > end:
                count += 1
                excess = max(excess, at - end)
    return count, excess


@needs_tshark
@pytest.mark.parametrize("scenario", CLEAN)
def test_deleted_segments_are_the_capture_loss(scenario: str, tmp_path: Path) -> None:
    pcap = tmp_path / "whole.pcap"
    raw = (ROOT / f"{scenario}.rcv.s96.pcap.zst").read_bytes()
    pcap.write_bytes(
        subprocess.run(["zstd", "-dc"], input=raw, check=True, capture_output=True).stdout
    )
    for conn in connections(scenario):
        ft = conn["five_tuple"]
        isn, data = _client_data(scenario, ft)
        # Once each, in order: nothing of the client's data was lost or
        # reordered before this capture.
        assert all(b[1] == a[1] + a[2] for a, b in itertools.pairwise(data)), scenario
        picks = _chosen(len(data))
        dropped = frozenset(data[i][0] for i in picks)
        lost = sum(data[i][2] for i in picks)
        runs: list[int] = []  # octets of each run of consecutive deletions
        for i in picks:
            if runs and i - 1 in picks:
                runs[-1] += data[i][2]
            else:
                runs.append(data[i][2])
        cut = tmp_path / f"cut-{ft['sport']}.pcap"
        subprocess.run(
            ["editcap", "-F", "pcap", pcap, cut, *(str(f) for f in sorted(dropped))],
            check=True,
            capture_output=True,
        )
        whole = _record(ff.meter(pcap), ft)
        r = _record(ff.meter(cut), ft)
        where = f"{scenario} {ft['sport']}"
        assert r["transportPacketDeltaCount"] == whole["transportPacketDeltaCount"] - len(picks)
        assert r["tcpSequenceLossCount"] == lost, where
        assert r["tcpUpstreamLossOctetCount"] == lost, where
        assert r["tcpRepairedOctetCount"] == 0 and r["tcpReorderedOctetCount"] == 0, where
        assert r["tcpSequenceJumpCount"] == len(runs), where
        assert r["maxTcpSequenceJump"] == max(runs), where
        assert int(r["tcpMeasurementQuality"]) & CAPTURE_GAP, where
        assert not int(whole["tcpMeasurementQuality"]) & CAPTURE_GAP, where
        count, excess = _acked_unseen(scenario, ft, isn, dropped)
        assert r["reverseTcpAckedUnseenCount"] == count, where
        assert r["tcpAckedUnseenOctetCount"] == excess, where
        assert r["tcpAckedUnseenCount"] == 0 and r["reverseTcpAckedUnseenOctetCount"] == 0, where
        assert whole["reverseTcpAckedUnseenCount"] == 0, where
        # At least the last segment's ACK came before anything after it.
        assert count > 0 and 0 < excess <= max(runs), where
        fwd, rev = directions(scenario, "rcv", (ft["sport"], ft["dport"]), dropped)
        s = ff.tcp_series(cut, [int(r["flowId"])])[int(r["flowId"])]
        for prefix, d, got in (("", fwd, s.forward), ("reverse", rev, s.reverse)):
            check_statistics(f"{where} {prefix or 'forward'}", r, prefix, d)
            check_histogram(f"{where} {prefix or 'forward'}", r, prefix, d)
            check_fields(f"{where} {prefix or 'forward'}", r, prefix, d)
            check_events(f"{where} {prefix or 'forward'}", got["events"].tolist(), d)
        # A packet event for each run's gap, the last one's on the FIN.
        assert sum(bool(e & JUMP) for e in fwd.per_events) == len(runs), where


def _record(df: pd.DataFrame, ft: dict) -> pd.Series:
    r = df[
        (df.protocolIdentifier == 6)
        & (df.sourceTransportPort == ft["sport"])
        & (df.destinationTransportPort == ft["dport"])
    ]
    assert len(r) == 1
    return r.iloc[0]


def test_some_paths_are_clean() -> None:
    """The comparisons above run on bulk and request/response transfers,
    IPv4 and IPv6."""
    assert len(CLEAN) >= 4 and any("v6" in s for s in CLEAN) and any("rr" in s for s in CLEAN)
