#!/usr/bin/env python3
"""Decode IPFIX byte streams with tshark and write normalized oracle JSON.

tshark reads captures, not RFC 5655 files, so each input stream (one file,
or several files concatenated: templates first, then data) is split into
IPFIX messages by the 16-bit length at offset 2 of each 16-byte message
header (RFC 7011 section 3.1).  Splitting stops at the first header that is
not version 10, claims fewer than 16 octets, or runs past the end of the
stream; that stop is recorded.  Every message becomes one UDP datagram of a
classic pcap (Ethernet/IPv4/UDP, 192.0.2.1:40000 -> 192.0.2.2:4739), all on
one 5-tuple so that tshark's template cache (per conversation and
observation domain) carries templates from earlier packets to later ones.

tshark is run as

    tshark -n -r IN.pcap -T json -x -d udp.port==4739,cflow \
           -o cflow.max_template_fields:0

`-x` adds a `<field>_raw` sibling to every field: [hex, frame offset,
length, bitmask, field type].  The offsets are what lets us attach tshark's
displayed values to template fields: for every data record we walk the
template (as tshark printed it) over the frame bytes to get each field's
value span, then take the tshark field whose raw span equals that value span
exactly.  Values are copied as tshark displays them; nothing is reformatted.

Usage:
    oracle_tshark.py -o OUT.json FILE [FILE ...]
    oracle_tshark.py --cases tests/data/oracle/cases.json \
                     --data-dir tests/data/ipfix --out-dir tests/data/oracle

Outputs above 256 KiB are written gzip-compressed (mtime 0, no name) as
<case>.tshark.json.gz so they stay reproducible byte for byte.

Output (one JSON object, records one per line):
    tool        tshark version line and the command
    files       input file names (concatenated in this order)
    stream      byte length, messages split, and `stop` (null, or where and
                why splitting stopped)
    messages    per message: index, offset, length, odid, export_time,
                sequence
    records     in wire order: {"msg", "odid", "template_id", "offset",
                "fields": [[pen, id, value, key, ftype], ...]} in template
                field order.  `offset` is the record's byte offset in the
                input stream.  `value` is tshark's display string, `key` the
                tshark field name and `ftype` its Wireshark field type
                (FT_UINT32, FT_BYTES, FT_ABSOLUTE_TIME, ...), which says how
                to read the display (a one-octet FT_BYTES "11" is 0x11).
                When tshark splits one IPFIX field into several display
                fields (e.g. Cisco applicationId into classification engine
                + selector) or shows nothing for it (tshark hides
                zero-length fields), value, key and ftype are null and a
                sixth element {"len": value octets, "parts": [[key,
                display, ftype], ...]} lists what tshark showed inside.
    undecoded_sets  data sets tshark did not decode (no template, etc.)
    expert      tshark expert-info messages (malformed packets etc.)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IPFIX_PORT = 4739
GZIP_OVER = 256 * 1024  # larger outputs are written as <name>.gz
ETH_IP_UDP = 14 + 20 + 8  # frame offset of the IPFIX message in each packet
TSHARK_OPTS = [
    "-n",
    "-T",
    "json",
    "-x",
    "-d",
    f"udp.port=={IPFIX_PORT},cflow",
    "-o",
    "cflow.max_template_fields:0",
]

# Keys that hold a template field's element id (see parse_template).
FIELD_ID_KEYS = ("_field_type", "_field_type_enterprise")

Pairs = list[Any]  # tshark JSON object as an ordered list of (key, value) pairs
Template = list[tuple[int, int, int]]  # (pen, id, length) per field
Leaf = tuple[str, str, int, int, int, str]  # see leaves()
Spans = list[tuple[int, int]]  # [start, end) of each value of a record
Head = dict[str, Any]  # leading fields of records and undecoded sets
Scope = tuple[Any, ...]  # template cache key: (*scope, odid, template id)


# --------------------------------------------------------------------------
# stream -> messages -> pcap


def split_messages(data: bytes) -> tuple[list[tuple[int, bytes]], dict[str, Any] | None]:
    """Split an RFC 5655 stream into (offset, message) pairs."""
    msgs: list[tuple[int, bytes]] = []
    off = 0
    while off < len(data):
        if len(data) - off < 16:
            return msgs, {
                "offset": off,
                "reason": f"{len(data) - off} trailing octets, shorter than a message header",
            }
        version, length = struct.unpack_from(">HH", data, off)
        if version != 10:
            return msgs, {"offset": off, "reason": f"version {version}, not 10"}
        if length < 16:
            return msgs, {"offset": off, "reason": f"message length {length} < 16"}
        if off + length > len(data):
            return msgs, {
                "offset": off,
                "reason": f"message length {length} exceeds the {len(data) - off} octets left",
            }
        msgs.append((off, data[off : off + length]))
        off += length
    return msgs, None


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f">{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def write_pcap(messages: list[bytes], path: str) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, msg in enumerate(messages):
            udp = struct.pack(">HHHH", 40000, IPFIX_PORT, 8 + len(msg), 0) + msg
            ip = bytearray(
                struct.pack(
                    ">BBHHHBBH4s4s",
                    0x45,
                    0,
                    20 + len(udp),
                    i & 0xFFFF,
                    0,
                    64,
                    17,
                    0,
                    bytes([192, 0, 2, 1]),
                    bytes([192, 0, 2, 2]),
                )
            )
            ip[10:12] = struct.pack(">H", _ip_checksum(bytes(ip)))
            frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
            frame += bytes(ip) + udp
            f.write(struct.pack("<IIII", 1_000_000_000 + i, 0, len(frame), len(frame)))
            f.write(frame)


def tshark_version() -> str:
    out = subprocess.run(["tshark", "-v"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def run_tshark(capture: str, opts: list[str] = TSHARK_OPTS) -> list[Pairs]:
    """tshark's JSON (`-T json` in `opts`) of a capture, one pair list per packet."""
    proc = subprocess.run(["tshark", "-r", capture, *opts], capture_output=True, check=True)
    if not proc.stdout.strip():
        return []
    # Keep duplicate keys and their order: cflow repeats keys inside a record.
    packets: list[Pairs] = json.loads(proc.stdout, object_pairs_hook=lambda p: p)
    return packets


