#!/usr/bin/env python3
"""Decode the IPFIX export traffic in pcap captures with tshark; write oracle JSON.

The companion of oracle_tshark.py (whose helpers it reuses) for captures of
real exports instead of bare IPFIX byte streams.  A case is one capture, or
several captures read as one (a template capture, then its data capture:
`mergecap -a` concatenates them so tshark's template cache carries over).

1. The UDP payloads are listed with

       tshark -r IN -n --disable-protocol cflow -Y "udp && !icmp && !icmpv6" \
              -T fields -E occurrence=f -e udp.dstport -e udp.payload

   and every destination port that receives an IPFIX message (version 10 in
   the first two octets) is handed to cflow with `-d udp.port==P,cflow`: the
   pmacct captures use 9991/9992 and scapy 9995, which cflow does not claim.
2. Then

       tshark -r IN -n -T json -x -J "frame ip ipv6 udp cflow" -Y cflow \
              -d udp.port==P,cflow ... -o cflow.max_template_fields:0

   cflow keys its template cache by conversation (source and destination
   address and port) and observation domain; the normalization below walks
   each record with the template of the same key, with oracle_tshark.py's
   SetWalk scoped by conversation (see its docstring: value spans, `_raw`
   offsets, verbatim displays).

NetFlow v9/v5 datagrams (cflow decodes them too) are not IPFIX: they are
listed under `skipped` and left out of everything else.  Each exporter
(source address, source UDP port) is one transport session (RFC 7011
section 8): its IPFIX payloads, in capture order, concatenated, make its
stream, and `msg` / `offset` count within that stream, which is what
ferrofix's RecordMeta gives when it reads the stream.

Usage:
    oracle_pcap.py --cases tests/data/oracle/pcap/cases.json \
                   --data-dir tests/data/pcap --out-dir tests/data/oracle/pcap

Output (one JSON object, records one per line, gzip -n above 256 KiB), the
shape of oracle_tshark.py's with the exporter added:
    tool        tshark version line and the commands
    files       the captures, in the order they are read
    streams     per exporter, in order of first appearance: "exporter"
                [source address, source port], "collectors" [[address,
                port], ...], "messages", "bytes"
    skipped     non-IPFIX cflow datagrams: {"file", "frame", "exporter",
                "version"}
    messages    per IPFIX datagram: "exporter", "file" (index into files),
                "frame" (number within that file), "index" (message number
                in the exporter's stream), "offset", "length", "odid",
                "export_time", "sequence"
    undecoded_sets, expert   as in oracle_tshark.py, with "exporter"
    records     capture order: {"exporter", "msg", "odid", "template_id",
                "offset", "fields": [[pen, id, value, key, ftype], ...]},
                fields as in oracle_tshark.py, except that "parts" also lists
                the bit fields tshark shows over the whole value, as [key,
                display, ftype, bitmask]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from oracle_tshark import (
    Pairs,
    SetWalk,
    dump,
    expert_messages,
    get,
    message_header,
    run_tshark,
    tshark_version,
)

UDP_FILTER = "udp && !icmp && !icmpv6"  # not the UDP header quoted in an ICMP error
# cflow off: it dissects sampled frames (dataLinkFrameSection) into more udp fields.
LIST_OPTS = ["-n", "--disable-protocol", "cflow", "-Y", UDP_FILTER, "-T", "fields"]
LIST_FIELDS = ["-E", "occurrence=f", "-e", "udp.dstport", "-e", "udp.payload"]
JSON_OPTS = ["-n", "-T", "json", "-x", "-J", "frame ip ipv6 udp cflow", "-Y", "cflow"]
TEMPLATE_OPTS = ["-o", "cflow.max_template_fields:0"]
# Element id keys: also `cflow.template_juniper_resiliency_type`, the key cflow
# gives Juniper's (PEN 2636) ids, besides the `..._field_type` ones.
ID_KEYS = ("_type", "_type_enterprise")

Endpoint = tuple[str, int]


def ipfix_ports(capture: str) -> list[int]:
    """Destination UDP ports of the datagrams that start like an IPFIX message."""
    out = subprocess.run(
        ["tshark", "-r", capture, *LIST_OPTS, *LIST_FIELDS],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ports = set()
    for line in out.splitlines():
        port, _, payload = line.partition("\t")
        if payload[:4] == "000a":
            ports.add(int(port))
    return sorted(ports)


def frame_counts(captures: list[str]) -> list[int]:
    counts = []
    for cap in captures:
        out = subprocess.run(
            ["tshark", "-r", cap, "-n", "-T", "fields", "-e", "frame.number"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        counts.append(len(out.split()))
    return counts


def endpoints(layers: Pairs) -> tuple[Endpoint, Endpoint]:
    udp = get(layers, "udp")
    ip = get(layers, "ip")
    if ip is not None:
        src, dst = get(ip, "ip.src"), get(ip, "ip.dst")
    else:
        ip6 = get(layers, "ipv6")
        src, dst = get(ip6, "ipv6.src"), get(ip6, "ipv6.dst")
    return (src, int(get(udp, "udp.srcport"))), (dst, int(get(udp, "udp.dstport")))


def normalize_capture(packets: list[Pairs], counts: list[int]) -> dict[str, Any]:
    """The oracle document (without tool and files) for tshark's JSON of a capture."""
    walk = SetWalk(id_keys=ID_KEYS, bit_parts=True)
    streams: dict[Endpoint, dict[str, Any]] = {}
    skipped: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    expert: list[str] = []
    starts = [sum(counts[:i]) for i in range(len(counts))]
    for pkt in packets:
        layers = get(get(pkt, "_source"), "layers")
        number = int(get(get(layers, "frame"), "frame.number"))
        file = max(i for i, s in enumerate(starts) if s < number)
        frame_no = number - starts[file]
        src, dst = endpoints(layers)
        cf = get(layers, "cflow")
        version = int(get(cf, "cflow.version"))
        if version != 10:
            skipped.append(
                {"file": file, "frame": frame_no, "exporter": list(src), "version": version}
            )
            continue
        frame = bytes.fromhex(get(layers, "frame_raw")[0])
        base = int(get(cf, "cflow.version_raw")[1])  # frame offset of the message
        header = message_header(cf)
        length = header["length"]
        payload = int(get(get(layers, "udp"), "udp.length")) - 8
        if length != payload:
            raise ValueError(f"frame {number}: IPFIX length {length}, UDP payload {payload}")
        st = streams.setdefault(
            src, {"exporter": list(src), "collectors": [], "messages": 0, "bytes": 0}
        )
        if list(dst) not in st["collectors"]:
            st["collectors"].append(list(dst))
        index, msg_off = st["messages"], st["bytes"]
        st["messages"] += 1
        st["bytes"] += payload
        where = f"{src[0]} {src[1]} msg {index}"
        expert.extend(f"{where}: {m}" for m in expert_messages(layers))
        messages.append(
            {
                "exporter": list(src),
                "file": file,
                "frame": frame_no,
                "index": index,
                "offset": msg_off,
                **header,
            }
        )
        head = {"exporter": list(src), "msg": index}
        walk.message(cf, frame, base, msg_off, (src, dst), head, where)
    return {
        "streams": list(streams.values()),
        "skipped": skipped,
        "messages": messages,
        "undecoded_sets": walk.undecoded,
        "expert": expert,
        "records": walk.records,
    }


