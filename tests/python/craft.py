"""Hand-made packets and pcap files for the meter's edge cases: each
header packed field by field from its RFC (no ferrofix code), so that a
test knows what the capture holds independently of the meter, and tshark
can read the same file as the oracle."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
from pathlib import Path

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def checksum(b: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``b``."""
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ident: int = 1, frag: int = 0) -> bytes:
    """An IPv4 header (RFC 791, no options) and its payload; ``frag`` is
    the flags and fragment offset word."""
    h = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        ident,
        frag,
        64,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    return h[:10] + struct.pack("!H", checksum(h)) + h[12:] + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    """An IPv6 header (RFC 8200) and its payload."""
    return (
        struct.pack(
            "!IHBB16s16s",
            6 << 28,
            len(payload),
            next_header,
            64,
            socket.inet_pton(socket.AF_INET6, src),
            socket.inet_pton(socket.AF_INET6, dst),
        )
        + payload
    )


def tcp(sport: int, dport: int, flags: int, seq: int = 1, ack: int = 1, data: bytes = b"") -> bytes:
    """A TCP header (RFC 9293, no options: data offset 5) and its data."""
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + data


def udp(sport: int, dport: int, data: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def ether(payload: bytes, ethertype: int = 0x0800, vlan: int | None = None) -> bytes:
    """Ethernet II, optionally 802.1Q-tagged."""
    head = bytes.fromhex("020000000002") + bytes.fromhex("020000000001")
    if vlan is not None:
        head += struct.pack("!HH", 0x8100, vlan)
    return head + struct.pack("!H", ethertype) + payload


def linux_cooked(payload: bytes, ethertype: int = 0x0800) -> bytes:
    """Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 113): 16 octets."""
    return struct.pack("!HHH8sH", 0, 1, 6, bytes.fromhex("0200000000010000"), ethertype) + payload


def write_pcap(
    path: Path, frames: list[tuple[float, bytes]], *, linktype: int = 1, snaplen: int = 65535
) -> Path:
    """A classic pcap file (microseconds, little-endian), each frame cut
    to ``snaplen`` with its original length kept, as tcpdump -s writes."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)]
    for ts, frame in frames:
        sec, usec = int(ts), round((ts - int(ts)) * 1e6)
        kept = frame[:snaplen]
        out.append(struct.pack("<IIII", sec, usec, len(kept), len(frame)) + kept)
    path.write_bytes(b"".join(out))
    return path


def epoch_ns(epoch: str) -> int:
    """tshark's seconds since the epoch ("1.100000000") in ns, exactly."""
    seconds, _, fraction = epoch.partition(".")
    return int(seconds) * 10**9 + int(fraction.ljust(9, "0")[:9])


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    """tshark's reading of ``fields`` for every frame (the oracle); the
    test is skipped where tshark is not installed."""
    if shutil.which("tshark") is None:
        import pytest

        pytest.skip("tshark is not installed")
    args = ["tshark", "-r", str(path), "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in text.splitlines()]
