"""Time the flow meters on captures, one after the other, in one run.

Each peer runs as a child process; the table gives its wall time, packets per
second (the capture's packet count from capinfos over the wall time), MB/s
of capture, and peak RSS (GNU time's %M, i.e. wait4's ru_maxrss: the
largest of the child and its reaped descendants, not their sum). Every
capture is read once (`cat`) before its table, so every peer reads it from
the page cache; the plain read is the I/O floor. A peer that is not
installed is listed as skipped.

    python3 benches/make_capture.py                  # bench-data/meter-400mb.pcap
    python3 benches/make_capture.py --snaplen 96     # bench-data/meter-400mb-s96.pcap
    python3 benches/meter_peers.py bench-data/meter-400mb-s96.pcap bench-data/meter-400mb.pcap \
        --nfstream-python /tmp/nfs-venv/bin/python

Peers: a plain read (`cat > /dev/null`), softflowd (IPFIX to a discard
port, offline until EOF), argus (records to /dev/null), tshark's TCP
conversation table, the TCP analysers tcptrace (`-l -r`: per connection
statistics with RTT) and tshark with its TCP analysis fields, twice: the
three cheapest (RTT of each ACK, retransmissions, lost segments; one pass)
and the 19 that cover what ferrofix's TCP metrics measure (RTTs,
retransmission kinds, reordering, loss, duplicate ACKs, zero and full
windows, bytes in flight, the scaled window, SACK, MSS, window scale, ECN,
ECE/CWR), nfstream (`NFStreamer(source=...).to_pandas()` with
its defaults, from a Python that has nfstream: --nfstream-python), and
ferrofix (`run_ferrofix`): `ff.Meter(capture)` with every Arrow batch
taken, with one worker and with two, and `ff.meter(capture)` (a pandas
DataFrame).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GNU_TIME = "/usr/bin/time"  # Debian package `time`

# tshark's fields for what ferrofix's TCP metrics measure.
TSHARK_METRICS = [
    "tcp.analysis.ack_rtt",
    "tcp.analysis.initial_rtt",
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
    "tcp.analysis.out_of_order",
    "tcp.analysis.lost_segment",
    "tcp.analysis.ack_lost_segment",
    "tcp.analysis.duplicate_ack",
    "tcp.analysis.zero_window",
    "tcp.analysis.window_full",
    "tcp.analysis.bytes_in_flight",
    "tcp.window_size",
    "tcp.options.sack_le",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "ip.dsfield.ecn",
    "tcp.flags.ece",
    "tcp.flags.cwr",
]


def run(argv: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, exit status) of one child process.

    Peak RSS comes from GNU time's %M when it is installed: wait4's ru_maxrss
    for a child of this process starts at this Python's own RSS (the forked
    image before exec), a ~14 MiB floor that hides small peers."""
    with tempfile.NamedTemporaryFile("r") as rss_file:
        timed = (
            [GNU_TIME, "-f", "%M", "-o", rss_file.name, *argv] if os.path.exists(GNU_TIME) else argv
        )
        start = time.perf_counter()
        proc = subprocess.Popen(timed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        rss = usage.ru_maxrss
        if timed is not argv:
            lines = [line for line in rss_file.read().splitlines() if line.strip().isdigit()]
            rss = int(lines[-1]) if lines else rss
    return wall, rss, os.waitstatus_to_exitcode(status)


def count_packets(capture: Path) -> int:
    out = subprocess.run(
        ["capinfos", "-c", "-M", "-T", "-r", str(capture)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().split("\t")[-1])


def python_has(python: str, module: str, attr: str | None = None) -> bool:
    code = f"import {module}" + (f"; assert hasattr({module}, {attr!r})" if attr else "")
    try:
        return subprocess.run([python, "-c", code], capture_output=True).returncode == 0
    except OSError:
        return False


def compile_package(python: str) -> None:
    """Write the bytecode of the ferrofix package `python` imports."""
    where = subprocess.run(
        [python, "-c", "import ferrofix, os; print(os.path.dirname(ferrofix.__file__))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if where:
        subprocess.run([python, "-m", "compileall", "-q", where], capture_output=True)


# --- ferrofix -------------------------------------------------------------
FERROFIX_BATCHES = (
    "import sys, ferrofix as ff\n"
    "m = ff.Meter(sys.argv[1], workers=int(sys.argv[2]))\n"
    "rows = sum(b.num_rows for b in m)\n"
)
FERROFIX_PANDAS = "import sys, ferrofix as ff; ff.meter(sys.argv[1])"


def run_ferrofix(
    capture: Path, python: str = sys.executable, workers: int | None = 1
) -> list[str] | str:
    """THE ferrofix entry: the command that meters `capture` with ferrofix,
    or why it is skipped. `workers`: `ff.Meter(capture, workers=...)` with
    every batch taken; None: `ff.meter(capture)` into pandas."""
    if not python_has(python, "ferrofix", "Meter"):
        return "skipped: ferrofix has no Meter in this Python"
    if workers is None:
        return [python, "-c", FERROFIX_PANDAS, str(capture)]
    return [python, "-c", FERROFIX_BATCHES, str(capture), str(workers)]


# ---------------------------------------------------------------------------


def peers(
    capture: Path, nfstream_python: str | None, python: str = sys.executable
) -> list[tuple[str, list[str] | str]]:
    c = str(capture)
    table: list[tuple[str, list[str] | str]] = [("read (cat > /dev/null)", ["cat", c])]

    def tool(name: str, argv: list[str]) -> None:
        table.append((name, argv if shutil.which(argv[0]) else f"skipped: {argv[0]} not installed"))

    tool(
        "softflowd 1.1.0 (-v 10, offline)",
        ["softflowd", "-r", c, "-n", "127.0.0.1:9", "-v", "10", "-d"],
    )
    tool("argus 3.0.8.2 (-w /dev/null)", ["argus", "-X", "-S", "60", "-r", c, "-w", "/dev/null"])
    tool("tshark -q -z conv,tcp", ["tshark", "-n", "-q", "-z", "conv,tcp", "-r", c])
    tool("tcptrace 6.6.7 -n -l -r (TCP analysis)", ["tcptrace", "-n", "-l", "-r", c])
    analysis = ["tcp.analysis.ack_rtt", "tcp.analysis.retransmission", "tcp.analysis.lost_segment"]
    tool(
        "tshark TCP analysis fields (ack_rtt, retransmission, lost_segment)",
        ["tshark", "-n", "-r", c, "-T", "fields"] + [a for f in analysis for a in ("-e", f)],
    )
    tool(
        "tshark TCP analysis, 19 fields (ferrofix's metrics' counterparts)",
        ["tshark", "-n", "-r", c, "-T", "fields"] + [a for f in TSHARK_METRICS for a in ("-e", f)],
    )
    nfs = nfstream_python or sys.executable
    if python_has(nfs, "nfstream"):
        code = (
            "import sys; from nfstream import NFStreamer; "
            "NFStreamer(source=sys.argv[1]).to_pandas()"
        )
        table.append(("nfstream (defaults, to_pandas)", [nfs, "-c", code, c]))
    else:
        table.append(("nfstream (defaults, to_pandas)", f"skipped: no nfstream in {nfs}"))
    table.append(("ferrofix ff.Meter batches, 1 worker", run_ferrofix(capture, python)))
    table.append(("ferrofix ff.Meter batches, 2 workers", run_ferrofix(capture, python, 2)))
    table.append(("ferrofix ff.meter (pandas)", run_ferrofix(capture, python, None)))
    cli = Path(python).with_name("ferrofix")
    for name, extra in [
        ("ferrofix meter (command line, to IPFIX, every TCP metric)", []),
        ("ferrofix meter --no-tcp-metrics (command line, to IPFIX)", ["--no-tcp-metrics"]),
    ]:
        argv = [str(cli), "meter", c, "-o", os.devnull, "--no-progress", *extra]
        table.append((name, argv if cli.exists() else f"skipped: no {cli}"))
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("captures", type=Path, nargs="+")
    ap.add_argument(
        "--nfstream-python", help="a Python with nfstream installed (default: this one)"
    )
    ap.add_argument(
        "--python", default=sys.executable, help="the Python with ferrofix (default: this one)"
    )
    args = ap.parse_args(argv)
    for given in args.captures:
        capture = given.resolve()
        size_mb = capture.stat().st_size / 1e6
        packets = count_packets(capture)
        run(["cat", str(capture)])  # into the page cache
        # Python's modules too: ferrofix's bytecode compiled as `pip install`
        # compiles it (a development install under PYTHONDONTWRITEBYTECODE,
        # as this machine sets, would compile every module on every start:
        # about 40 ms of each ferrofix row), then imported once.
        compile_package(args.python)
        run([args.python, "-c", "import ferrofix, pyarrow, pandas"])
        print(f"capture: `{given}`, {size_mb:.1f} MB, {packets} packets; one run each, in order\n")
        print("| peer | wall s | packets/s | MB/s | peak RSS MiB | note |")
        print("|---|---:|---:|---:|---:|---|")
        for name, cmd in peers(capture, args.nfstream_python, args.python):
            if isinstance(cmd, str):
                print(f"| {name} | | | | | {cmd} |")
                continue
            # Into the page cache again before each row, untimed: a host may
            # page out file pages it sees as idle while the peers before run
            # (this VM's DAMON does, even of a file read every few seconds:
            # BENCHMARKS.md), and a row reading part of the file from disk
            # would not measure what the others do.
            run(["cat", str(capture)])
            wall, rss_kib, code = run(cmd)
            note = "" if code == 0 else f"exit status {code}"
            rate, mbps, rss = f"{packets / wall:,.0f}", f"{size_mb / wall:,.0f}", rss_kib / 1024
            print(f"| {name} | {wall:.2f} | {rate} | {mbps} | {rss:.0f} | {note} |", flush=True)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
