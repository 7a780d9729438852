"""The command line's start: `python -m ferrofix meter EMPTY -o /dev/null`
with each package directory given (put first on `PYTHONPATH`, e.g. a copy
of `python/ferrofix` before and after a change, with its extension), and
`python -c pass`, in turns; the median wall time of each and its quartiles.

    python benches/cli_start.py --rounds 60 PYTHON DIR...

Compile each directory's `.pyc` first (`PYTHON -m compileall -q DIR`):
with `PYTHONDONTWRITEBYTECODE` set, every start would compile them again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("python", help="the interpreter to run")
    ap.add_argument("dirs", nargs="+", help="directories holding a ferrofix package")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.pcap")
        with open(empty, "wb") as f:
            # A classic pcap header (microseconds, Ethernet), no packet.
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        runs: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([a.python, "-c", "pass"], dict(os.environ))
        }
        for d in a.dirs:
            argv = [a.python, "-m", "ferrofix", "meter", empty, "-o", "/dev/null", "--no-progress"]
            runs[d] = (argv, dict(os.environ, PYTHONPATH=d))
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(a.rounds):
            for name, (argv, env) in runs.items():
                start = time.perf_counter()
                subprocess.run(argv, env=env, check=True, capture_output=True)
                times[name].append(time.perf_counter() - start)
    for name, t in times.items():
        q = statistics.quantiles(t, n=4)
        print(
            f"{name}: median {statistics.median(t) * 1e3:.2f} ms "
            f"({q[0] * 1e3:.2f}-{q[2] * 1e3:.2f})"
        )


if __name__ == "__main__":
    main()