def _quote(opts: list[str]) -> list[str]:
    return [json.dumps(o) if " " in o else o for o in opts]


def oracle(captures: list[str], version: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if len(captures) == 1:
            capture = captures[0]
        else:
            capture = os.path.join(tmp, "merged.pcap")
            subprocess.run(["mergecap", "-a", "-w", capture, *captures], check=True)
        ports = ipfix_ports(capture)
        decode_as = [a for p in ports for a in ("-d", f"udp.port=={p},cflow")]
        opts = [*JSON_OPTS, *decode_as, *TEMPLATE_OPTS]
        packets = run_tshark(capture, opts)
    names = [os.path.basename(c) for c in captures]
    merge = ["mergecap -a -w IN " + " ".join(names)] if len(captures) > 1 else []
    doc: dict[str, Any] = {
        "tool": {
            "version": version,
            "commands": [
                *merge,
                "tshark -r IN " + " ".join(_quote([*LIST_OPTS, *LIST_FIELDS])),
                "tshark -r IN " + " ".join(_quote(opts)),
            ],
        },
        "files": names,
    }
    doc.update(normalize_capture(packets, frame_counts(captures)))
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", required=True, help="cases.json of the captures")
    ap.add_argument("--data-dir", required=True, help="directory holding the captures")
    ap.add_argument("--out-dir", required=True, help="where <case>.tshark.json files go")
    args = ap.parse_args()
    version = tshark_version()
    with open(args.cases) as f:
        cases = json.load(f)["cases"]
    for case in cases:
        doc = oracle([os.path.join(args.data_dir, n) for n in case["files"]], version)
        dump(doc, os.path.join(args.out_dir, case["name"] + ".tshark.json"))
        per = ", ".join(
            f"{s['exporter'][0]} {s['exporter'][1]}: "
            f"{sum(r['exporter'] == s['exporter'] for r in doc['records'])}"
            for s in doc["streams"]
        )
        print(f"{case['name']}: {len(doc['records'])} records ({per})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
