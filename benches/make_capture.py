"""Write a large classic pcap for the flow-meter benchmarks from real captures.

The inputs (real Ethernet captures from ../shared/data/pcap/, mixed traffic
with many TCP connections) are played one after the other to form a cycle,
and the cycle is repeated until the output reaches --size-mb. Repetition r
adds r to every IPv4 address's third octet (mod 256; a carry out of it is
dropped) and to every IPv6 address's bytes 4-5 (mod 65536), so each
repetition's flows are distinct (up to 256 repetitions; a shifted address
can happen to equal another real one, but then its ports differ too, except
by rare chance), and
shifts the timestamps so that they keep advancing (each input starts 1 s
after the previous one ends). Packets are otherwise copied byte for byte.

Checksums: the IPv4 header checksum is recomputed; the TCP and UDP checksums
are updated incrementally for the changed address words (RFC 1624), when the
transport header is in the capture and the packet is not a later fragment; a
zero UDP checksum stays zero. ICMPv6 checksums (pseudo-header) are left as
they were, so they are wrong after rewriting.

Writes classic little-endian pcap with microsecond timestamps (LINKTYPE
ETHERNET), streaming: only the small inputs are held in memory, never the
output. ``--snaplen 96`` cuts every packet to 96 bytes (orig_len kept), the
header-only version of the same traffic.

    python3 benches/make_capture.py                      # bench-data/meter-400mb.pcap
    python3 benches/make_capture.py --snaplen 96         # bench-data/meter-400mb-s96.pcap
    python3 benches/make_capture.py --size-mb 100 --out bench-data/m100.pcap
"""

from __future__ import annotations

import argparse
import gzip
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_PCAP = ROOT.parent / "shared" / "data" / "pcap"
# Classic pcap, Ethernet, full payload, many TCP connections (names as in
# ../shared/data; nfstream__alexa-app.pcapng is classic big-endian pcap).
DEFAULT_INPUTS = (
    "nfstream__alexa-app.pcapng",
    "nDPI__reddit.pcap",
    "zeek__http--1000-requests-one-dropped-response.pcap.gz",
    "nfstream__iphone.pcap",
    "ipfixprobe__mixed.pcap",
)
LINKTYPE_ETHERNET = 1
GLOBAL_HEADER = struct.Struct("<IHHiIII")
RECORD_HEADER = struct.Struct("<IIII")


def read_pcap(path: Path) -> list[tuple[int, int, bytes]]:
    """(timestamp ns, orig_len, data) of every packet of a classic pcap."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic = raw[:4]
    formats = {
        b"\xd4\xc3\xb2\xa1": ("<", 1000),
        b"\xa1\xb2\xc3\xd4": (">", 1000),
        b"\x4d\x3c\xb2\xa1": ("<", 1),
        b"\xa1\xb2\x3c\x4d": (">", 1),
    }
    if magic not in formats:
        raise SystemExit(f"{path}: not a classic pcap (magic {magic.hex()})")
    endian, ns_per_unit = formats[magic]
    linktype = struct.unpack(endian + "I", raw[20:24])[0] & 0x0FFFFFFF
    if linktype != LINKTYPE_ETHERNET:
        raise SystemExit(f"{path}: link type {linktype}, only Ethernet (1) is supported")
    rec = struct.Struct(endian + "IIII")
    packets, off = [], 24
    while off + rec.size <= len(raw):
        sec, frac, incl, orig = rec.unpack_from(raw, off)
        off += rec.size
        packets.append((sec * 1_000_000_000 + frac * ns_per_unit, orig, raw[off : off + incl]))
        off += incl
    return packets


def _csum_fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _ip_header_checksum(header: bytearray) -> int:
    header[10:12] = b"\0\0"
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    return ~_csum_fold(total) & 0xFFFF


def _adjust(csum: int, old_words: list[int], new_words: list[int]) -> int:
    """RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')."""
    total = ~csum & 0xFFFF
    for m, m2 in zip(old_words, new_words, strict=True):
        total += (~m & 0xFFFF) + m2
    return ~_csum_fold(total) & 0xFFFF


def _fix_l4(pkt: bytearray, l4: int, proto: int, old: list[int], new: list[int]) -> None:
    if proto == 6 and l4 + 18 <= len(pkt):
        pos = l4 + 16
    elif proto == 17 and l4 + 8 <= len(pkt):
        pos = l4 + 6
        if pkt[pos : pos + 2] == b"\0\0":
            return  # RFC 768: no checksum
    else:
        return
    (csum,) = struct.unpack_from("!H", pkt, pos)
    struct.pack_into("!H", pkt, pos, _adjust(csum, old, new))


