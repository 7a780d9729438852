"""Shared pieces of the truth harness: paths, logging, commands, the processes it starts."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SCENARIO_TIMEOUT_S = 60.0


def cpu_plan() -> tuple[int | None, list[int]]:
    """The shaper gets a CPU of its own (the last one); everything else runs on the others.

    A verdict re-injects the packet in the shaper's own system call, and without RPS the
    receiving namespace's whole TCP input (and the ACK it sends back) would run there too,
    making the shaper late by tens of microseconds per packet under a burst. With RPS on every
    veth pointing at the other CPUs, the shaper's CPU only forwards.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, cpus
    return cpus[-1], cpus[:-1]


SHAPER_CPU, OTHER_CPUS = cpu_plan()


def taskset() -> list[str]:
    if SHAPER_CPU is None or not shutil.which("taskset"):
        return []
    return ["taskset", "-c", ",".join(map(str, OTHER_CPUS))]


class Stop(Exception):
    """SIGTERM/SIGHUP: unwind through the finally blocks like Ctrl-C does."""


def log(msg: str) -> None:
    print(f"[truth] {msg}", file=sys.stderr, flush=True)


def sh(*cmd: str, check: bool = True, ns: str | None = None, timeout: float = 20) -> str:
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    r = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def sysctl(ns: str, key: str, value: object) -> None:
    sh("sysctl", "-qw", f"{key}={value}", ns=ns)


def load_scenarios() -> tuple[int, list[dict]]:
    d = json.loads((HERE / "scenarios.json").read_text())
    return d["seed"], d["scenarios"]


class Procs:
    """Every process the harness starts, so that it can end exactly those (by pid)."""

    def __init__(self) -> None:
        self.live: list[subprocess.Popen] = []

    def start(self, cmd: list[str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(cmd, start_new_session=True, **kw)
        self.live.append(p)
        return p

    def kill_all(self) -> None:
        for p in self.live:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in self.live:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log(f"process {p.pid} did not exit")
        self.live.clear()


def read_line(stream, timeout: float, want: str) -> str:
    """Read lines from a pipe until one contains `want` (or time out)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        r, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if want in line:
            return line
    raise RuntimeError(f"timed out waiting for {want!r}; got {''.join(seen)!r}")
