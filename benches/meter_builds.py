"""Builds of ferrofix against each other: whole `ferrofix meter` processes
with one and two workers, in turns.

A shared VM drifts by 10-40% from minute to minute, so builds are compared
within one sitting, each round running every build with one worker and with
two. Each DIR holds a `ferrofix` package with its extension module (copy
`python/ferrofix` after a build, e.g. of the old commit in a worktree); it
is put first on `PYTHONPATH` and run by this interpreter, its bytecode
compiled first (as `pip install` does).

    python benches/meter_builds.py --rounds 8 CAPTURE DIR... [-- EXTRA ARGS]

Prints each build's wall times in order, their median, the median of user
plus system CPU, and each build's one-worker / two-worker ratio. With
`--one-core`, each round also runs one worker pinned to one CPU (`taskset
-c 0`: one thread, reading the file itself, with no thread reading ahead),
the one-thread baseline for two workers on two CPUs. With `--ceiling`
(which implies `--one-core`), each round also starts two pinned copies of
the first build's one worker together (`taskset -c 0` and `-c 1`): what
the machine gives two independent jobs at once in the same minutes, by
wall time (the slower copy against one alone) and by CPU time (each
copy's CPU against one alone's, which a slow spell of the host, hitting
the runs of a minute alike, disturbs less).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def run(
    directory: str, capture: str, workers: int, extra: list[str], pinned: bool = False
) -> tuple[float, float]:
    """Wall and CPU seconds of one `ferrofix meter` with `directory`'s
    package (`pinned`: on CPU 0 alone)."""
    cpus = [0] if pinned else [None]
    return run_together(directory, capture, workers, extra, cpus)[0]


def run_together(
    directory: str, capture: str, workers: int, extra: list[str], cpus: list[int | None]
) -> list[tuple[float, float]]:
    """Wall and CPU seconds of `ferrofix meter` processes with
    `directory`'s package started together, one per entry of `cpus` (a
    CPU to pin it to, or None). Wall time is the parent's clock from start
    to reaping (GNU time's `%e` counts hundredths, too coarse for runs of
    0.2 s compared to a few percent); CPU is the child's user plus system
    time from `wait4`."""
    env = dict(os.environ, PYTHONPATH=directory)
    argv = [sys.executable, "-m", "ferrofix", "meter", capture, "-o", "/dev/null"]
    argv += ["--no-progress", "--workers", str(workers), *extra]
    start = time.perf_counter()
    children = [
        subprocess.Popen(
            argv if cpu is None else ["taskset", "-c", str(cpu), *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cpu in cpus
    ]
    out = []
    for child in children:
        assert child.stderr is not None
        err = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(argv)}: exit {child.returncode}: {err.strip()}")
        out.append((wall, usage.ru_utime + usage.ru_stime))
    return out


def warm(capture: str) -> None:
    """Read `capture` whole, so that it is in the page cache."""
    with open(capture, "rb") as f:
        while f.read(1 << 20):
            pass


def main() -> None:
    args = sys.argv[1:]
    extra: list[str] = []
    if "--" in args:
        at = args.index("--")
        args, extra = args[:at], args[at + 1 :]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("capture")
    p.add_argument("dirs", nargs="+", metavar="DIR")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument(
        "--one-core", action="store_true", help="also one worker pinned to one CPU each round"
    )
    p.add_argument(
        "--ceiling",
        action="store_true",
        help="also two pinned one-worker copies at once (implies --one-core)",
    )
    a = p.parse_args(args)
    a.one_core = a.one_core or a.ceiling
    for d in a.dirs:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", os.path.join(d, "ferrofix")],
            check=True,
            capture_output=True,
        )
    # (build, workers, pinned to one CPU) -> seconds, a run each round
    wall: dict[tuple[str, int, bool], list[float]] = {}
    cpu: dict[tuple[str, int, bool], list[float]] = {}
    kinds = [(1, True)] if a.one_core else []
    kinds += [(1, False), (2, False)]
    # Two copies at once: the slower one's wall time, and each one's CPU.
    pair_wall: list[float] = []
    pair_cpu: list[float] = []
    # One untimed run of each build first: the host pages out the files
    # of an interpreter and extension idle for a minute as well (a
    # sitting's first run took 0.50-0.75 s against 0.41 s after).
    warm(a.capture)
    for d in a.dirs:
        run(d, a.capture, 1, extra)
    print(time.strftime("start %H:%M:%S UTC", time.gmtime()))
    for _ in range(a.rounds):
        # The capture into the page cache before each round, untimed: this
        # VM's host pages out file pages it sees as idle (DAMON), and a run
        # reading part of the file from disk (0.08 s for `cat` of the
        # snaplen-96 capture then, against 0.04 s) measures the disk.
        warm(a.capture)
        for d in a.dirs:
            for w, pinned in kinds:
                t, c = run(d, a.capture, w, extra, pinned)
                wall.setdefault((d, w, pinned), []).append(t)
                cpu.setdefault((d, w, pinned), []).append(c)
        if a.ceiling:
            both = run_together(a.dirs[0], a.capture, 1, extra, [0, 1])
            pair_wall.append(max(t for t, _ in both))
            pair_cpu.extend(c for _, c in both)
    print(time.strftime("end %H:%M:%S UTC", time.gmtime()))
    for (d, w, pinned), times in wall.items():
        where = ", one CPU" if pinned else ""
        print(
            f"{d} workers={w}{where}: {' '.join(f'{x:.3f}' for x in times)}  "
            f"median {statistics.median(times):.3f} s, "
            f"CPU {statistics.median(cpu[d, w, pinned]):.2f} s"
        )
    for d in a.dirs:
        two = statistics.median(wall[d, 2, False])
        ratio = statistics.median(wall[d, 1, False]) / two
        print(f"{d}: one / two workers {ratio:.2f}x")
        if a.one_core:
            ratio = statistics.median(wall[d, 1, True]) / two
            print(f"{d}: one worker on one CPU / two workers {ratio:.2f}x")
    if a.ceiling:
        d = a.dirs[0]
        alone_wall = statistics.median(wall[d, 1, True])
        alone_cpu = statistics.median(cpu[d, 1, True])
        both_wall = statistics.median(pair_wall)
        both_cpu = statistics.median(pair_cpu)
        print(
            f"{d} two copies of one worker at once, on CPUs 0 and 1: "
            f"{' '.join(f'{x:.3f}' for x in pair_wall)}  median {both_wall:.3f} s "
            f"(the slower copy), CPU {both_cpu:.2f} s a copy"
        )
        print(
            f"{d}: the machine's two CPUs against one, two independent copies: "
            f"{2 * alone_wall / both_wall:.2f}x by wall time, "
            f"{2 * alone_cpu / both_cpu:.2f}x by CPU time"
        )


if __name__ == "__main__":
    main()