def rewrite(data: bytes, rep: int) -> bytes:
    """The packet with its addresses moved by rep (see the module doc)."""
    if rep == 0:
        return data
    pkt = bytearray(data)
    off, ethertype = 14, int.from_bytes(pkt[12:14], "big") if len(pkt) >= 14 else 0
    while ethertype in (0x8100, 0x88A8) and off + 4 <= len(pkt):
        ethertype = int.from_bytes(pkt[off + 2 : off + 4], "big")
        off += 4
    delta = rep & 0xFFFF  # IPv6
    if ethertype == 0x0800 and off + 20 <= len(pkt):
        ihl = (pkt[off] & 0x0F) * 4
        if off + ihl > len(pkt) or ihl < 20:
            return bytes(pkt)
        old, new = [], []
        for a in (off + 14, off + 18):  # octets 2-3 of src and dst: third octet += rep
            (w,) = struct.unpack_from("!H", pkt, a)
            w2 = (w + (rep << 8)) & 0xFFFF
            struct.pack_into("!H", pkt, a, w2)
            old.append(w)
            new.append(w2)
        header = pkt[off : off + ihl]
        struct.pack_into("!H", pkt, off + 10, _ip_header_checksum(header))
        later_fragment = int.from_bytes(pkt[off + 6 : off + 8], "big") & 0x1FFF
        if not later_fragment:
            _fix_l4(pkt, off + ihl, pkt[off + 9], old, new)
    elif ethertype == 0x86DD and off + 40 <= len(pkt):
        old, new = [], []
        for a in (off + 8 + 4, off + 24 + 4):  # bytes 4-5 of src and dst
            (w,) = struct.unpack_from("!H", pkt, a)
            w2 = (w + delta) & 0xFFFF
            struct.pack_into("!H", pkt, a, w2)
            old.append(w)
            new.append(w2)
        _fix_l4(pkt, off + 40, pkt[off + 6], old, new)  # no extension headers: else left as is
    return bytes(pkt)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--size-mb", type=float, default=400.0, help="stop once the output has this many MB"
    )
    ap.add_argument(
        "--snaplen", type=int, default=0, help="cut packets to this many bytes (0: full)"
    )
    ap.add_argument(
        "--out", type=Path, help="output path (default bench-data/meter-<size>mb[-s<snaplen>].pcap)"
    )
    ap.add_argument("--input", action="append", type=Path, help="input capture (repeatable)")
    args = ap.parse_args(argv)
    inputs = args.input or [SHARED_PCAP / n for n in DEFAULT_INPUTS]
    out = args.out or ROOT / "bench-data" / (
        f"meter-{args.size_mb:g}mb" + (f"-s{args.snaplen}" if args.snaplen else "") + ".pcap"
    )
    cycle: list[tuple[int, int, bytes]] = []
    clock = None
    for path in inputs:
        packets = read_pcap(path)
        if not packets:
            continue
        start = min(t for t, _, _ in packets)
        clock = start if clock is None else clock
        cycle += [(t - start + clock, orig, data) for t, orig, data in packets]
        clock = max(t for t, _, _ in cycle) + 1_000_000_000
    if not cycle or clock is None:
        raise SystemExit("no packets in the inputs")
    period = clock - cycle[0][0]
    limit = int(args.size_mb * 1_000_000)
    snaplen = args.snaplen or 262144
    out.parent.mkdir(parents=True, exist_ok=True)
    written = packets_out = rep = 0
    with open(out, "wb", buffering=1 << 20) as f:
        f.write(GLOBAL_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
        written = GLOBAL_HEADER.size
        while written < limit:
            for t, orig, data in cycle:
                data = rewrite(data, rep)[:snaplen]
                ts = t + rep * period
                f.write(
                    RECORD_HEADER.pack(
                        ts // 1_000_000_000, ts % 1_000_000_000 // 1000, len(data), orig
                    )
                )
                f.write(data)
                written += RECORD_HEADER.size + len(data)
                packets_out += 1
                if written >= limit:
                    break
            rep += 1
    print(
        f"{out}: {packets_out} packets, {written} bytes, {rep} repetitions of {len(cycle)} packets",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
