"""Load the flow-meter oracles in tests/data/meter-oracle/ (see its README).

Standard library only. The per-packet tables are tshark's view of each
captured frame (no defragmentation, no TCP reassembly); this module turns
them into per-direction 5-tuple totals the meter's flow records can be
compared with, and reads the conversation tables, argus' records and
nfstream's expected CSVs.

Key rule (the meter's default): the OUTER IP header decides the key. A
GRE/VXLAN/6in4 packet counts under its outer addresses and protocol; an ICMP
error counts under the ICMP header, not the packet it quotes. Ports come from
the transport header right after the outer IP header (TCP, UDP, SCTP) and are
0 for other protocols and for non-first fragments, which carry no transport
header. IP octets are ip.len for IPv4 and 40 + ipv6.plen for IPv6 (a
payload length of 0: 40 + the jumbo payload option, RFC 2675, or without one
-- Linux BIG TCP captures -- the Ethernet frame's length less its 14-octet
header and 4 octets per VLAN tag; the
extension headers are inside plen).

    python3 tests/python/meter_oracle.py   # self-check against the conv tables
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
ORACLE_DIR = ROOT / "tests" / "data" / "meter-oracle"
SHARED_DATA = ROOT.parent / "shared" / "data"

# IPv6 extension headers that can sit between the IPv6 header and the
# transport header (RFC 8200 §4), with the tshark field holding their next
# header. ESP (50) ends the chain: what follows it is encrypted.
IPV6_EXT_NEXT = {
    0: "ipv6.hopopts.nxt",
    43: "ipv6.routing.nxt",
    44: "ipv6.fraghdr.nxt",
    60: "ipv6.dstopts.nxt",
}
PORTS = {
    6: ("tcp.srcport", "tcp.dstport"),
    17: ("udp.srcport", "udp.dstport"),
    132: ("sctp.srcport", "sctp.dstport"),
}


class FlowKey(NamedTuple):
    version: int  # 4 or 6
    src: str
    dst: str
    proto: int
    sport: int
    dport: int

    def reverse(self) -> FlowKey:
        return FlowKey(self.version, self.dst, self.src, self.proto, self.dport, self.sport)


class Totals(NamedTuple):
    packets: int
    ip_octets: int
    frame_octets: int  # frame.len: wire length incl. the link header
    first: float  # frame.time_epoch of the first packet
    last: float


def cases() -> list[tuple[str, str, str]]:
    """(capture name, where it lives, what it covers) from cases.tsv."""
    rows = []
    for line in (ORACLE_DIR / "cases.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            name, where, what = line.split("\t")
            rows.append((name, where, what))
    return rows


def capture_path(name: str) -> Path | None:
    """Where the capture is on this machine, or None (tests then skip)."""
    for name_, where, _ in cases():
        if name_ == name:
            path = {
                "tests": ROOT / "tests" / "data" / "pcap" / name,
                "shared": SHARED_DATA / "pcap" / name,
                "tcp-truth": SHARED_DATA / "tcp-truth" / name,
            }[where]
            return path if path.exists() else None
    raise KeyError(name)


def load_packets(name: str) -> list[dict[str, str]]:
    """The per-packet table: one dict per frame, tshark's text values.

    Repeated fields (tunnels, VLAN stacks, ICMP-quoted headers) hold every
    occurrence comma-joined, outermost first; absent fields are "".
    """
    plain = ORACLE_DIR / f"{name}.packets.tsv"
    if plain.exists():
        text = plain.read_text()
    else:
        text = gzip.decompress((ORACLE_DIR / f"{name}.packets.tsv.gz").read_bytes()).decode()
    return list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))


def _first(row: dict[str, str], field: str) -> str:
    return row[field].split(",", 1)[0]


def _int(text: str) -> int:
    return int(text, 0) if text else 0


def outer_ip_version(row: dict[str, str]) -> int | None:
    """4 or 6 for the first IP layer in frame.protocols, None for non-IP frames."""
    for layer in row["frame.protocols"].split(":"):
        if layer == "ip":
            return 4
        if layer == "ipv6":
            return 6
    return None


def _ipv6_transport(row: dict[str, str]) -> int:
    """The last next-header of the outer IPv6 header chain."""
    used: dict[str, int] = defaultdict(int)
    nxt = _int(_first(row, "ipv6.nxt"))
    while nxt in IPV6_EXT_NEXT:
        field = IPV6_EXT_NEXT[nxt]
        values = row[field].split(",") if row[field] else []
        if used[field] >= len(values):
            break  # chain cut short (snaplen): keep the extension header's number
        nxt = _int(values[used[field]])
        used[field] += 1
    return nxt


def packet_key(row: dict[str, str]) -> FlowKey | None:
    """The outer 5-tuple of one frame (see the module doc), None if not IP."""
    version = outer_ip_version(row)
    if version == 4:
        src, dst = _first(row, "ip.src"), _first(row, "ip.dst")
        proto = _int(_first(row, "ip.proto"))
        later_fragment = _int(_first(row, "ip.frag_offset")) > 0
    elif version == 6:
        src, dst = _first(row, "ipv6.src"), _first(row, "ipv6.dst")
        proto = _ipv6_transport(row)
        later_fragment = _int(_first(row, "ipv6.fraghdr.offset")) > 0
    else:
        return None
    sport = dport = 0
    if proto in PORTS and not later_fragment:
        sfield, dfield = PORTS[proto]
        sport, dport = _int(_first(row, sfield)), _int(_first(row, dfield))
    return FlowKey(version, src, dst, proto, sport, dport)


def ip_octets(row: dict[str, str]) -> int:
    """The outer IP header's total length (IPv6: 40 + payload length)."""
    version = outer_ip_version(row)
    if version == 4:
        return _int(_first(row, "ip.len"))
    if version == 6:
        plen = _int(_first(row, "ipv6.plen"))
        if plen == 0 and _first(row, "ipv6.opt.jumbo"):
            return 40 + _int(_first(row, "ipv6.opt.jumbo"))
        if plen == 0 and row["frame.protocols"].startswith("eth:"):
            tags = len([v for v in (row.get("vlan.id") or "").split(",") if v])
            return int(row["frame.len"]) - 14 - 4 * tags
        return 40 + plen
    return 0


