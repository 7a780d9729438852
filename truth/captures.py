"""The three observation points: tcpdump at the client's and the server's eth0 (snd, rcv),
and the shaper's own capture in ffx-mid (mid); plus a small pcap reader for the checks."""

from __future__ import annotations

import ipaddress
import signal
import struct
import subprocess
from pathlib import Path

from harness import Procs, read_line, taskset
from topology import NS, in_ns

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101


def start_tcpdumps(procs: Procs, out: Path, name: str) -> tuple[dict, dict]:
    """Full and snaplen-96 captures at snd and rcv; returns (file names, processes)."""
    pcaps = {}
    dumps = {}
    for point in ("snd", "rcv"):
        for kind, snap in (("full", "0"), ("s96", "96")):
            key = f"{point}_{kind}"
            pcaps[key] = f"{name}.{point}.{kind}.pcap"
            tcpdump = f"tcpdump -i eth0 -s {snap} --immediate-mode -U -n -Z root -w".split()
            dumps[key] = procs.start(
                [*in_ns(NS[point]), *taskset(), *tcpdump, str(out / pcaps[key])],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
    for p in dumps.values():
        read_line(p.stderr, 10, "listening on")
    return pcaps, dumps


def stop_tcpdumps(dumps: dict) -> dict:
    """SIGINT every capture; their exit summaries (packets captured/received/dropped)."""
    stats = {}
    for key, p in dumps.items():
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=10)
        stats[key] = parse_tcpdump_stats(err)
    return stats


def parse_tcpdump_stats(text: str) -> dict:
    out = {}
    for ln in text.splitlines():
        f = ln.split()
        if len(f) >= 3 and f[0].isdigit() and f[1] == "packets":
            key = "packets_" + "_".join(f[2:])
            out[key] = int(f[0])
    return out


def mid_pcaps(name: str) -> dict:
    """File names of the shaper's captures (it writes them itself)."""
    return {"mid_full": f"{name}.mid.full.pcap", "mid_s96": f"{name}.mid.s96.pcap"}


def observation_points(c2s_ms: float, s2c_ms: float) -> dict:
    return {
        "snd": "client's eth0 (ffx-snd): impairments in ffx-mid are downstream for "
        "client->server packets (lost segments are seen once, then their retransmissions) and "
        "upstream for server->client",
        "rcv": "server's eth0 (ffx-rcv): impairments are upstream for client->server packets "
        "(holes in the sequence space, CE marks visible) and downstream for server->client",
        "mid": "ffx-shaper in ffx-mid, each packet at the moment it is received from its NFQUEUE "
        "queue (FORWARD hook, between the two veths), before any impairment: every impairment "
        "is downstream in both directions, so the capture holds every packet either endpoint "
        "sent, including those the shaper then dropped, without CE marks, in arrival order; "
        "raw IP (LINKTYPE_RAW), ns timestamps from CLOCK_REALTIME like tcpdump's at the ends. "
        "Each direction's delay is applied after this point, so here the round-trip half toward "
        f"the server is the configured client->server one-way delay ({c2s_ms} ms) and the half "
        f"toward the client the configured server->client one ({s2c_ms} ms), plus small "
        "forwarding overhead (and queueing when rate_mbit is set, reorder_ms when reordered)",
    }


def read_pcap(path: Path) -> list[tuple]:
    """(time, src, dst, seq, ack, payload_len, flags) of the TCP packets of a classic pcap
    (Ethernet or raw IP)."""
    data = path.read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    (linktype,) = struct.unpack_from(endian + "I", data, 20)
    off = 24
    pkts = []
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from(endian + "IIII", data, off)
        off += 16
        p = data[off : off + incl]
        off += incl
        t = sec + frac / (1e9 if nano else 1e6)
        if linktype == LINKTYPE_RAW:
            ip = p
            version = (p[0] >> 4) if p else 0
        else:
            if len(p) < 14:
                continue
            etype = int.from_bytes(p[12:14], "big")
            ip = p[14:]
            version = {0x0800: 4, 0x86DD: 6}.get(etype, 0)
        if version == 4 and len(ip) >= 20 and ip[9] == 6:
            ihl = (ip[0] & 15) * 4
            total = int.from_bytes(ip[2:4], "big")
            src, dst, l4 = ipaddress.ip_address(ip[12:16]), ipaddress.ip_address(ip[16:20]), ihl
        elif version == 6 and len(ip) >= 40 and ip[6] == 6:
            total = 40 + int.from_bytes(ip[4:6], "big")
            src, dst, l4 = ipaddress.ip_address(ip[8:24]), ipaddress.ip_address(ip[24:40]), 40
        else:
            continue
        tcp = ip[l4:]
        if len(tcp) < 14:
            continue
        seq = int.from_bytes(tcp[4:8], "big")
        ack = int.from_bytes(tcp[8:12], "big")
        plen = total - l4 - (tcp[12] >> 4) * 4
        pkts.append((t, str(src), str(dst), seq, ack, plen, tcp[13]))
    return pkts


def count_records(path: Path) -> int:
    """Every record of a classic pcap, whatever it holds."""
    data = path.read_bytes()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off, n = 24, 0
    while off + 16 <= len(data):
        (incl,) = struct.unpack_from(endian + "I", data, off + 8)
        off += 16 + incl
        n += 1
    return n
