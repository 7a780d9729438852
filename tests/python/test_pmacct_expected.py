"""ferrofix's decode of pmacct's test captures against nfacctd's own output.

pmacct's regression tests (github.com/pmacct/pmacct, tests/<case>/) replay a
capture of NetFlow v9 / IPFIX export traffic to nfacctd and keep what it
writes to Kafka as JSON lines (output-flow-00.json): an oracle independent
of ferrofix and of Wireshark. tests/data/pcap/ and tests/data/expected/ hold
copies of both (tests/data/SOURCES.md says where from). Each capture is read with ferrofix, every
data record becomes an nfacctd row through one table from nfacctd's field
names to IPFIX IEs (FIELDS), and the multisets of rows must be equal, field
by field, for every field that has an IPFIX counterpart.

What has to be modelled to get there, each from the case's nfacctd-00.conf
or the replay set-up in pmacct's repository:

- nfacctd aggregates records by its configured primitives, summing packets
  and bytes; both sides are aggregated here by the compared fields (111:
  24 records, 23 rows).
- ``nfacctd_renormalize: true`` (102, 104, 106) multiplies packets and bytes
  by the sampling rate the exporter announced in options records (RFC 7014
  selectorId, samplingSize, samplingPopulation), as ferrofix decodes them.
  Only 104 announces one for its flows (1 out of 256); 112 announces rates
  too, but is not renormalised and its flows use a 1:1 selector.
- The replay (pmacct's traffic-reproducer) sends an exporter's datagrams
  from one connected UDP socket at the test container's address: peer_ip_src
  is that address (Case.peers maps each exporter of the capture to it), and
  all datagrams of an exporter arrive in one transport session. 112's
  capture changes the exporter's source port and the collector's address
  between the template and the data that uses it: read as captured, that is
  two transport sessions (RFC 7011 section 8: the template does not apply
  to the other) and ferrofix rightly decodes no data record. The capture is
  therefore rewritten as replayed (_one_session_per_exporter).
- nfacctd keeps state from options records as they arrive (sampling rates,
  VRF names and route distinguishers by VRF ID, interface names by ifIndex)
  and enriches later data records with it; records are walked in capture
  order to do the same (112 reassigns VRF IDs half way).
- A template may carry an IE twice (106: Huawei's template 6017 has the
  outer 4in6 tunnel's protocol, ports, TCP flags and TOS, then the inner
  packet's). nfacctd indexes a template by IE, so the last occurrence wins;
  records are read with ``as_="fields"`` (every occurrence, as dicts and
  columns have them under ``name``, ``name.1``) and the last one taken.

Not compared (no IPFIX counterpart): label (pre_tag_map, nfacctd config),
net_src/net_dst (nfacctd's network lookup), mpls_vpn_rd_origin (where
nfacctd took the RD from), writer_id (plugin name), flows (always null),
timestamp_arrival (collector clock; pmacct's harness drops it). 102's
mpls_vpn_rd: 26 of its rows take the RD from the test's flow_to_rd_map.

Beside the comparison: a sabotage test (any one changed nfacctd value, or a
missing row, must show as a difference) and a check that read_ipfix (the
Arrow path) gives the same records as the record path compared here.
"""

from __future__ import annotations

import json
import math
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest

import ferrofix as ff

# Copies of ../shared/data files (tests/data/SOURCES.md).
DATA = Path(__file__).resolve().parents[1] / "data"

Row = dict[str, Any]
Key = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Case:
    name: str  # pmacct's tests/<name>
    peers: dict[str, str]  # exporter address in the capture -> nfacctd's peer_ip_src
    captures: tuple[str, ...] = ("traffic-00",)
    renormalize: bool = False  # nfacctd_renormalize in nfacctd-00.conf
    # NetFlow v9 flow times are SysUpTime-relative: nfacctd computes
    # unix_secs - (SysUpTime - first) / 1000 in whole seconds, which rounds
    # the time up to the second (ferrofix keeps the millisecond).
    v9_times: bool = False
    one_session: bool = False  # replay each exporter as one transport session
    skip_fields: frozenset[str] = frozenset()


