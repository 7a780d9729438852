"""Per-packet series of chosen TCP connections (``ff.tcp_series``): every
packet's numbers against tshark's reading of the same capture, and the
retransmissions marked against the sender kernel's own count."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import ferrofix as ff

TRUTH = Path(__file__).resolve().parents[1] / "data" / "tcp-truth"
SCENARIO = "s03_v4_loss2"  # IPv4, SACK, timestamps, 2% loss after the client
CAPTURE = TRUTH / f"{SCENARIO}.snd.s96.pcap.zst"


def tcp_flows() -> object:
    df = ff.meter(CAPTURE)
    return df[df.protocolIdentifier == 6]


def test_series_arrays_are_numpy_and_follow_the_record() -> None:
    flows = tcp_flows()
    assert len(flows) == 1
    got = ff.tcp_series(CAPTURE, flows)
    (fid,) = got
    s = got[fid]
    row = flows.iloc[0]
    assert s.flow_id == fid == int(row["flowId"])
    assert isinstance(s.forward["seq"], np.ndarray) and s.forward["seq"].dtype == np.int64
    # One row per packet of each direction.
    assert len(s.forward["time_ns"]) == row["packetDeltaCount"]
    assert len(s.reverse["time_ns"]) == row["reversePacketDeltaCount"]
    assert s.dropped == 0
    # The arrays own no copy of their own: numpy wraps the meter's buffers.
    assert not s.forward["seq"].flags["OWNDATA"]
    # Retransmission events: the client kernel's count (SYNs and FINs
    # sent again included, as there).
    n = json.loads((TRUTH / f"{SCENARIO}.truth.json").read_text())["nstat_key"]["client_ns"]
    rtx = int(((s.forward["events"] & 0x2) != 0).sum())
    assert rtx == n["TcpRetransSegs"]
    fast = int(((s.forward["events"] & 0x20) != 0).sum())
    assert fast == n["TcpExtTCPFastRetrans"]
    # The ACKs' RTT samples time the client's data: none below the
    # kernel's minimum by more than the truth tests' bound.
    samples = s.reverse["rtt_ns"][s.reverse["rtt_ns"] >= 0]
    assert len(samples) > 100
    client = json.loads((TRUTH / f"{SCENARIO}.truth.json").read_text())["connections"][0]
    kernel_ns = client["client"]["tcp_info"]["min_rtt"] * 1000
    assert samples.min() >= kernel_ns - max(200_000, 0.03 * kernel_ns)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark (the oracle) is not installed")
def test_every_packet_is_where_tshark_puts_it() -> None:
    """tshark's relative sequence and acknowledgment numbers count the
    SYN as 0 (ferrofix: the octet after the SYN is 0), its
    window_size is scaled as ours, and its times are the capture's."""
    pcap = subprocess.run(["zstd", "-dc", str(CAPTURE)], check=True, capture_output=True).stdout
    fields = ["frame.time_epoch", "tcp.srcport", "tcp.seq", "tcp.ack", "tcp.len"]
    fields += ["tcp.window_size", "tcp.flags"]
    out = subprocess.run(
        ["tshark", "-r", "-", "-Y", "tcp", "-T", "fields", "-E", "occurrence=f"]
        + [a for f in fields for a in ("-e", f)],
        input=pcap,
        check=True,
        capture_output=True,
    ).stdout.decode()
    rows = [line.split("\t") for line in out.splitlines() if line]
    flows = tcp_flows()
    client_port = int(flows.iloc[0]["sourceTransportPort"])
    (s,) = ff.tcp_series(CAPTURE, flows).values()
    for direction, mine in [("forward", True), ("reverse", False)]:
        ours = s.forward if direction == "forward" else s.reverse
        theirs = [r for r in rows if (int(r[1]) == client_port) == mine]
        assert len(theirs) == len(ours["time_ns"])
        t_ns = np.array([round(float(r[0]) * 1e9) for r in theirs])
        # frame.time_epoch is printed to the nanosecond: equal within
        # float rounding.
        assert np.abs(t_ns - ours["time_ns"]).max() <= 1000
        assert (np.array([int(r[2]) - 1 for r in theirs]) == ours["seq"]).all(), direction
        assert (np.array([int(r[4]) for r in theirs]) == ours["len"]).all(), direction
        acked = [(int(r[6], 16) & 0x10) != 0 for r in theirs]
        want_ack = np.array(
            [int(r[3]) - 1 if a else -1 for r, a in zip(theirs, acked, strict=True)]
        )
        assert (want_ack == ours["ack"]).all(), direction
        window = np.array([int(r[5]) for r in theirs])
        assert (window == ours["window"]).all(), direction
        assert (np.array([int(r[6], 16) & 0xFF for r in theirs]) == ours["flags"]).all()