def per_direction(name: str) -> dict[FlowKey, Totals]:
    """Per-direction 5-tuple totals over the whole capture (no timeouts)."""
    acc: dict[FlowKey, list[float]] = {}
    for row in load_packets(name):
        key = packet_key(row)
        if key is None:
            continue
        ts = float(row["frame.time_epoch"])
        t = acc.setdefault(key, [0, 0, 0, ts, ts])
        t[0] += 1
        t[1] += ip_octets(row)
        t[2] += int(row["frame.len"])
        t[3] = min(t[3], ts)
        t[4] = max(t[4], ts)
    return {k: Totals(int(v[0]), int(v[1]), int(v[2]), v[3], v[4]) for k, v in acc.items()}


def biflows(name: str) -> dict[FlowKey, tuple[Totals | None, Totals | None]]:
    """Per-direction totals paired RFC 5103-style: the key is the direction
    seen first; the value is (forward, reverse), reverse None if never seen."""
    table = per_direction(name)
    out: dict[FlowKey, tuple[Totals | None, Totals | None]] = {}
    for key in sorted(table, key=lambda k: table[k].first):
        if key.reverse() in out:
            continue
        out[key] = (table[key], table.get(key.reverse()))
    return out


def capture_totals(name: str) -> dict[str, int]:
    """Frames, IP packets and IP octets (outer header) in the whole capture."""
    rows = load_packets(name)
    ip_rows = [r for r in rows if outer_ip_version(r) is not None]
    return {
        "frames": len(rows),
        "frame_octets": sum(int(r["frame.len"]) for r in rows),
        "ip_packets": len(ip_rows),
        "ip_octets": sum(ip_octets(r) for r in ip_rows),
    }