# --------------------------------------------------------------------------
# helpers over tshark's pair lists


def is_node(v: Any) -> bool:
    return isinstance(v, list) and (not v or isinstance(v[0], tuple))


def get(pairs: Pairs, key: str, default: Any = None) -> Any:
    for k, v in pairs:
        if k == key:
            return v
    return default


# Wireshark's ftenum (epan/ftypes/ftypes.h, 4.0), the fifth item of "_raw".
FTYPES = {
    2: "FT_BOOLEAN",
    4: "FT_UINT8",
    5: "FT_UINT16",
    6: "FT_UINT24",
    7: "FT_UINT32",
    8: "FT_UINT40",
    9: "FT_UINT48",
    10: "FT_UINT56",
    11: "FT_UINT64",
    12: "FT_INT8",
    13: "FT_INT16",
    14: "FT_INT24",
    15: "FT_INT32",
    16: "FT_INT40",
    17: "FT_INT48",
    18: "FT_INT56",
    19: "FT_INT64",
    22: "FT_FLOAT",
    23: "FT_DOUBLE",
    24: "FT_ABSOLUTE_TIME",
    25: "FT_RELATIVE_TIME",
    26: "FT_STRING",
    27: "FT_STRINGZ",
    28: "FT_UINT_STRING",
    29: "FT_ETHER",
    30: "FT_BYTES",
    31: "FT_UINT_BYTES",
    32: "FT_IPv4",
    33: "FT_IPv6",
}


def leaves(pairs: Pairs) -> list[Leaf]:
    """Displayed fields with a raw span: (key, display, pos, len, bitmask, ftype)."""
    out = []
    raw: dict[str, list[Any]] = {}
    for k, v in pairs:
        if is_node(v):
            out.extend(leaves(v))
        elif k.endswith("_raw") and isinstance(v, list) and len(v) == 5:
            raw[k[:-4]] = v
        elif isinstance(v, str) and k in raw:
            r = raw.pop(k)
            ftype = FTYPES.get(int(r[4]), f"ftype {r[4]}")
            out.append((k, v, int(r[1]), int(r[2]), int(r[3]), ftype))
    return out


def expert_messages(pairs: Pairs) -> list[str]:
    out = []
    for k, v in pairs:
        if k == "_ws.expert.message" and isinstance(v, str):
            out.append(v)
        elif is_node(v):
            out.extend(expert_messages(v))
    return out


# --------------------------------------------------------------------------
# normalization


def parse_template(node: Pairs, frame: bytes, id_keys: tuple[str, ...] = FIELD_ID_KEYS) -> Template:
    """(pen, id, length) for each field of a tshark Template node.

    The element id is the one `cflow.template_*` key ending in one of
    `id_keys` (oracle_pcap adds "_type" for the key cflow gives Juniper's
    PEN 2636 ids, `cflow.template_juniper_resiliency_type`)."""
    fields = []
    for k, v in node:
        if not (is_node(v) and k.startswith("Field (")):
            continue
        ids = [
            int(fv)
            for fk, fv in v
            if isinstance(fv, str) and fk.startswith("cflow.template_") and fk.endswith(id_keys)
        ]
        if len(ids) != 1:
            raise ValueError(f"not one field type key in template field {k!r}")
        length = int(get(v, "cflow.template_field_length"))
        pen = int(get(v, "cflow.template_ipfix_field_pen", "0"))
        # Cross-check tshark's view against the specifier bytes it points at.
        pos = int(get(v, "cflow.template_field_length_raw")[1]) - 2
        raw_id, raw_len = struct.unpack_from(">HH", frame, pos)
        if (raw_id & 0x7FFF, raw_len) != (ids[0], length):
            raise ValueError(f"{k!r}: tshark shows {ids[0]}/{length}, bytes {raw_id}/{raw_len}")
        fields.append((pen, ids[0], length))
    return fields