def test_selection_by_tuple_and_bounded_rows() -> None:
    flows = tcp_flows()
    r = flows.iloc[0]
    tup = (
        str(r["sourceIPv4Address"]),
        int(r["sourceTransportPort"]),
        str(r["destinationIPv4Address"]),
        int(r["destinationTransportPort"]),
    )
    by_id = ff.tcp_series(CAPTURE, [int(r["flowId"])], max_packets=10)
    # The tuple matches in either orientation.
    reverse_tup = (tup[2], tup[3], tup[0], tup[1], 6)
    by_tuple = ff.tcp_series(CAPTURE, [reverse_tup], max_packets=10)
    assert by_id.keys() == by_tuple.keys() == {int(r["flowId"])}
    s = by_id[int(r["flowId"])]
    assert len(s.forward["seq"]) == 10 and len(s.reverse["seq"]) == 10
    total = int(r["packetDeltaCount"]) + int(r["reversePacketDeltaCount"])
    assert s.dropped == total - 20
    assert (s.forward["seq"] == by_tuple[int(r["flowId"])].forward["seq"]).all()
    with pytest.raises(ValueError, match="max_packets"):
        ff.tcp_series(CAPTURE, [1], max_packets=0)
    with pytest.raises(TypeError, match="flows must be"):
        ff.tcp_series(CAPTURE, ["nonsense"])
    # A flowId that is not a TCP connection of the capture: nothing.
    assert ff.tcp_series(CAPTURE, [10**9]) == {}


def test_uniflow_records_each_get_their_directions_series() -> None:
    """docs/meter.md: a uniflow record is one direction of a biflow; its
    series has that direction forward, its packets as many as its record's,
    and the client kernel's retransmissions in the client's direction."""
    uni = ff.meter(CAPTURE, biflow=False)
    uni = uni[uni.protocolIdentifier == 6].set_index("flowId")
    got = ff.tcp_series(CAPTURE, uni.reset_index(), biflow=False)
    assert got.keys() == set(uni.index)
    for fid, s in got.items():
        assert s.flow_id == fid
        assert len(s.forward["time_ns"]) == uni.loc[fid, "packetDeltaCount"]
        assert (np.diff(s.forward["time_ns"]) >= 0).all()
    n = json.loads((TRUTH / f"{SCENARIO}.truth.json").read_text())["nstat_key"]["client_ns"]
    client = next(iter(f for f in got if f % 2))  # the initiator's direction
    assert int(((got[client].forward["events"] & 0x2) != 0).sum()) == n["TcpRetransSegs"]
    assert int(((got[client + 1].reverse["events"] & 0x2) != 0).sum()) == n["TcpRetransSegs"]


def test_enterprise_moves_ferrofixs_ies_to_another_pen() -> None:
    pen = 4_200_000_001
    plain = ff.meter(CAPTURE)
    moved = ff.meter(CAPTURE, enterprise=pen)
    # The same table by name...
    assert list(moved.columns) == list(plain.columns)
    assert moved["minTcpRttMicroseconds"].equals(plain["minTcpRttMicroseconds"])
    # ...written under the other PEN: a reader without the spec names the
    # IEs by number (RFC 7011 §3.2: PEN and element id).
    raw = ff.Meter(CAPTURE, enterprise=pen).write_ipfix()
    assert raw is not None
    back = ff.read_ipfix(raw)
    assert f"_ipfix_{pen}_1" in back.columns and "minTcpRttMicroseconds" not in back.columns
    # (an IE the reader does not know is octets: here the unsigned32's)
    raw_rtt = back[back.protocolIdentifier == 6][f"_ipfix_{pen}_1"]
    rtt = [int.from_bytes(b, "big") for b in raw_rtt]
    assert (
        rtt
        == plain[plain.protocolIdentifier == 6]["minTcpRttMicroseconds"].astype("int64").tolist()
    )
    # QoF's keep their own PEN.
    assert "tcpRetransmitCount" in back.columns
    for bad in (0, 29305):
        with pytest.raises(ValueError, match="private enterprise number"):
            ff.meter(CAPTURE, enterprise=bad)
