"""The flow definition of ``docs/meter.md`` as a Python model over
tshark's per-packet tables (``tests/data/meter-oracle/``): each packet's
key, link, fragment and transport fields, the records the end rules make
of them, and each record's information elements; ``compare`` pairs them
with the meter's records. Read by ``test_meter_fields.py``."""

from __future__ import annotations

import collections
import functools
import gzip
import math
import struct
from typing import Any, NamedTuple

import meter_oracle as mo
import pandas as pd
import pytest

import ferrofix as ff

FOREVER = {"idle_timeout": 1e8, "active_timeout": 1e8}
NO_MAC = "00:00:00:00:00:00"

# Captures left out, each with its reason: where tshark's table cannot give
# the meter's definition.
EXCLUDED = {
    # tshark 4.0 reads an IPv6 payload length of 0 without a jumbo option
    # (Linux BIG TCP) as an empty packet: no TCP header, so no ports, flags
    # or header length, where the meter reads the packet to the frame's end.
    "tcpdump__bigtcp-ipv6.pcap": "tshark 4.0 dissects no TCP header in BIG TCP IPv6 packets",
}
CASES = [c[0] for c in mo.cases() if c[0] not in EXCLUDED]

PORT_PROTOS = (6, 17, 132)  # the protocols whose ports tshark's table has
TRANSPORT_HEADER = {17: 8, 136: 8, 132: 12}  # TCP, ICMP, ICMPv6: below
SYN, RST, FIN, ACK = 0x02, 0x04, 0x01, 0x10


class Key(NamedTuple):
    version: int
    src: str
    dst: str
    proto: int
    sport: int
    dport: int
    typecode: int  # ICMP/ICMPv6 type * 256 + code, else 0
    vlan: int

    def reverse(self) -> Key:
        return self._replace(src=self.dst, dst=self.src, sport=self.dport, dport=self.sport)

    def canonical(self) -> Key:
        return min(self, self.reverse())


class Packet(NamedTuple):
    key: Key
    ns: int  # frame.time_epoch in nanoseconds, exactly
    octets: int
    transport_octets: int
    ttl: int
    tos: int
    smac: str
    dmac: str
    flags: int | None  # tcp.flags (12 bits) of a TCP header, else None
    seq: int
    ack: int
    tcp_len: int


def _occ(row: dict[str, str], field: str) -> list[str]:
    return row[field].split(",") if row.get(field) else []