# The replaying container's addresses in pmacct's harness.
V4, V6 = "172.21.1.101", "fd25::101"

CASES = [
    Case("100-IPFIXv10-CISCO", {"138.187.0.13": V4}),
    Case("101-NFv9-CISCO-cust_primitives", {"138.187.57.55": V4}, v9_times=True),
    Case(
        "102-NFv9-CISCO-f2rd-pretag-sampling-reload",
        {"10.10.0.33": V4},
        renormalize=True,  # its sampling_map gives rate 1; no options announce one
        v9_times=True,
        skip_fields=frozenset({"mpls_vpn_rd"}),
    ),
    Case(
        "104-IPFIXv10-IPv6-CISCO-sampling_option", {"2a02:a90:4007:700::54": V6}, renormalize=True
    ),
    Case("106-IPFIXv10-HUAWEI-vrf_name", {"2001:db8:54::1": V6}, renormalize=True),
    Case(
        "111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources",
        {"138.187.57.55": V4, "2001:4d98:a100:303:0:931:f:1": V6},
        captures=("traffic-00", "traffic-01"),
    ),
    Case("112-IPFIXv10-CISCO-options-map-reassignment", {"2001:db8:90::1": V6}, one_session=True),
]
IDS = [c.name.split("-")[0] for c in CASES]

# IANA protocol numbers by nfacctd's names (those the captures use).
PROTOCOLS = {6: "tcp", 17: "udp", 58: "ipv6-icmp", 112: "vrrp"}
# TCP header flag bits (RFC 9293 section 3.1), in nfacctd's order.
TCP_FLAGS = [
    (0x20, "URG"),
    (0x10, "ACK"),
    (0x08, "PSH"),
    (0x04, "RST"),
    (0x02, "SYN"),
    (0x01, "FIN"),
]
# forwardingStatus (RFC 7270 section 4.12): status in the top two bits,
# reason below; nfacctd's names for the values the captures use.
FWD_STATUS = {0: "UNKNOWN Unclassified", 64: "FORWARDED Unknown", 195: "CONSUMED For us"}
LABEL_SECTIONS = ["mplsTopLabelStackSection"] + [f"mplsLabelStackSection{i}" for i in range(2, 11)]


@dataclass
class State:
    """What nfacctd keeps per exporter and observation domain from options."""

    rates: dict[int, int] = field(default_factory=dict)  # selectorId -> sampling rate
    vrf_names: dict[int, str] = field(default_factory=dict)  # VRF ID -> VRFname
    in_rd: dict[int, bytes] = field(default_factory=dict)  # ingress VRF ID -> RD
    out_rd: dict[int, bytes] = field(default_factory=dict)  # egress VRF ID -> RD
    if_names: dict[int, str] = field(default_factory=dict)  # ifIndex -> interfaceName


@dataclass
class Flow:
    """A data record (IE name -> value, last occurrence) and its context."""

    rec: dict[str, Any]
    peer: str
    state: State
    case: Case

    def get(self, ie: str, default: Any = 0) -> Any:
        v = self.rec.get(ie)
        return default if v is None else v


def _text(v: str | None) -> str:
    # Fixed-length strings come NUL-padded; nfacctd reads them as C strings.
    return (v or "").split("\0")[0]


def _rd(rd: bytes) -> str:
    # RFC 4364 section 4.2: type (0: 2-octet AS, 1: IPv4, 2: 4-octet AS),
    # administrator, assigned number.
    kind = int.from_bytes(rd[:2])
    if kind == 1:
        return f"1:{IPv4Address(rd[2:6])}:{int.from_bytes(rd[6:])}"
    split = 4 if kind == 0 else 6
    return f"{kind}:{int.from_bytes(rd[2:split])}:{int.from_bytes(rd[split:])}"


