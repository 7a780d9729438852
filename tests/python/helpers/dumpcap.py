"""dumpcap started on a network namespace's loopback for the live tests'
helper scripts (run as scripts: this directory is on their path)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``dumpcap -i lo ARGS``, returned once it says it is capturing
    ("Capturing on 'Loopback: lo'", at most 10 s) and a little more."""
    with log.open("wb") as err:
        dump = subprocess.Popen(
            ["dumpcap", "-i", "lo", *args], stdout=subprocess.DEVNULL, stderr=err
        )
    deadline = time.monotonic() + 10
    while b"Capturing on" not in log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    return dump