def record_spans(template: Template, frame: bytes, start: int, end: int) -> Spans | None:
    """Value spans [(s, e)] of one record starting at `start`, or None."""
    spans: Spans = []
    p = start
    for _pen, _fid, length in template:
        if length == 0xFFFF:  # RFC 7011 section 7: variable-length encoding
            if p + 1 > end:
                return None
            n = frame[p]
            p += 1
            if n == 255:
                if p + 2 > end:
                    return None
                n = struct.unpack_from(">H", frame, p)[0]
                p += 2
            length = n
        if p + length > end:
            return None
        spans.append((p, p + length))
        p += length
    return spans


def message_header(cf: Pairs) -> dict[str, int]:
    """length, odid, export_time and sequence of a cflow message."""
    return {
        "length": int(get(cf, "cflow.len")),
        "odid": int(get(cf, "cflow.od_id")),
        "export_time": int(get(get(cf, "cflow.timestamp_tree"), "cflow.exporttime")),
        "sequence": int(get(cf, "cflow.sequence")),
    }


@dataclass
class SetWalk:
    """Walks cflow messages' sets in order, keeping tshark's template cache;
    collects `records` and `undecoded` sets.  What oracle_pcap changes:
    `id_keys` (see parse_template), `bit_parts` (a split field's "parts"
    also list the bit fields shown over the whole value, with bitmask), and
    per message the template `scope` (cflow's conversation), the `head`
    fields leading its records and undecoded sets, `where` for errors."""

    id_keys: tuple[str, ...] = FIELD_ID_KEYS
    bit_parts: bool = False
    templates: dict[Scope, Template] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    undecoded: list[dict[str, Any]] = field(default_factory=list)

    def message(
        self, cf: Pairs, frame: bytes, base: int, offset: int, scope: Scope, head: Head, where: str
    ) -> None:
        """One message: `base` is its frame offset, `offset` its stream offset."""
        odid = int(get(cf, "cflow.od_id"))
        for set_key, set_node in cf:
            if not (is_node(set_node) and set_key.startswith("Set ")):
                continue
            set_id = int(get(set_node, "cflow.flowset_id"))
            set_pos = int(get(set_node, "cflow.flowset_id_raw")[1])
            set_len = int(get(set_node, "cflow.flowset_length"))
            if set_id in (2, 3):
                for k, v in set_node:
                    if is_node(v) and k.startswith(("Template (", "Options Template (")):
                        key = (*scope, odid, int(get(v, "cflow.template_id")))
                        tmpl = parse_template(v, frame, self.id_keys)
                        if tmpl:
                            self.templates[key] = tmpl
                        else:  # RFC 7011 section 8.1 withdrawal
                            self.templates.pop(key, None)
                continue
            flows = [(k, v) for k, v in set_node if is_node(v) and k.startswith("Flow ")]
            if not flows:
                shown = [k for k, v in set_node if is_node(v)]
                self.undecoded.append(
                    {**head, "set_id": set_id, "offset": offset + set_pos - base, "tshark": shown}
                )
                continue
            template = self.templates[(*scope, odid, set_id)]
            pos, end = set_pos + 4, set_pos + set_len
            for flow_key, flow in flows:
                at = f"{where} set {set_id} {flow_key}"
                spans = record_spans(template, frame, pos, end)
                if spans is None:
                    raise ValueError(f"{at}: tshark shows a record that does not fit the set")
                self.records.append(
                    {
                        **head,
                        "odid": odid,
                        "template_id": set_id,
                        "offset": offset + pos - base,
                        "fields": self.record_fields(template, spans, pos, leaves(flow), at),
                    }
                )
                pos = spans[-1][1] if spans else pos

    def record_fields(
        self, template: Template, spans: Spans, start: int, shown: list[Leaf], at: str
    ) -> list[list[Any]]:
        """A record's fields from what tshark `shown` for it (see the docstring)."""
        end = spans[-1][1] if spans else start
        found = [lf for lf in shown if lf[4] == 0]
        for key, _disp, p, n, _m, _t in found:
            if p < start or p + n > end:
                raise ValueError(f"{at}: {key} at {p}+{n} outside record {start}..{end}")
        fields: list[list[Any]] = []
        for (pen, fid, _len), (s, e) in zip(template, spans, strict=True):
            inside = [lf for lf in found if lf[2] >= s and lf[2] + lf[3] <= e]
            exact = [lf for lf in inside if lf[2] == s and lf[2] + lf[3] == e]
            if not exact and len(inside) == 1 and inside[0][2] == s:
                # tshark sometimes gives a shorter span than it decodes
                # (a lone flowStartMilliseconds shows a 4-octet span).
                exact = inside
            if exact:
                fields.append([pen, fid, exact[0][1], exact[0][0], exact[0][5]])
                continue
            parts: list[list[Any]] = [[lf[0], lf[1], lf[5]] for lf in inside]
            if self.bit_parts:
                # Bit fields over the whole value: MPLS label stack entries,
                # forwardingStatus, Juniper common properties.
                parts += [
                    [lf[0], lf[1], lf[5], lf[4]]
                    for lf in shown
                    if lf[4] != 0 and (lf[2], lf[2] + lf[3]) == (s, e)
                ]
            fields.append([pen, fid, None, None, None, {"len": e - s, "parts": parts}])
        return fields