def _mpls_vpn_rd(f: Flow) -> str:
    ingress, egress, s = f.rec.get("ingressVRFID"), f.rec.get("egressVRFID"), f.state
    if f.rec.get("mplsVpnRouteDistinguisher"):
        return _rd(f.rec["mplsVpnRouteDistinguisher"])
    if ingress in s.in_rd:
        return _rd(s.in_rd[ingress])
    if egress in s.out_rd:
        return _rd(s.out_rd[egress])
    return "0:0:0" if ingress is None else f"vrfid:{ingress}"  # no RD: the VRF ID


def _v4(f: Flow) -> bool:
    # A v9 template may carry both address families; the unused one is zero.
    v4, v6 = f.rec.get("sourceIPv4Address"), f.rec.get("sourceIPv6Address")
    return v4 is not None and (int(v4) != 0 or v6 is None or int(v6) == 0)


def _by_family(v4: str, v6: str, default: Any = None) -> Callable[[Flow], Any]:
    return lambda f: f.get(v4 if _v4(f) else v6, default)


def _labels(f: Flow) -> list[str]:
    out = []
    for i, ie in enumerate(LABEL_SECTIONS):
        entry = int.from_bytes(f.get(ie, b""))
        if entry == 0:
            break
        out.append(f"{i}-{entry >> 4}")  # RFC 3032: label(20) TC(3) S(1)
        if entry & 1:  # bottom of stack
            break
    return out


def _time(which: str) -> Callable[[Flow], str]:
    def get(f: Flow) -> str:
        if f.rec.get(f"flow{which}Milliseconds") is not None:
            t = f.rec[f"flow{which}Milliseconds"].timestamp()
        else:  # sysUpTime-relative, with the exporter's boot time in the record
            boot = f.rec["systemInitTimeMilliseconds"].timestamp()
            t = boot + f.rec[f"flow{which}SysUpTime"] / 1000
        return f"{math.ceil(t) if f.case.v9_times else math.floor(t)}.000000"

    return get


def _count(ie: str) -> Callable[[Flow], int]:
    def get(f: Flow) -> int:
        rate = f.state.rates.get(f.get("selectorId", None), 1) if f.case.renormalize else 1
        return int(f.rec[ie]) * rate

    return get


def _names(key: str, ie: str) -> Callable[[Flow], str]:
    return lambda f: getattr(f.state, key).get(f.rec.get(ie), "")


def _custom(ie: str, default: Any = 0) -> Callable[[Flow], str]:
    # aggregate_primitives (custom-primitives.map) are printed as strings.
    return lambda f: str(f.get(ie, default))


