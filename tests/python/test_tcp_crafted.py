"""The TCP metrics on small hand-made captures, where the expected values
come from tshark's TCP analysis of the same capture (its keep-alive,
zero-window-probe, retransmission and duplicate-ACK flags) or are worked
out in the comments from the definitions of ``docs/tcp-metrics.md`` and
``docs/meter.md``, never from ferrofix."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import ferrofix as ff

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
CLIENT = ("10.0.0.1", 40000)
SERVER = ("10.0.0.2", 80)
ISN_C, ISN_S = 1000, 5000  # the client's and the server's ISN

needs_tshark = pytest.mark.skipif(
    shutil.which("tshark") is None, reason="tshark (the oracle) is not installed"
)


def packet(
    src: tuple[str, int],
    dst: tuple[str, int],
    seq: int,
    ack: int,
    flags: int,
    *,
    win: int = 65535,
    payload: int = 0,
    mss: int | None = None,
) -> bytes:
    """An IPv4 TCP packet (checksums 0: neither reader checks them)."""
    opts = struct.pack("!BBH", 2, 4, mss) if mss is not None else b""
    tcp = struct.pack(
        "!HHIIBBHHH",
        src[1],
        dst[1],
        seq & 0xFFFFFFFF,
        ack & 0xFFFFFFFF,
        (5 + len(opts) // 4) << 4,
        flags,
        win,
        0,
        0,
    )
    tcp += opts + b"\x00" * payload
    addr = [bytes(int(x) for x in a[0].split(".")) for a in (src, dst)]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, *addr)
    return ip + tcp


def c2s(seq: int, ack: int, flags: int, **kw: int) -> bytes:
    return packet(CLIENT, SERVER, seq, ack, flags, **kw)


def s2c(seq: int, ack: int, flags: int, **kw: int) -> bytes:
    return packet(SERVER, CLIENT, seq, ack, flags, **kw)


def write(path: Path, packets: list[tuple[float, bytes]]) -> Path:
    """A nanosecond pcap of raw IPv4 packets (LINKTYPE_RAW, 101)."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101))
        for t, b in packets:
            ns = round(t * 1e9)
            f.write(struct.pack("<IIII", ns // 10**9, ns % 10**9, len(b), len(b)))
            f.write(b)
    return path


def d(k: int) -> int:
    """The client's sequence number of its k-th 1000-octet segment."""
    return ISN_C + 1 + 1000 * k


def handshake() -> list[tuple[float, bytes]]:
    return [
        (0.000, c2s(ISN_C, 0, SYN, mss=1000)),
        (0.020, s2c(ISN_S, ISN_C + 1, SYN | ACK, mss=1000)),
        (0.020, c2s(ISN_C + 1, ISN_S + 1, ACK)),
    ]


def tshark_flags(path: Path, flag: str, src_port: int) -> int:
    """How many packets from `src_port` tshark flags with `flag`."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", f"{flag} && tcp.srcport == {src_port}"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    return len([line for line in out.splitlines() if line.strip()])


def one_flow(path: Path, **kw: Any) -> pd.Series:
    df = ff.meter(path, **kw)
    assert len(df) == 1
    return df.iloc[0]


@needs_tshark
@pytest.mark.parametrize("garbage", [0, 1])
def test_keepalives_are_not_retransmissions(tmp_path: Path, garbage: int) -> None:
    # The client's [0, 1000) is acknowledged; then three keep-alives at
    # SND.NXT - 1 (Linux's without data, Windows's with one octet), each
    # answered.
    p = handshake()
    p += [(0.100, c2s(d(0), ISN_S + 1, ACK, payload=1000)), (0.120, s2c(ISN_S + 1, d(1), ACK))]
    for t in (10.0, 20.0, 30.0):
        p += [
            (t, c2s(d(1) - 1, ISN_S + 1, ACK, payload=garbage)),
            (t + 0.02, s2c(ISN_S + 1, d(1), ACK)),
        ]
    cap = write(tmp_path / "ka.pcap", p)
    r = one_flow(cap, idle_timeout=60)
    assert tshark_flags(cap, "tcp.analysis.keep_alive", CLIENT[1]) == 3
    rtx = tshark_flags(cap, "tcp.analysis.retransmission", CLIENT[1])
    assert r["tcpRetransmitCount"] == rtx == 0
    # No retransmission and no gap: no loss indication.
    assert r["tcpLossEventCount"] == 0
    assert r["tcpWindowProbeCount"] == 0
    assert r["tcpSequenceCount"] == 1000
    dup = tshark_flags(cap, "tcp.analysis.duplicate_ack", SERVER[1])
    assert r["reverseTcpDupAckCount"] == dup == 0


def zero_window(linux: bool) -> list[tuple[float, bytes]]:
    """[0, 1000) acknowledged with a zero window; three probes, each
    answered with the zero window; then the window opens. Linux probes
    without data at SND.UNA - 1, BSD and Windows with the next octet."""
    p = handshake()
    p += [
        (0.100, c2s(d(0), ISN_S + 1, ACK, payload=1000)),
        (0.120, s2c(ISN_S + 1, d(1), ACK, win=0)),
    ]
    for t in (0.4, 0.8, 1.6):
        probe = c2s(d(1) - 1, ISN_S + 1, ACK) if linux else c2s(d(1), ISN_S + 1, ACK, payload=1)
        p += [(t, probe), (t + 0.02, s2c(ISN_S + 1, d(1), ACK, win=0))]
    p += [(2.0, s2c(ISN_S + 1, d(1), ACK))]
    return p


@needs_tshark
@pytest.mark.parametrize("linux", [True, False])
def test_zero_window_probes_are_probes_not_retransmissions(tmp_path: Path, linux: bool) -> None:
    cap = write(tmp_path / "zw.pcap", zero_window(linux))
    r = one_flow(cap)
    # tshark flags the first BSD probe (the octet at the window's edge)
    # zero_window_probe, and every probe one octet before the next
    # expected one (BSD's repeats, Linux's) keep_alive: every client
    # segment after the window closed is one or the other.
    probes = tshark_flags(cap, "tcp.analysis.zero_window_probe", CLIENT[1])
    probes += tshark_flags(cap, "tcp.analysis.keep_alive", CLIENT[1])
    assert probes == 3
    assert r["tcpWindowProbeCount"] == probes
    rtx = tshark_flags(cap, "tcp.analysis.retransmission", CLIENT[1])
    assert r["tcpRetransmitCount"] == rtx == 0
    assert r["tcpLossEventCount"] == 0
    # The server's zero-window answers repeat its ACK and window: not
    # duplicate ACKs (a duplicate ACK's window is not zero).
    dup = tshark_flags(cap, "tcp.analysis.duplicate_ack", SERVER[1])
    assert r["reverseTcpDupAckCount"] == dup == 0
    assert r["reverseTcpReceiverStallCount"] == 1


@needs_tshark
def test_duplicate_acks_are_wiresharks(tmp_path: Path) -> None:
    # The client sends [0, 4000); [1000, 2000) is lost after the OP. The
    # client's data is outstanding at every ACK of the server below (the
    # condition ferrofix adds to Wireshark's rule; here both agree). The
    # server acknowledges 1000 again: twice with the same window and
    # number (duplicates), with a new window (an update), with that window
    # (a duplicate), numbered one before its next number (as a keep-alive:
    # not), with a zero window (a change) and with it again (not: a zero
    # window): 3 duplicates.
    p = handshake()
    for k in range(4):
        p.append((0.100 + k * 0.001, c2s(d(k), ISN_S + 1, ACK, payload=1000)))
    p += [
        (0.120, s2c(ISN_S + 1, d(1), ACK)),
        (0.121, s2c(ISN_S + 1, d(1), ACK)),  # duplicate 1
        (0.122, s2c(ISN_S + 1, d(1), ACK)),  # duplicate 2
        (0.123, s2c(ISN_S + 1, d(1), ACK, win=30000)),  # window update
        (0.124, s2c(ISN_S + 1, d(1), ACK, win=30000)),  # duplicate 3
        (0.125, s2c(ISN_S, d(1), ACK, win=30000)),  # numbered one before: not
        (0.126, s2c(ISN_S + 1, d(1), ACK, win=0)),  # zero window
        (0.127, s2c(ISN_S + 1, d(1), ACK, win=0)),  # zero window again: not
        (0.130, c2s(d(1), ISN_S + 1, ACK, payload=1000)),
        (0.150, s2c(ISN_S + 1, d(4), ACK)),
    ]
    cap = write(tmp_path / "dup.pcap", p)
    r = one_flow(cap)
    dup = tshark_flags(cap, "tcp.analysis.duplicate_ack", SERVER[1])
    assert dup == 3
    assert r["reverseTcpDupAckCount"] == dup


def continued(repair_at: float | None) -> list[tuple[float, bytes]]:
    """[0, 1000) at 0.1 s, [1000, 2000) lost before the OP, [2000, 3000)
    and a segment every 0.5 s from 0.5 s to 2.5 s; `repair_at` sends the
    lost segment then."""
    p = handshake()
    p += [
        (0.100, c2s(d(0), ISN_S + 1, ACK, payload=1000)),
        (0.102, c2s(d(2), ISN_S + 1, ACK, payload=1000)),
        (0.120, s2c(ISN_S + 1, d(1), ACK)),
    ]
    k, t = 3, 0.5
    while t < 3.0:
        if repair_at is not None and abs(t - repair_at) < 1e-9:
            p.append((t, c2s(d(1), ISN_S + 1, ACK, payload=1000)))
        p.append((t + 0.001, c2s(d(k), ISN_S + 1, ACK, payload=1000)))
        k += 1
        repaired = repair_at is not None and t >= repair_at
        p.append((t + 0.021, s2c(ISN_S + 1, d(k) if repaired else d(1), ACK)))
        t += 0.5
    return p


@pytest.mark.parametrize(("repair_at", "lost", "repaired"), [(None, 1000, 0), (1.5, 0, 1000)])
def test_continuations_add_up_to_one_record(
    tmp_path: Path, repair_at: float | None, lost: int, repaired: int
) -> None:
    # One record of the whole connection: the gap [1000, 2000) never
    # filled is 1000 octets never seen (tcpSequenceLossCount) and upstream
    # loss; repaired at 1.5 s (1.4 s after the gap opened, past half the
    # 20 ms round trip), 1000 repaired octets and no loss. Records cut by
    # an active timeout of 1 s must add up to the same.
    cap = write(tmp_path / "cont.pcap", continued(repair_at))
    whole = one_flow(cap)
    parts = ff.meter(cap, active_timeout=1.0)
    assert len(parts) == 3 and parts["flowId"].nunique() == 1
    for name, want in [
        ("tcpSequenceLossCount", lost),
        ("tcpRepairedOctetCount", repaired),
        ("tcpUpstreamLossOctetCount", 1000),
    ]:
        assert whole[name] == want, name
        assert parts[name].sum() == want, (name, parts[name].tolist())


def test_a_syn_with_a_new_isn_starts_a_new_flow(tmp_path: Path) -> None:
    # The same address and port pair carries two connections 5 s apart;
    # the first one's FIN or RST is not in the capture. Each: SYN, SYN/ACK
    # 20 ms later, 1 ms later the ACK with 1000 octets, acknowledged 20 ms
    # later. The second SYN's number differs from the first's (a SYN sent
    # again keeps it): a new connection, so a new flow; the first ends
    # with flowEndReason 3. Each has 1000 octets of sequence space, no gap
    # and a handshake round trip of 21 ms.
    p: list[tuple[float, bytes]] = []
    for t0, isn, isn_s in ((0.0, 1000, 5000), (5.0, 1_000_000_000, 9000)):
        p += [
            (t0, c2s(isn, 0, SYN, mss=1000)),
            (t0 + 0.020, s2c(isn_s, isn + 1, SYN | ACK, mss=1000)),
            (t0 + 0.021, c2s(isn + 1, isn_s + 1, ACK, payload=1000)),
            (t0 + 0.041, s2c(isn_s + 1, isn + 1001, ACK)),
        ]
    cap = write(tmp_path / "reuse.pcap", p)
    df = ff.meter(cap).sort_values("flowStartMilliseconds")
    assert len(df) == 2 and df["flowId"].nunique() == 2
    assert df["flowEndReason"].tolist()[0] == 3
    assert df["tcpSequenceCount"].tolist() == [1000, 1000]
    assert df["tcpSequenceLossCount"].tolist() == [0, 0]
    assert df["tcpSequenceJumpCount"].tolist() == [0, 0]
    assert df["tcpHandshakeRttMicroseconds"].tolist() == [21000, 21000]


def test_a_syn_ack_with_a_new_isn_starts_a_new_flow(tmp_path: Path) -> None:
    # As above, but the second connection's SYN is not in the capture: its
    # SYN/ACK carries a number other than the server's first SYN/ACK's (a
    # SYN/ACK sent again keeps it), so it starts a new flow, whose
    # initiator is the SYN/ACK's receiver (the client); without the SYN it
    # has no handshake round trip. The client's data: 1000 octets from the
    # octet after its SYN (number isn + 1, acknowledged by the SYN/ACK),
    # no gap.
    p: list[tuple[float, bytes]] = []
    for t0, isn, isn_s, syn in ((0.0, 1000, 5000, True), (5.0, 1_000_000_000, 9000, False)):
        if syn:
            p.append((t0, c2s(isn, 0, SYN, mss=1000)))
        p += [
            (t0 + 0.020, s2c(isn_s, isn + 1, SYN | ACK, mss=1000)),
            (t0 + 0.021, c2s(isn + 1, isn_s + 1, ACK, payload=1000)),
            (t0 + 0.041, s2c(isn_s + 1, isn + 1001, ACK)),
        ]
    cap = write(tmp_path / "reuse2.pcap", p)
    df = ff.meter(cap).sort_values("flowStartMilliseconds")
    assert len(df) == 2 and df["flowId"].nunique() == 2
    assert df["flowEndReason"].tolist()[0] == 3
    assert df["sourceTransportPort"].tolist() == [CLIENT[1], CLIENT[1]]
    assert df["tcpSequenceCount"].tolist() == [1000, 1000]
    assert df["tcpSequenceJumpCount"].tolist() == [0, 0]
    assert df["tcpHandshakeRttMicroseconds"].tolist()[0] == 21000
    assert pd.isna(df["tcpHandshakeRttMicroseconds"].tolist()[1])


def test_mid_connection_windows_and_initial_window_are_null(tmp_path: Path) -> None:
    # The capture starts mid-connection: no SYN, so no initial window was
    # observed and the window fields' scale is unknown (both ends may have
    # offered one): the window values and the initial window are absent.
    p = [
        (0.100 + k * 0.001, c2s(d(40 + k), ISN_S + 1, ACK, payload=1000, win=512)) for k in range(3)
    ]
    p.append((0.120, s2c(ISN_S + 1, d(43), ACK, win=512)))
    r = one_flow(write(tmp_path / "mid.pcap", p))
    for name in ("tcpInitialWindowOctets", "maxTcpRwin", "reverseMaxTcpRwin", "minTcpRwin"):
        assert pd.isna(r.get(name)), name
    assert int(r["tcpMeasurementQuality"]) & 0x20
    # The data still counts: 3000 octets from the first seen.
    assert r["tcpSequenceCount"] == 3000