def _epoch_ns(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 10**9 + int((frac + "000000000")[:9])


def _ipv6_headers(row: dict[str, str]) -> int:
    """40 plus the outer chain's extension headers (hop-by-hop, routing,
    destination options: their len_oct; fragment: 8)."""
    lengths = {0: "ipv6.hopopts.len_oct", 43: "ipv6.routing.len_oct", 60: "ipv6.dstopts.len_oct"}
    used: dict[int, int] = collections.Counter()
    total, nxt = 40, mo._int(mo._first(row, "ipv6.nxt"))
    while nxt in mo.IPV6_EXT_NEXT:
        nexts = _occ(row, mo.IPV6_EXT_NEXT[nxt])
        k = used[nxt]
        if k >= len(nexts):
            break
        total += 8 if nxt == 44 else int(_occ(row, lengths[nxt])[k])
        used[nxt] += 1
        nxt = int(nexts[k])
    return total


def _link(row: dict[str, str]) -> tuple[str, str, int]:
    """The outermost Ethernet addresses and 802.1Q id before the outer IP."""
    tokens = row["frame.protocols"].split(":")
    cut = min(tokens.index(t) for t in ("ip", "ipv6") if t in tokens)
    before = tokens[:cut]
    smac, dmac = (mo._first(row, "eth.src"), mo._first(row, "eth.dst"))
    if "eth" not in before:
        smac = dmac = NO_MAC
    vlan = int(mo._first(row, "vlan.id")) if "vlan" in before else 0
    return smac, dmac, vlan


def _fragment(row: dict[str, str], version: int) -> tuple[str, int] | None:
    """(identification, offset) of an IP fragment, None if not one."""
    if version == 4:
        offset = mo._int(mo._first(row, "ip.frag_offset"))
        if offset or mo._first(row, "ip.flags.mf") in ("1", "True"):
            return mo._first(row, "ip.id"), offset
    elif mo._first(row, "ipv6.fraghdr.ident"):
        return mo._first(row, "ipv6.fraghdr.ident"), mo._int(mo._first(row, "ipv6.fraghdr.offset"))
    return None


def _packet(row: dict[str, str]) -> tuple[Packet, tuple[Any, ...] | None, bool] | None:
    """One frame as the meter's definitions see it, with its datagram id
    (fragments) and whether it is a later fragment; None if not IP."""
    base = mo.packet_key(row)
    if base is None:
        return None
    v, proto = base.version, base.proto
    frag = _fragment(row, v)
    later = frag is not None and frag[1] > 0
    typecode = 0
    if not later and (v, proto) in ((4, 1), (6, 58)):
        t, c = ("icmp.type", "icmp.code") if v == 4 else ("icmpv6.type", "icmpv6.code")
        typecode = mo._int(mo._first(row, t)) * 256 + mo._int(mo._first(row, c))
    smac, dmac, vlan = _link(row)
    key = Key(v, base.src, base.dst, proto, base.sport, base.dport, typecode, vlan)
    octets = mo.ip_octets(row)
    if v == 4:
        ip_headers = int(mo._first(row, "ip.hdr_len"))
        ttl, tos = int(mo._first(row, "ip.ttl")), int(mo._first(row, "ip.dsfield"), 16)
    else:
        ip_headers = _ipv6_headers(row)
        ttl, tos = int(mo._first(row, "ipv6.hlim")), int(mo._first(row, "ipv6.tclass"), 16)
    flags = None
    seq = ack = tcp_len = 0
    if later:
        thdr = 0  # "Later fragments have no transport header."
    elif proto == 6:
        # "where the capture cut the header before its data offset, the
        # protocol's least (TCP 20)"
        thdr = int(mo._first(row, "tcp.hdr_len") or 20)
        if mo._first(row, "tcp.flags"):
            flags = int(mo._first(row, "tcp.flags"), 16)
            seq, ack = int(mo._first(row, "tcp.seq_raw")), int(mo._first(row, "tcp.ack_raw"))
            tcp_len = int(mo._first(row, "tcp.len") or 0)
    elif (v, proto) in ((4, 1), (6, 58)):
        thdr = 4
    else:
        assert proto != 33, "DCCP: its data offset is not in the table"
        thdr = TRANSPORT_HEADER.get(proto, 0)
    transport = max(0, octets - ip_headers - thdr)
    ns = _epoch_ns(row["frame.time_epoch"])
    pkt = Packet(key, ns, octets, transport, ttl, tos, smac, dmac, flags, seq, ack, tcp_len)
    datagram = None if frag is None else (v, base.src, base.dst, proto, frag[0])
    return pkt, datagram, later


def metered_packets(rows: list[dict[str, str]]) -> list[Packet]:
    """tshark's IP frames in the order the meter takes them, each in its
    flow: later fragments carry their first fragment's key and come right
    after it if they arrived before it; those whose first never came keep
    their own key (no ports, ICMP type and code 0) and come at the end."""
    out: list[Packet] = []
    firsts: dict[tuple[Any, ...], Key] = {}
    held: dict[tuple[Any, ...], list[Packet]] = collections.defaultdict(list)
    for row in rows:
        got = _packet(row)
        if got is None:
            continue
        pkt, datagram, later = got
        if datagram is None:
            out.append(pkt)
        elif not later:
            firsts[datagram] = pkt.key
            out.append(pkt)
            out.extend(p._replace(key=pkt.key) for p in held.pop(datagram, []))
        elif datagram in firsts:
            out.append(pkt._replace(key=firsts[datagram]))
        else:
            held[datagram].append(pkt)
    for pkts in held.values():
        out.extend(pkts)
    return out


class Record(NamedTuple):
    key: Key  # oriented: src is the initiator
    packets: list[Packet]
    # flowEndReason: 3 ended by its flags (a RST, FINs both acknowledged, a
    # SYN after both FINs; or both FINs seen, not both acknowledged, at the
    # input's end); else 1 if idle by the input's last frame (FOREVER's
    # 1e8 s: one capture spans ten years), else 4.
    reason: int = 4


def _initiator_key(packets: list[Packet]) -> Key:
    for p in packets:
        if p.flags is not None and p.flags & SYN:
            return p.key.reverse() if p.flags & ACK else p.key
    return packets[0].key


def oracle_records(rows: list[dict[str, str]]) -> list[Record]:
    """The records of docs/meter.md's rules (module doc) over tshark's packets."""
    closed: list[list[Packet]] = []  # ended by their flags
    open_: dict[Key, list[Packet]] = {}
    fin: dict[Key, dict[Key, int]] = {}  # per record: sender key -> ack that acknowledges its FIN
    acked: dict[Key, set[Key]] = {}
    for p in metered_packets(rows):
        ck = p.key.canonical()
        tcp = p.key.proto == 6 and p.flags is not None
        if (
            tcp
            and ck in open_
            and len(fin[ck]) == 2
            and p.flags is not None
            and p.flags & SYN
            and not p.flags & ACK
        ):
            closed.append(open_.pop(ck))
        if ck not in open_:
            open_[ck], fin[ck], acked[ck] = [], {}, set()
        open_[ck].append(p)
        if not tcp or p.flags is None:
            continue
        if p.flags & RST:
            closed.append(open_.pop(ck))
            continue
        other = p.key.reverse()
        if p.flags & ACK and other in fin[ck] and p.ack == fin[ck][other]:
            acked[ck].add(other)
        if p.flags & FIN:
            fin[ck][p.key] = (p.seq + p.tcp_len + 1) % 2**32
        if len(fin[ck]) == 2 and len(acked[ck]) == 2:
            closed.append(open_.pop(ck))
    last = max((_epoch_ns(r["frame.time_epoch"]) for r in rows), default=0)
    idle = int(FOREVER["idle_timeout"] * 10**9)
    return [Record(_initiator_key(pkts), pkts, 3) for pkts in closed] + [
        Record(
            _initiator_key(pkts),
            pkts,
            3 if len(fin[ck]) == 2 else 1 if last - max(p.ns for p in pkts) > idle else 4,
        )
        for ck, pkts in open_.items()
    ]


def _direction(packets: list[Packet], sender: Key) -> dict[str, Any]:
    """The per-direction IEs of one direction's packets (sender's key)."""
    mine = [p for p in packets if p.key == sender]
    if not mine:
        # docs/meter.md: counts of nothing are 0; the fields that describe
        # a direction's packets are null.
        return {
            "packetDeltaCount": 0,
            "transportOctetDeltaCount": 0,
            "transportPacketDeltaCount": 0,
            "minimumTTL": None,
            "maximumTTL": None,
            "ipClassOfService": None,
            "sourceMacAddress": None,
            "destinationMacAddress": None,
            "initialTCPFlags": None,
            "unionTCPFlags": None,
            "tcpControlBits": None,
            "first_ns": None,
        }
    union = 0
    for p in mine[1:]:
        union |= (p.flags or 0) & 0xFF
    control = 0
    for p in mine:
        control |= p.flags or 0
    return {
        "packetDeltaCount": len(mine),
        "minimumTTL": min(p.ttl for p in mine),
        "maximumTTL": max(p.ttl for p in mine),
        "ipClassOfService": mine[0].tos,
        "sourceMacAddress": mine[0].smac,
        "destinationMacAddress": mine[0].dmac,
        "transportOctetDeltaCount": sum(p.transport_octets for p in mine),
        "transportPacketDeltaCount": sum(1 for p in mine if p.transport_octets > 0),
        "initialTCPFlags": (mine[0].flags or 0) & 0xFF,
        "unionTCPFlags": union,
        "tcpControlBits": control,
        "first_ns": mine[0].ns,
    }


def expected_ies(rec: Record, source: Key) -> dict[str, Any]:
    """Every IE of one record by the definitions, its directions taken as
    the meter named them (``source``: the key of the meter's forward
    direction, the record's own or its reverse)."""
    # A key that is its own reverse (the same address and port at both
    # ends) has every packet in its forward direction.
    alone = source.reverse() == source
    fwd = _direction(rec.packets, source)
    rev = _direction([] if alone else rec.packets, source.reverse())
    start = min(p.ns for p in rec.packets)
    end = max(p.ns for p in rec.packets)
    out: dict[str, Any] = {
        "initiator": (rec.key.src, rec.key.sport, rec.key.dst, rec.key.dport),
        "vlanId": rec.key.vlan,
        "flowStartMilliseconds": start // 10**6 * 10**6,
        "flowEndMilliseconds": end // 10**6 * 10**6,
        "flowStartMicroseconds": start // 10**3 * 10**3,
        "flowEndMicroseconds": end // 10**3 * 10**3,
        "flowStartNanoseconds": start,
        "flowEndNanoseconds": end,
    }
    # Relative to the record's initiator, not to the meter's orientation.
    rfirst = _direction([] if alone else rec.packets, rec.key.reverse())["first_ns"]
    out["reverseFlowDeltaMilliseconds"] = None if rfirst is None else (rfirst - start) // 10**6
    if (rec.key.version, rec.key.proto) in ((4, 1), (6, 58)):
        out["icmpTypeCode"] = rec.key.typecode
    for prefix, d in (("", fwd), ("reverse", rev)):
        for ie, value in d.items():
            tcp_only = ie.endswith("TCPFlags") or ie == "tcpControlBits"
            if ie == "first_ns" or (tcp_only and rec.key.proto != 6):
                continue
            out[prefix + ie[0].upper() + ie[1:] if prefix else ie] = value
    return out


def as_ns(v: Any) -> int:
    return int(pd.Timestamp(v).value)


def _int_or_0(v: Any) -> int:
    return 0 if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)