# nfacctd's JSON field -> (the IPFIX IEs it shows, a record's value). A
# field whose IE a template lacks shows 0 / 0.0.0.0 / "", as nfacctd does.
FIELDS: dict[str, tuple[tuple[str, ...], Callable[[Flow], Any]]] = {
    "peer_ip_src": ((), lambda f: f.peer),  # the datagram's sender, as replayed
    "iface_in": (("ingressInterface",), lambda f: f.get("ingressInterface")),
    "iface_out": (("egressInterface",), lambda f: f.get("egressInterface")),
    "ip_src": (
        ("sourceIPv4Address", "sourceIPv6Address"),
        lambda f: str(_by_family("sourceIPv4Address", "sourceIPv6Address")(f)),
    ),
    "ip_dst": (
        ("destinationIPv4Address", "destinationIPv6Address"),
        lambda f: str(_by_family("destinationIPv4Address", "destinationIPv6Address")(f)),
    ),
    "mask_src": (
        ("sourceIPv4PrefixLength", "sourceIPv6PrefixLength"),
        _by_family("sourceIPv4PrefixLength", "sourceIPv6PrefixLength", 0),
    ),
    "mask_dst": (
        ("destinationIPv4PrefixLength", "destinationIPv6PrefixLength"),
        _by_family("destinationIPv4PrefixLength", "destinationIPv6PrefixLength", 0),
    ),
    "port_src": (("sourceTransportPort",), lambda f: f.get("sourceTransportPort")),
    "port_dst": (("destinationTransportPort",), lambda f: f.get("destinationTransportPort")),
    "ip_proto": (("protocolIdentifier",), lambda f: PROTOCOLS[f.rec["protocolIdentifier"]]),
    "tos": (("ipClassOfService",), lambda f: f.get("ipClassOfService")),
    "tcp_flags": (
        ("tcpControlBits",),
        lambda f: [name for bit, name in TCP_FLAGS if f.get("tcpControlBits") & bit],
    ),
    "fwd_status": (("forwardingStatus",), lambda f: FWD_STATUS[f.get("forwardingStatus")]),
    # "index-label" per 3-octet section, down to the bottom of the stack.
    "mpls_label_stack": (tuple(LABEL_SECTIONS), _labels),
    # Times: flow*Milliseconds, or flow*SysUpTime + systemInitTimeMilliseconds.
    "timestamp_start": (
        ("flowStartMilliseconds", "flowStartSysUpTime", "systemInitTimeMilliseconds"),
        _time("Start"),
    ),
    "timestamp_end": (
        ("flowEndMilliseconds", "flowEndSysUpTime", "systemInitTimeMilliseconds"),
        _time("End"),
    ),
    # Renormalised by the rate of the record's selectorId (options records).
    "packets": (("packetDeltaCount", "selectorId"), _count("packetDeltaCount")),
    "bytes": (("octetDeltaCount", "selectorId"), _count("octetDeltaCount")),
    # The record's RD, else the one options records gave its ingress VRF,
    # else its egress VRF's, else "vrfid:<ingressVRFID>".
    "mpls_vpn_rd": (("mplsVpnRouteDistinguisher", "ingressVRFID", "egressVRFID"), _mpls_vpn_rd),
    # VRFname of the record's VRF IDs from options records; vrf_name is the
    # record's own VRFname, else its ingress VRF's name, else its egress VRF's.
    "ingress_vrf_name": (("ingressVRFID", "VRFname"), _names("vrf_names", "ingressVRFID")),
    "egress_vrf_name": (("egressVRFID", "VRFname"), _names("vrf_names", "egressVRFID")),
    "vrf_name": (
        ("VRFname", "ingressVRFID", "egressVRFID"),
        lambda f: (
            _text(f.rec.get("VRFname"))
            or _names("vrf_names", "ingressVRFID")(f)
            or _names("vrf_names", "egressVRFID")(f)
        ),
    ),
    # interfaceName of the record's ifIndex from options records.
    "iface_name_in": (
        ("ingressInterface", "interfaceName"),
        _names("if_names", "ingressInterface"),
    ),
    "iface_name_out": (("egressInterface", "interfaceName"), _names("if_names", "egressInterface")),
    # custom-primitives.map entries (name, IPFIX field_type):
    "custom_primitives.vrf_id_ingress": (("ingressVRFID",), _custom("ingressVRFID")),  # 234
    "custom_primitives.vrf_id_egress": (("egressVRFID",), _custom("egressVRFID")),  # 235
    "custom_primitives.mpls_tl_ipv4_address": (  # 47
        ("mplsTopLabelIPv4Address",),
        _custom("mplsTopLabelIPv4Address", "0.0.0.0"),
    ),
    "custom_primitives.mpls_tl_prefix_length": (  # 91
        ("mplsTopLabelPrefixLength",),
        _custom("mplsTopLabelPrefixLength"),
    ),
    "custom_primitives.mpls_tl_type": (("mplsTopLabelType",), _custom("mplsTopLabelType")),  # 46
}
NOT_COMPARED = {"label", "net_src", "net_dst", "mpls_vpn_rd_origin", "writer_id", "flows"}
FLOW_IES = sorted({ie for ies, _ in FIELDS.values() for ie in ies})
# What the options records that nfacctd keeps state from carry.
OPTION_IES = [
    "selectorId", "samplingSize", "samplingPopulation", "VRFname", "ingressVRFID",
    "egressVRFID", "mplsVpnRouteDistinguisher", "ingressInterface", "interfaceName",
]  # fmt: skip


def _checksum(data: bytes) -> int:
    s = sum(struct.unpack(f"!{len(data) // 2}H", data + b"\0" * (len(data) % 2)))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF or 0xFFFF


