"""tshark's decode of NetFlow v9 and v5 export, field by field, for
``test_netflow.py``: every field Wireshark's cflow dissector shows for a
flow, attached to the template field (v9) or the v5 record field whose
bytes it shows, with the IPFIX IE ferrofix must give for it.

tshark runs with ``-x``, which gives every displayed field its frame span;
a v9 data record is cut into fields by walking its template (as tshark
printed it, checked against the template's bytes) over the frame, as
``scripts/oracle_tshark.py`` does for IPFIX (its helpers are used here); a
v5 record by Cisco's fixed layout. Every field tshark shows inside a flow
must land on exactly one record field, or be named in ``NOT_FIELDS``.

What a v9 field is in IPFIX (ferrofix's translation, src/netflow/mod.rs,
stated here so that a change of it fails the test): types below 32768 keep
their number (RFC 7012 §4: IPFIX took them over from v9); types from 32768
are vendor fields, IEs of PEN 4294967295 numbered by their low 15 bits;
FIRST_SWITCHED/LAST_SWITCHED (22/21, SysUpTime milliseconds, RFC 3954 §8)
become the absolute flowStartMilliseconds/flowEndMilliseconds (152/153);
options scope types (RFC 3954 §6.1: System, Interface, Line Card, Cache,
Template) become the IPFIX IEs that name those things.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import oracle_tshark as tsh

V9_VENDOR_PEN = 4294967295
# v9 FIRST_SWITCHED (22) / LAST_SWITCHED (21) -> flowStart/EndMilliseconds.
SYSUPTIME_TIMES = {22: 152, 21: 153}
# RFC 3954 §6.1 scope types -> exportingProcessId, ingressInterface,
# lineCardId, meteringProcessId, templateId.
SCOPES = {1: 144, 2: 10, 3: 141, 4: 143, 5: 145}
# Cisco's NetFlow v5 record (48 octets): offset -> (IE, length).
V5_LAYOUT = {
    0: (8, 4),  # srcaddr
    4: (12, 4),  # dstaddr
    8: (15, 4),  # nexthop
    12: (10, 2),  # input
    14: (14, 2),  # output
    16: (2, 4),  # dPkts
    20: (1, 4),  # dOctets
    24: (152, 4),  # First (SysUpTime ms)
    28: (153, 4),  # Last (SysUpTime ms)
    32: (7, 2),  # srcport
    34: (11, 2),  # dstport
    37: (6, 1),  # tcp_flags
    38: (4, 1),  # prot
    39: (5, 1),  # tos
    40: (16, 2),  # src_as
    42: (17, 2),  # dst_as
    44: (9, 1),  # src_mask
    45: (13, 1),  # dst_mask
}
V5_PADS = {36: 1, 46: 2}  # pad1, pad2: no field
# Fields tshark shows inside a flow that are no field of the record.
NOT_FIELDS = {
    "cflow.timedelta": "LAST_SWITCHED minus FIRST_SWITCHED, computed by tshark",
    "cflow.padding": "v5's pad1 and pad2 octets",
}


@dataclass
class Flow:
    """One flow as tshark shows it: ``fields`` in record order, each
    [pen, id, display, key, ftype] or [pen, id, None, None, None, {"len",
    "parts"}] (oracle_tshark's form), ``uptime`` whether each is a
    SysUpTime time (v9 21/22, v5 First/Last), ``head`` the packet header's
    times."""

    version: int
    exporter: tuple[str, int]
    head: dict[str, Any]
    fields: list[list[Any]]
    uptime: list[bool]


def run(
    path: Path, ports: list[int], first_frame: int = 1, ipfix: bool = False
) -> tuple[list[Flow], list[Any]]:
    """The flows of the capture from packet ``first_frame`` on (IPFIX
    records too with ``ipfix``), and the cflow layer of each v5/v9 packet
    (for the header's sampling)."""
    cmd = ["tshark", "-r", str(path), "-n", "-T", "json", "-x", "-J", "frame ip ipv6 udp cflow"]
    for port in ports:
        cmd += ["-d", f"udp.port=={port},cflow"]
    proc = subprocess.run(cmd, capture_output=True, check=True)
    packets = json.loads(proc.stdout, object_pairs_hook=lambda kv: kv)
    walk = Walk(ipfix)
    heads = []
    for pkt in packets:
        layers = tsh.get(tsh.get(pkt, "_source"), "layers")
        assert tsh.get(layers, "_ws.malformed") is None, "tshark could not dissect a packet"
        cf = tsh.get(layers, "cflow")
        if cf is None:
            continue
        frame_no = int(tsh.get(tsh.get(layers, "frame"), "frame.number"))
        ip = tsh.get(layers, "ip") or tsh.get(layers, "ipv6")
        src = tsh.get(ip, "ip.src") or tsh.get(ip, "ipv6.src")
        exporter = (str(src), int(tsh.get(tsh.get(layers, "udp"), "udp.srcport")))
        frame = bytes.fromhex(tsh.get(layers, "frame_raw")[0])
        keep = frame_no >= first_frame
        version = int(tsh.get(cf, "cflow.version"))
        if version in (5, 9) and keep:
            heads.append(cf)
        walk.packet(cf, frame, exporter, keep)
    return walk.flows, heads


def _head(cf: Any) -> dict[str, Any]:
    stamp = tsh.get(cf, "cflow.timestamp_tree")
    return {
        "secs": int(tsh.get(stamp, "cflow.unix_secs")),
        "nsecs": int(tsh.get(stamp, "cflow.unix_nsecs", "0")),
        "uptime": float(tsh.get(cf, "cflow.sysuptime")),
    }


def _ie(v9_type: int, scope: bool) -> tuple[int, int]:
    if scope:
        return 0, SCOPES.get(v9_type, v9_type)
    if v9_type >= 32768:
        return V9_VENDOR_PEN, v9_type & 0x7FFF
    return 0, SYSUPTIME_TIMES.get(v9_type, v9_type)


class Walk:
    """cflow's packets in order, with its v9 template cache (per exporter,
    source id and template id, as cflow keys it)."""

    def __init__(self, ipfix: bool = False) -> None:
        self.templates: dict[tuple[Any, ...], list[tuple[int, int, int, int]]] = {}
        self.flows: list[Flow] = []
        # IPFIX messages, walked as scripts/oracle_tshark.py walks them.
        self.ipfix = tsh.SetWalk(bit_parts=True) if ipfix else None

    def packet(self, cf: Any, frame: bytes, exporter: tuple[str, int], keep: bool) -> None:
        version = int(tsh.get(cf, "cflow.version"))
        if version == 5:
            if keep:
                self._v5(cf, frame, exporter)
            return
        if version == 10 and self.ipfix is not None:
            base = int(tsh.get(cf, "cflow.version_raw")[1])
            n = len(self.ipfix.records)
            self.ipfix.message(cf, frame, base, 0, (exporter,), {}, f"{exporter}")
            for rec in self.ipfix.records[n:] if keep else []:
                fields = rec["fields"]
                self.flows.append(Flow(10, exporter, {}, fields, [False] * len(fields)))
            return
        if version != 9:
            return  # IPFIX: test_oracle_pcap.py's unless asked for
        source = int(tsh.get(cf, "cflow.source_id"))
        for key, fs in cf:
            if not (tsh.is_node(fs) and key.startswith("FlowSet ")):
                continue
            set_id = int(tsh.get(fs, "cflow.flowset_id"))
            if set_id in (0, 1):
                for k, t in fs:
                    if tsh.is_node(t) and k.startswith(("Template (", "Options Template (")):
                        tid = int(tsh.get(t, "cflow.template_id"))
                        self.templates[(exporter, source, tid)] = _template(t, frame)
                continue
            flows = [(k, v) for k, v in fs if tsh.is_node(v) and k.startswith("Flow ")]
            if not flows or not keep:
                continue
            template = self.templates[(exporter, source, set_id)]
            at = int(tsh.get(fs, "cflow.flowset_id_raw")[1]) + 4
            end = at - 4 + int(tsh.get(fs, "cflow.flowset_length"))
            for flow_key, flow in flows:
                spans = tsh.record_spans([(0, 0, t[2]) for t in template], frame, at, end)
                assert spans is not None, f"{flow_key}: does not fit its flowset"
                fields = _fields([t[:3] for t in template], spans, at, flow, flow_key)
                uptime = [t[3] in SYSUPTIME_TIMES and t[:2] != (0, t[3]) for t in template]
                self.flows.append(Flow(9, exporter, _head(cf), fields, uptime))
                at = spans[-1][1] if spans else at

    def _v5(self, cf: Any, frame: bytes, exporter: tuple[str, int]) -> None:
        base = int(tsh.get(cf, "cflow.version_raw")[1])
        pdus = [(k, v) for k, v in cf if tsh.is_node(v) and k.startswith("pdu ")]
        for i, (key, pdu) in enumerate(pdus):
            start = base + 24 + 48 * i
            offsets = sorted(V5_LAYOUT)
            template = [(0, V5_LAYOUT[o][0], V5_LAYOUT[o][1]) for o in offsets]
            spans = [(start + o, start + o + V5_LAYOUT[o][1]) for o in offsets]
            pads = [(start + o, start + o + n) for o, n in V5_PADS.items()]
            fields = _fields(template, spans, start, pdu, key, pads)
            uptime = [o in (24, 28) for o in offsets]
            self.flows.append(Flow(5, exporter, _head(cf), fields, uptime))


def _template(node: Any, frame: bytes) -> list[tuple[int, int, int, int]]:
    """(pen, IE, length, v9 type) of each field of a v9 (options) template,
    checked against the specifier bytes tshark points at."""
    out = []
    for k, v in node:
        if not (tsh.is_node(v) and k.startswith("Field (")):
            continue
        (type_key,) = [fk for fk, fv in v if isinstance(fv, str) and fk.endswith("field_type")]
        raw_at = int(tsh.get(v, type_key + "_raw")[1])
        v9_type, length = struct.unpack_from(">HH", frame, raw_at)
        assert (v9_type, length) == (
            int(tsh.get(v, type_key)),
            int(tsh.get(v, "cflow.template_field_length")),
        ), k
        out.append((*_ie(v9_type, "[Scope]" in k), length, v9_type))
    return out


def _fields(
    template: list[tuple[int, int, int]],
    spans: list[tuple[int, int]],
    start: int,
    flow: Any,
    where: str,
    pads: list[tuple[int, int]] | None = None,
) -> list[list[Any]]:
    """The record's fields from what tshark shows in ``flow``; every field
    shown must fall on one record field (or be in NOT_FIELDS)."""
    shown = tsh.leaves(flow)
    on_one = []
    for leaf in shown:
        key, disp, p, n = leaf[:4]
        hits = [s for s in spans if s[0] <= p and p + n <= s[1]]
        if len(hits) == 1:
            on_one.append(leaf)
        elif key == "cflow.padding":
            assert (p, p + n) in (pads or []), f"{where}: padding at {p}+{n}"
        else:
            assert key in NOT_FIELDS, f"{where}: {key} = {disp!r} at {p}+{n} is on no record field"
    walk = tsh.SetWalk(bit_parts=True)
    return walk.record_fields(template, spans, start, on_one, where)
