"""Peers in other languages for the benchmarks, run as separate programs.

``libfixbuf_read(path)`` times libfixbuf (CERT NetSA's C library) decoding
the benchmark file into a C struct with its collector API: the program is
``benches/libfixbuf_read.c``, built on first use into
``bench-data/libfixbuf_read`` with ``gcc -O2`` and the flags of
``pkg-config --cflags --libs libfixbuf`` (Debian: ``libfixbuf-dev``).

The program prints ``{"records": N, "seconds": S, "checksum": C}``, where
``seconds`` covers its decode loop only and ``checksum`` folds every field of
every record; ``fold_checksum(path)`` computes the same fold with
:mod:`struct`, to check that libfixbuf's struct got the right values.
"""

from __future__ import annotations

import json
import shlex
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import make_file

ROOT = Path(__file__).resolve().parent.parent
LIBFIXBUF_SOURCE = ROOT / "benches" / "libfixbuf_read.c"
LIBFIXBUF_BINARY = ROOT / "bench-data" / "libfixbuf_read"

# The fold of libfixbuf_read.c: 64-bit FNV-1a over whole values.
FOLD_START = 0xCBF29CE484222325
FOLD_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1


def build_libfixbuf_read() -> Path | None:
    """The libfixbuf_read program, compiled if it is missing or older than its
    source; None (with the reason printed) when it cannot be built here."""
    binary = LIBFIXBUF_BINARY
    if binary.is_file() and binary.stat().st_mtime >= LIBFIXBUF_SOURCE.stat().st_mtime:
        return binary
    for tool in ("pkg-config", "gcc"):
        if shutil.which(tool) is None:
            print(f"libfixbuf: skipped, {tool} not found")
            return None
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "libfixbuf"], capture_output=True, text=True
    )
    if flags.returncode != 0:
        reason = flags.stderr.strip() or "pkg-config does not know libfixbuf"
        print(f"libfixbuf: skipped, {reason} (Debian: apt-get install libfixbuf-dev)")
        return None
    binary.parent.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_name(binary.name + ".tmp")
    cmd = ["gcc", "-O2", "-o", str(tmp), str(LIBFIXBUF_SOURCE), *shlex.split(flags.stdout)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    if built.returncode != 0:
        print(f"libfixbuf: skipped, {shlex.join(cmd)} failed:\n{built.stderr.strip()}")
        tmp.unlink(missing_ok=True)
        return None
    tmp.replace(binary)
    return binary


def run_libfixbuf_read(path: Path) -> dict[str, Any] | None:
    """The JSON line of one run of libfixbuf_read on ``path`` (records,
    seconds, checksum), or None when the program cannot be built."""
    binary = build_libfixbuf_read()
    if binary is None:
        return None
    run = subprocess.run([str(binary), str(path)], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{binary.name} {path}: {run.stderr.strip() or run.returncode}")
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def libfixbuf_read(path: Path) -> tuple[float, int] | None:
    """(seconds, records) of libfixbuf decoding ``path`` into C structs, or
    None when the program cannot be built here."""
    result = run_libfixbuf_read(path)
    if result is None:
        return None
    return float(result["seconds"]), int(result["records"])


def fold_checksum(path: Path) -> tuple[int, int]:
    """(records, checksum) of the benchmark file's records with the fold of
    libfixbuf_read.c, decoded with :mod:`struct` by walking message and set
    headers (about 10 s for 1M records)."""
    record = make_file.RECORD
    msg_header = make_file.MSG_HEADER
    set_header = make_file.SET_HEADER
    n = 0
    h = FOLD_START
    with open(path, "rb") as f:
        while head := f.read(msg_header.size):
            body = f.read(msg_header.unpack(head)[1] - msg_header.size)
            at = 0
            while at + set_header.size <= len(body):
                set_id, set_len = set_header.unpack_from(body, at)
                if set_len < set_header.size:
                    raise ValueError(f"{path}: set length {set_len} at message body {at}")
                if set_id == make_file.TEMPLATE_ID:
                    start = at + set_header.size
                    end = start + (set_len - set_header.size) // record.size * record.size
                    for values in record.iter_unpack(body[start:end]):
                        n += 1
                        for v in values:
                            if isinstance(v, bytes):  # IPv4 address
                                v = struct.unpack("!I", v)[0]
                            h = ((h ^ v) * FOLD_PRIME) & MASK64
                at += set_len
    return n, h