_CONV_ROW = re.compile(
    r"^(?P<a>\S+)\s+<->\s+(?P<b>\S+)\s+(?P<ba_frames>\d+)\s+(?P<ba_bytes>\S+ \S+)\s+"
    r"(?P<ab_frames>\d+)\s+(?P<ab_bytes>\S+ \S+)\s+(?P<frames>\d+)\s+(?P<bytes>\S+ \S+)\s+"
    r"(?P<start>\S+)\s+(?P<duration>\S+)\s*$"
)


def load_conv(name: str) -> dict[str, list[dict[str, str]]]:
    """tshark's conversation tables by kind ("Ethernet", "IPv4", "IPv6",
    "TCP", "UDP", "SCTP"). Each row: a, b, ab_frames (A->B), ba_frames,
    frames, and byte columns as printed (tshark 4.0 rounds at 10 kB: "34 kB")."""
    tables: dict[str, list[dict[str, str]]] = {}
    kind = None
    for line in (ORACLE_DIR / f"{name}.conv.txt").read_text().splitlines():
        if line.endswith(" Conversations"):
            kind = line.removesuffix(" Conversations")
            tables[kind] = []
        elif kind and (m := _CONV_ROW.match(line)):
            tables[kind].append(m.groupdict())
    return tables


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """'10.0.0.1:80' or 'fe80::1:80' (tshark's unbracketed form) -> (addr, port)."""
    addr, port = endpoint.rsplit(":", 1)
    return addr, int(port)


def load_argus(name: str, merged: bool = False) -> list[dict[str, str]]:
    """argus' records as ra (merged=False) or racluster (merged=True) printed
    them; [] when argus could not read the link type (see *.argus.error.txt)."""
    path = ORACLE_DIR / f"{name}.argus{'-merged' if merged else ''}.csv"
    if not path.exists():
        return []
    return list(csv.DictReader(io.StringIO(path.read_text())))


def load_nfstream(name: str) -> list[dict[str, str]] | None:
    """nfstream's expected flows (id, bidirectional_packets, bidirectional_bytes,
    ...) for an nfstream__* capture (copies of ../shared/data/expected's in
    nfstream-expected/); None if there is none."""
    stem = name.removeprefix("nfstream__")
    path = ORACLE_DIR / "nfstream-expected" / f"nfstream__results--{stem}.csv"
    if not path.exists():
        return None
    return list(csv.DictReader(io.StringIO(path.read_text())))


def _self_check(name: str = "ipfixprobe__mixed.pcap") -> bool:
    """Per-direction packet counts from the per-packet table against tshark's
    TCP and UDP conversation tables (A->B and B->A frame counts)."""
    table = per_direction(name)
    conv = load_conv(name)
    checked = mismatched = 0
    for kind, proto in (("TCP", 6), ("UDP", 17)):
        for row in conv.get(kind, []):
            (a, ap), (b, bp) = split_endpoint(row["a"]), split_endpoint(row["b"])
            version = 6 if ":" in a else 4
            fwd = table.get(FlowKey(version, a, b, proto, ap, bp))
            rev = table.get(FlowKey(version, b, a, proto, bp, ap))
            got = (fwd.packets if fwd else 0, rev.packets if rev else 0)
            want = (int(row["ab_frames"]), int(row["ba_frames"]))
            checked += 1
            if got != want:
                mismatched += 1
                print(f"  {kind} {row['a']} <-> {row['b']}: packets {got}, conv says {want}")
    totals = capture_totals(name)
    print(f"{name}: {checked} TCP/UDP conversations, {mismatched} mismatched; {totals}")
    return mismatched == 0


if __name__ == "__main__":
    import sys

    names = sys.argv[1:] or ["ipfixprobe__mixed.pcap", "nfstream__1kxun.pcap"]
    ok = all([_self_check(n) for n in names])
    sys.exit(0 if ok else 1)
