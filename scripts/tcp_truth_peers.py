"""What tshark's TCP analysis and tcptrace make of the truth captures'
retransmissions, beside the sender kernel's own count and ferrofix's
(docs/tcp-metrics.md, "Other tools against the kernel").

For every scenario of tests/data/tcp-truth-ref and tests/data/tcp-truth, at
the capture beside the client (the data sender of the bulk scenarios): the
client kernel's TcpRetransSegs, ferrofix's tcpRetransmitCount, tcptrace's
"rexmt data pkts" of the client's direction, and tshark's per-packet flags
on the client's segments (retransmission, fast_retransmission,
spurious_retransmission, out_of_order; tshark sets at most one of the
first three on a packet, and counts a fast retransmission also as a
retransmission? no: each flag is its own field, counted apart here).

    .venv/bin/python scripts/tcp_truth_peers.py > /tmp/peers.md
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import ferrofix as ff

ROOT = Path(__file__).resolve().parents[1] / "tests" / "data"
FLAGS = [
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
    "tcp.analysis.out_of_order",
]


def tshark_flags(pcap: Path, client_port: int) -> dict[str, int]:
    fields = ["-e", "tcp.srcport"] + [x for f in FLAGS for x in ("-e", f)]
    out = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-Y", "tcp", "-T", "fields", *fields],
        check=True,
        capture_output=True,
    ).stdout.decode()
    counts = dict.fromkeys(FLAGS, 0)
    for line in out.splitlines():
        cols = line.split("\t")
        if int(cols[0]) != client_port:
            continue
        for f, v in zip(FLAGS, cols[1:], strict=False):
            counts[f] += 1 if v else 0
    return counts


def tcptrace_rexmt(pcap: Path) -> list[int]:
    out = subprocess.run(
        ["tcptrace", "-n", "-l", str(pcap)], check=True, capture_output=True
    ).stdout.decode()
    # a2b is the first column (the connection's first packet: the SYN).
    return [int(m.group(1)) for m in re.finditer(r"rexmt data pkts:\s+(\d+)", out)][::2]


def main() -> int:
    head = "| scenario | kernel TcpRetransSegs | ferrofix | tcptrace rexmt | tshark retransmission"
    print(head + " | fast | spurious | out_of_order |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for d in ("tcp-truth-ref", "tcp-truth"):
        for s in json.loads((ROOT / d / "index.json").read_text())["scenarios"]:
            name = s["scenario"]
            t = json.loads((ROOT / d / f"{name}.truth.json").read_text())
            kernel = t["nstat_key"]["client_ns"]["TcpRetransSegs"]
            zst = ROOT / d / f"{name}.snd.s96.pcap.zst"
            df = ff.meter(zst)
            ours = int(df[df.protocolIdentifier == 6]["tcpRetransmitCount"].sum())
            with tempfile.NamedTemporaryFile(suffix=".pcap") as tmp:
                subprocess.run(["zstd", "-q", "-d", "-f", str(zst), "-o", tmp.name], check=True)
                flags = dict.fromkeys(FLAGS, 0)
                for conn in t["connections"]:
                    got = tshark_flags(Path(tmp.name), conn["five_tuple"]["sport"])
                    for f in FLAGS:
                        flags[f] += got[f]
                rexmt = sum(tcptrace_rexmt(Path(tmp.name)))
            cells = [flags[f] for f in FLAGS]
            row = f"| {d}/{name} | {kernel} | {ours} | {rexmt} | "
            print(row + " | ".join(map(str, cells)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