def _one_session_per_exporter(data: bytes) -> bytes:
    """A classic pcap whose UDP datagrams from one address all go from the
    source port, to the destination address and port, of its first, as
    pmacct's traffic-reproducer sends them (one connected socket per
    exporter, to one collector); UDP checksums are recomputed (RFC 768)."""
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    l2 = {1: 14, 113: 16}[struct.unpack_from(order + "I", data, 20)[0]]  # Ethernet, SLL
    out, at = bytearray(data), 24
    first: dict[bytes, tuple[bytes, bytes]] = {}
    while at + 16 <= len(out):
        ip = at + 16 + l2
        at += 16 + struct.unpack_from(order + "I", out, at + 8)[0]
        v4 = out[ip] >> 4 == 4
        if out[ip] >> 4 not in (4, 6) or out[ip + (9 if v4 else 6)] != 17:
            continue  # not UDP over IP
        a, n = (ip + 12, 4) if v4 else (ip + 8, 16)
        src, dst = slice(a, a + n), slice(a + n, a + 2 * n)
        udp = ip + 4 * (out[ip] & 15) if v4 else ip + 40
        to = bytes(out[dst] + out[udp + 2 : udp + 4])  # collector address and port
        port, to = first.setdefault(bytes(out[src]), (bytes(out[udp : udp + 2]), to))
        out[udp : udp + 2], out[dst], out[udp + 2 : udp + 4] = port, to[:-2], to[-2:]
        n = struct.unpack_from("!H", out, udp + 4)[0]
        if out[udp + 6 : udp + 8] != b"\0\0" or not v4:  # IPv4 may omit it
            out[udp + 6 : udp + 8] = b"\0\0"
            pseudo = out[src] + out[dst] + struct.pack("!HH", 17, n)
            out[udp + 6 : udp + 8] = struct.pack(
                "!H", _checksum(bytes(pseudo + out[udp : udp + n]))
            )
    return bytes(out)


def _keep(s: State, rec: dict[str, Any]) -> None:
    """nfacctd's state from one options record."""
    if rec.get("selectorId") is not None and rec.get("samplingPopulation"):
        # RFC 7014 n-out-of-N sampling: one packet in N / n.
        s.rates[rec["selectorId"]] = rec["samplingPopulation"] // rec["samplingSize"]
    vrfs = [v for v in (rec.get("ingressVRFID"), rec.get("egressVRFID")) if v]
    if rec.get("VRFname") is not None:
        s.vrf_names.update(dict.fromkeys(vrfs, _text(rec["VRFname"])))
    if rec.get("mplsVpnRouteDistinguisher") is not None:
        if rec.get("ingressVRFID"):
            s.in_rd[rec["ingressVRFID"]] = rec["mplsVpnRouteDistinguisher"]
        if rec.get("egressVRFID"):
            s.out_rd[rec["egressVRFID"]] = rec["mplsVpnRouteDistinguisher"]
    if rec.get("interfaceName") is not None and rec.get("ingressInterface") is not None:
        s.if_names[rec["ingressInterface"]] = _text(rec["interfaceName"])


def ferrofix_rows(case: Case, data: bytes, fields: set[str]) -> list[Row]:
    """Every data record of a capture as an nfacctd row of ``fields``,
    enriched with the options records before it in the capture."""
    names = {(ie.pen, ie.id): ie.name for ie in ff.describe(sorted({*FLOW_IES, *OPTION_IES}))}
    records = []
    for kind in ("data", "options"):
        for meta, values in ff.iter_records(data, records=kind, meta=True, as_="fields"):
            # Later occurrences of an IE overwrite earlier ones, as in nfacctd.
            rec = {names[pen, ie]: v for pen, ie, v in values if (pen, ie) in names}
            records.append((meta.offset, kind, meta, rec))
    rows: list[Row] = []
    states: dict[tuple[str, int], State] = {}
    for _offset, kind, meta, rec in sorted(records, key=lambda r: r[0]):  # capture order
        assert meta.exporter is not None
        state = states.setdefault((meta.exporter[0], meta.observation_domain_id), State())
        if kind == "options":
            _keep(state, rec)
        else:
            flow = Flow(rec, case.peers[meta.exporter[0]], state, case)
            rows.append({name: FIELDS[name][1](flow) for name in fields})
    return rows