def normalize(packets: list[Pairs], msgs: list[tuple[int, bytes]]) -> dict[str, Any]:
    walk = SetWalk()
    messages: list[dict[str, Any]] = []
    expert: list[str] = []
    for index, pkt in enumerate(packets):
        layers = get(get(pkt, "_source"), "layers")
        msg_off = msgs[index][0]
        cf = get(layers, "cflow")
        expert.extend(f"msg {index}: {m}" for m in expert_messages(layers))
        if cf is None:
            messages.append({"index": index, "offset": msg_off, "cflow": False})
            continue
        messages.append({"index": index, "offset": msg_off, **message_header(cf)})
        frame = bytes.fromhex(get(layers, "frame_raw")[0])
        walk.message(cf, frame, ETH_IP_UDP, msg_off, (), {"msg": index}, f"msg {index}")
    return {
        "messages": messages,
        "records": walk.records,
        "undecoded_sets": walk.undecoded,
        "expert": expert,
    }


# --------------------------------------------------------------------------
# output


def dump(doc: dict[str, Any], path: str) -> None:
    """JSON with one record per line (diffable); gzip -n above GZIP_OVER."""
    head = {k: v for k, v in doc.items() if k != "records"}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
    lines.append(' "records": [')
    recs = [json.dumps(r, ensure_ascii=False) for r in doc["records"]]
    lines.append(",\n".join(recs))
    lines.append(" ]")
    lines.append("}")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    for stale in (path, path + ".gz"):
        if os.path.exists(stale):
            os.remove(stale)
    if len(data) > GZIP_OVER:
        with open(path + ".gz", "wb") as raw:
            # mtime=0 and no file name: the same input gives the same bytes.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
                f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def oracle(paths: list[str], version: str) -> dict[str, Any]:
    data = b"".join(Path(p).read_bytes() for p in paths)
    msgs, stop = split_messages(data)
    with tempfile.TemporaryDirectory() as tmp:
        pcap = os.path.join(tmp, "in.pcap")
        write_pcap([m for _, m in msgs], pcap)
        packets = run_tshark(pcap) if msgs else []
    if len(packets) != len(msgs):
        raise ValueError(f"tshark returned {len(packets)} packets for {len(msgs)} messages")
    doc = {
        "tool": {"version": version, "command": "tshark -r IN.pcap " + " ".join(TSHARK_OPTS)},
        "files": [os.path.basename(p) for p in paths],
        "stream": {"bytes": len(data), "messages": len(msgs), "stop": stop},
    }
    doc.update(normalize(packets, msgs))
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="input files, concatenated in order")
    ap.add_argument("-o", "--out", help="output JSON path (single run)")
    ap.add_argument("--cases", help="cases.json: run every case")
    ap.add_argument("--data-dir", help="directory holding the cases' files")
    ap.add_argument("--out-dir", help="where <case>.tshark.json files go")
    args = ap.parse_args()
    version = tshark_version()
    if args.cases:
        if not (args.data_dir and args.out_dir):
            ap.error("--cases needs --data-dir and --out-dir")
        with open(args.cases) as f:
            cases = json.load(f)["cases"]
        for case in cases:
            doc = oracle([os.path.join(args.data_dir, n) for n in case["files"]], version)
            out = os.path.join(args.out_dir, case["name"] + ".tshark.json")
            dump(doc, out)
            print(f"{case['name']}: {len(doc['records'])} records", file=sys.stderr)
        return 0
    if not (args.files and args.out):
        ap.error("give FILE... and -o OUT, or --cases")
    dump(oracle(args.files, version), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
