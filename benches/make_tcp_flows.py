"""A capture of N TCP connections all open at its end, for measuring the
meter's memory per concurrent connection (BENCHMARKS.md, TCP metrics).

Each connection (its own address and port pair) sends a SYN with MSS,
SACK-permitted, timestamps and window scale, gets a SYN/ACK, then one data
segment each way with timestamps; all of one kind are written before the
next, so every connection is open when the capture ends. Headers only: the
IP length says 100 octets of data.

    python3 benches/make_tcp_flows.py 1000000 /tmp/c1m.pcap
    /usr/bin/time -f "%e s %M KB" .venv/bin/ferrofix meter /tmp/c1m.pcap -o /dev/null \\
        --no-progress --idle-timeout 3600
"""

from __future__ import annotations

import argparse
import struct
from typing import BinaryIO

SYN_OPTIONS = (
    struct.pack("!BBH", 2, 4, 1460)  # MSS
    + struct.pack("!BB", 4, 2)  # SACK permitted
    + struct.pack("!BBII", 8, 10, 1, 0)  # timestamps
    + struct.pack("!BBBB", 1, 3, 3, 7)  # NOP, window scale 7
)


def timestamps(val: int, ecr: int) -> bytes:
    return struct.pack("!BBBBII", 1, 1, 8, 10, val, ecr)


def write_packet(
    out: BinaryIO, t_us: int, ends: tuple[bytes, bytes, int, int], seq: int, ack: int, flags: int,
    data: int, options: bytes,
) -> None:  # fmt: skip
    src, dst, sport, dport = ends
    header_len = 20 + len(options)
    tcp = struct.pack(
        "!HHIIBBHHH", sport, dport, seq, ack, (header_len // 4) << 4, flags, 1000, 0, 0
    )
    total = 20 + len(tcp) + len(options) + data
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
    frame = ip + tcp + options
    out.write(struct.pack("<IIII", t_us // 1_000_000, t_us % 1_000_000, len(frame), total))
    out.write(frame)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("connections", type=int)
    ap.add_argument("out")
    args = ap.parse_args()
    server = struct.pack("!I", 0xC0A80001)
    t = 0
    with open(args.out, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))  # raw IP
        for kind in range(4):
            for i in range(args.connections):
                client = struct.pack("!I", 0x0A000000 + (i >> 8))
                port = 1024 + (i & 0xFF) * 200
                up, down = (client, server, port, 443), (server, client, 443, port)
                t += 1
                if kind == 0:
                    write_packet(out, t, up, 1000, 0, 0x02, 0, SYN_OPTIONS)
                elif kind == 1:
                    write_packet(out, t, down, 5000, 1001, 0x12, 0, SYN_OPTIONS)
                elif kind == 2:
                    write_packet(out, t, up, 1001, 5001, 0x18, 100, timestamps(10, 20))
                else:
                    write_packet(out, t, down, 5001, 1101, 0x18, 100, timestamps(30, 10))


if __name__ == "__main__":
    main()