def _key(row: Row) -> Key:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in row.items()))


def aggregate(rows: list[Row]) -> Counter[Key]:
    """Rows summed over packets and bytes by every other field, as nfacctd
    aggregates by its primitives: a multiset of rows."""
    sums: dict[Key, list[int]] = {}
    for row in rows:
        rest = {k: v for k, v in row.items() if k not in ("packets", "bytes")}
        acc = sums.setdefault(_key(rest), [0, 0])
        acc[0] += row.get("packets", 0)
        acc[1] += row.get("bytes", 0)
    return Counter(_key({**dict(k), "packets": p, "bytes": b}) for k, (p, b) in sums.items())


def differences(got: list[Row], want: list[Row]) -> list[str]:
    """The rows one side has and the other lacks, after aggregation."""
    g, w = aggregate(got), aggregate(want)
    return [f"ferrofix only: {dict(k)}" for k in g - w] + [f"pmacct only: {dict(k)}" for k in w - g]


def _paths(case: Case) -> tuple[list[Path], Path]:
    captures = [DATA / "pcap" / f"pmacct__{case.name}--{c}.pcap" for c in case.captures]
    expected = DATA / "expected" / f"pmacct__{case.name}--output-flow-00.json"
    return captures, expected


def _captures(case: Case) -> list[bytes]:
    datas = [p.read_bytes() for p in _paths(case)[0]]
    return [_one_session_per_exporter(d) for d in datas] if case.one_session else datas


def compared_rows(case: Case) -> tuple[list[Row], list[Row]]:
    """(ferrofix's rows, nfacctd's rows) over the fields compared."""
    want = []
    for line in _paths(case)[1].read_text().splitlines():
        row = json.loads(line)
        row.update(
            {f"custom_primitives.{k}": v for k, v in row.pop("custom_primitives", {}).items()}
        )
        want.append(row)
    unmapped = set(want[0]) - set(FIELDS) - NOT_COMPARED - case.skip_fields
    assert not unmapped, f"nfacctd fields with no mapping: {unmapped}"
    fields = (set(want[0]) & set(FIELDS)) - case.skip_fields
    got = [row for data in _captures(case) for row in ferrofix_rows(case, data, fields)]
    return got, [{k: v for k, v in row.items() if k in fields} for row in want]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_records_match_nfacctd_output(case: Case) -> None:
    got, want = compared_rows(case)
    assert len(got) >= len(want) > 0
    assert differences(got, want) == []


def _changed(v: Any) -> Any:
    if isinstance(v, list):
        return [*v, "0-1"]
    return v + 1 if isinstance(v, int) else f"{v}x"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_value_is_caught(case: Case) -> None:
    """Sabotage: one changed value of nfacctd's, whichever field, or one
    row missing, is a difference."""
    got, want = compared_rows(case)
    for name in want[0]:
        sabotaged = [{**want[0], name: _changed(want[0][name])}, *want[1:]]
        assert differences(got, sabotaged), name
    assert differences(got, want[1:])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_read_ipfix_reads_the_same_records(case: Case) -> None:
    """read_ipfix (the Arrow path) gives the records compared above, IE by
    IE (the first occurrence of a repeated IE, under its plain name, as in
    dicts)."""
    pytest.importorskip("pandas")
    for data in _captures(case):
        df = ff.read_ipfix(data, columns=FLOW_IES)[FLOW_IES]
        got = df.astype(object).where(df.notna(), None).to_dict("records")
        want = [
            {k: str(v) if isinstance(v, IPv4Address | IPv6Address) else v for k, v in rec.items()}
            for rec in ff.iter_records(data, records="data", columns=FLOW_IES)
        ]
        assert got == want