def meter_key(r: dict[str, Any]) -> Key:
    """The forward key of one of the meter's rows."""
    v4 = isinstance(r.get("sourceIPv4Address"), str)
    proto = int(r["protocolIdentifier"])
    sport = _int_or_0(r.get("sourceTransportPort")) if proto in PORT_PROTOS else 0
    dport = _int_or_0(r.get("destinationTransportPort")) if proto in PORT_PROTOS else 0
    typecode = _int_or_0(r.get("icmpTypeCodeIPv4" if v4 else "icmpTypeCodeIPv6"))
    return Key(
        4 if v4 else 6,
        r["sourceIPv4Address" if v4 else "sourceIPv6Address"],
        r["destinationIPv4Address" if v4 else "destinationIPv6Address"],
        proto,
        sport,
        dport,
        typecode if proto in (1, 58) else 0,
        _int_or_0(r.get("vlanId")),
    )


def meter_ies(r: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """The meter's values of the IEs in ``want``, in the same units."""
    key = meter_key(r)
    got: dict[str, Any] = {}
    for ie in want:
        if ie not in ("initiator", "icmpTypeCode") and pd.isna(r.get(ie)):
            got[ie] = None
        elif ie == "initiator":
            got[ie] = (key.src, key.sport, key.dst, key.dport)
        elif ie == "icmpTypeCode":
            got[ie] = key.typecode
        elif ie.startswith("flowStart") or ie.startswith("flowEnd"):
            got[ie] = as_ns(r[ie])
        elif ie.endswith("MacAddress"):
            got[ie] = str(r[ie]).lower()
        else:
            got[ie] = _int_or_0(r.get(ie))
    return got


class Comparison(NamedTuple):
    unmatched: list[str]  # keys whose records differ in number
    pairs: list[tuple[Key, dict[str, Any], dict[str, Any]]]  # (key, expected, meter)


def syn_frames(rows: list[dict[str, str]]) -> set[int]:
    """Frame numbers of the SYNs without ACK (outer TCP headers)."""
    out = set()
    for row in rows:
        got = _packet(row)
        if got is not None and got[0].flags is not None and got[0].flags & (SYN | ACK) == SYN:
            out.add(int(row["frame.number"]))
    return out


def without_frames(raw: bytes, drop: set[int]) -> bytes:
    """A pcap or pcapng capture less the frames numbered in ``drop`` (from
    1, as tshark's frame.number); every other byte is kept."""
    magic = raw[:4]
    if magic in (
        b"\xd4\xc3\xb2\xa1",
        b"\x4d\x3c\xb2\xa1",
        b"\xa1\xb2\xc3\xd4",
        b"\xa1\xb2\x3c\x4d",
    ):
        e = "<" if magic[0] in (0xD4, 0x4D) else ">"
        out, at, n = [raw[:24]], 24, 0
        while at + 16 <= len(raw):
            end = at + 16 + struct.unpack_from(e + "I", raw, at + 8)[0]
            n += 1
            if n not in drop:
                out.append(raw[at:end])
            at = end
        return b"".join(out)
    # pcapng: blocks of type, total length, ..., total length; the byte
    # order is the section header's (its magic 0x1A2B3C4D); packet blocks
    # are enhanced (6), simple (3) and obsolete (2) ones.
    out, at, n, e = [], 0, 0, "<"
    while at + 12 <= len(raw):
        if raw[at : at + 4] == b"\x0a\x0d\x0d\x0a":
            e = "<" if struct.unpack_from("<I", raw, at + 8)[0] == 0x1A2B3C4D else ">"
        kind, length = struct.unpack_from(e + "II", raw, at)
        if kind in (2, 3, 6):
            n += 1
            if n in drop:
                at += length
                continue
        out.append(raw[at : at + length])
        at += length
    return b"".join(out)


# The captures as they are, and without their SYNs (a SYN without ACK):
# every connection then starts with its SYN/ACK, whose receiver is the
# initiator, though it sent no packet first.
VARIANTS = ["captured", "without-syns"]


@functools.cache
def packet_rows(name: str) -> list[dict[str, str]]:
    return mo.load_packets(name)


@functools.cache
def compare(name: str, variant: str = "captured") -> Comparison:
    path = mo.capture_path(name)
    if path is None:
        pytest.skip(f"{name} is not on this machine (see tests/data/meter-oracle/cases.tsv)")
    rows = packet_rows(name)
    if variant == "captured":
        df = ff.meter(path, dtype_backend="numpy", **FOREVER)
    else:
        drop = syn_frames(rows)
        raw = path.read_bytes()
        raw = gzip.decompress(raw) if path.suffix == ".gz" else raw
        rows = [r for r in rows if int(r["frame.number"]) not in drop]
        data = without_frames(raw, drop)
        df = ff.meter(data, dtype_backend="numpy", **FOREVER)
    ours: dict[Key, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in df.to_dict("records"):
        ours[meter_key(r).canonical()].append(r)
    theirs: dict[Key, list[Record]] = collections.defaultdict(list)
    for rec in oracle_records(rows):
        theirs[rec.key.canonical()].append(rec)
    unmatched, pairs = [], []
    for ck in sorted(set(ours) | set(theirs)):
        rows = sorted(ours.get(ck, []), key=lambda r: as_ns(r["flowStartNanoseconds"]))
        recs = sorted(theirs.get(ck, []), key=lambda rec: min(p.ns for p in rec.packets))
        if len(rows) != len(recs):
            unmatched.append(f"{ck}: meter {len(rows)} records, definition {len(recs)}")
            continue
        for r, rec in zip(rows, recs, strict=True):
            want = expected_ies(rec, meter_key(r))
            pairs.append((rec.key, want, meter_ies(r, want)))
    return Comparison(unmatched, pairs)
