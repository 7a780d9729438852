"""ferrofix's TCP metrics against the TCP analysers on one core, in one sitting.

Every command runs pinned to one CPU (`taskset -c CPU`), one after the
other: sets of `ferrofix meter CAPTURE -o /dev/null` runs around tshark with
its TCP analysis fields (the three cheapest, then the 19 that match
ferrofix's metrics, `meter_peers.TSHARK_METRICS`) and tcptrace, so that the
ratios compare runs of the same minutes on a machine whose speed drifts.
ferrofix's bytecode is compiled first, as `pip install` does.

    python3 benches/meter_pinned.py bench-data/meter-400mb-s96.pcap [--runs 11] [--cpu 0]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from meter_peers import GNU_TIME, TSHARK_METRICS, compile_package


def wall(argv: list[str], cpu: int) -> float:
    """Seconds of one pinned run (GNU time's %e), output discarded."""
    out = subprocess.run(
        [GNU_TIME, "-f", "%e", "taskset", "-c", str(cpu), *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    return float(out.stderr.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("capture")
    p.add_argument("--runs", type=int, default=11, help="ferrofix runs a set (default 11)")
    p.add_argument("--cpu", type=int, default=0, help="the CPU every command is pinned to")
    a = p.parse_args()
    c = a.capture
    with open(c, "rb") as f:  # into the page cache
        while f.read(1 << 24):
            pass
    compile_package(sys.executable)
    ferrofix = [
        str(Path(sys.executable).with_name("ferrofix")),
        "meter",
        c,
        "-o",
        "/dev/null",
        "--no-progress",
    ]
    tshark = ["tshark", "-n", "-r", c, "-T", "fields"]
    three = ["tcp.analysis.ack_rtt", "tcp.analysis.retransmission", "tcp.analysis.lost_segment"]
    peers = [
        ("tshark, 3 TCP analysis fields", tshark + [x for f in three for x in ("-e", f)]),
        ("tcptrace -n -l -r", ["tcptrace", "-n", "-l", "-r", c]),
        ("tshark, 19 TCP analysis fields", tshark + [x for f in TSHARK_METRICS for x in ("-e", f)]),
    ]
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} UTC, {c}, pinned to CPU {a.cpu}")
    medians: list[float] = []

    def ferrofix_set() -> None:
        runs = sorted(wall(ferrofix, a.cpu) for _ in range(a.runs))
        medians.append(statistics.median(runs))
        print(f"| ferrofix meter, set {len(medians)} | {' '.join(f'{r:.2f}' for r in runs)} |")

    ferrofix_set()
    peer_s: dict[str, float] = {}
    for name, argv in peers:
        if shutil.which(argv[0]) is None:
            print(f"| {name} | skipped: {argv[0]} not installed |")
            continue
        peer_s[name] = wall(argv, a.cpu)
        print(f"| {name} | {peer_s[name]:.2f} |")
        ferrofix_set()
    m = statistics.median(medians)
    print(f"ferrofix median of set medians {m:.2f} s")
    for name, s in peer_s.items():
        print(f"{name}: {s:.2f} s = {s / m:.0f}x ferrofix (worst pairing {s / max(medians):.0f}x)")
    print(time.strftime("%H:%M:%S UTC", time.gmtime()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
