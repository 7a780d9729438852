#!/usr/bin/env python3
"""Run libfixbuf's ipfixDump over every oracle case and keep its raw output.

ipfixDump reads RFC 5655 files, i.e. IPFIX messages back to back, so a case
made of several files (templates first, then data) is fed as their
concatenation on stdin:

    cat FILE... | ipfixDump -y --hexdump=65535

`-y` loads libfixbuf's CERT information elements (PEN 6871, YAF) so those
fields get their real types; `--hexdump=65535` prints octetArray values in
full instead of just their length.  One output is kept per case:

    <case>.ipfixdump.txt[.gz]   stdout, byte for byte (gzip -n when larger
                                than GZIP_OVER, so the file is reproducible)
    <case>.ipfixdump.stderr.txt stderr with the process id and wall-clock
                                time stripped from GLib warnings (only when
                                ipfixDump wrote anything to stderr)

A case whose `skip_ipfixdump` is set in cases.json is not run (ipfixDump
mis-decodes it; see tests/data/oracle/README.md).  Should ipfixDump die from
a signal with --hexdump, the case is re-run without it and the fallback is
recorded.  Every run (command, exit status, output files, or why it was
skipped) is listed in ipfixdump_runs.json.

Usage:
    oracle_ipfixdump.py --cases tests/data/oracle/cases.json \
                        --data-dir tests/data/ipfix --out-dir tests/data/oracle
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
from typing import Any

BASE_CMD = ["ipfixDump", "-y"]
HEXDUMP = ["--hexdump=65535"]
GZIP_OVER = 256 * 1024

_GLIB = re.compile(rb"^\*\* \(ipfixDump:\d+\): (\w+) \*\*: [0-9:.]+: ", re.M)


def ipfixdump_version() -> str:
    proc = subprocess.run(["ipfixDump", "--version"], capture_output=True, text=True)
    return (proc.stderr or proc.stdout).splitlines()[0].strip()


def write_bytes(path: str, data: bytes) -> str:
    """Write `data` to path or path.gz; remove the other variant. Returns the name used."""
    for stale in (path, path + ".gz"):
        if os.path.exists(stale):
            os.remove(stale)
    if len(data) > GZIP_OVER:
        path += ".gz"
        with open(path, "wb") as raw:
            # mtime=0 and no file name: the same input gives the same bytes.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
                f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return os.path.basename(path)


def run_case(case: dict[str, Any], data_dir: str, out_dir: str) -> dict[str, Any]:
    stem = os.path.join(out_dir, case["name"] + ".ipfixdump")
    if case.get("skip_ipfixdump"):
        for stale in (stem + ".txt", stem + ".txt.gz", stem + ".stderr.txt"):
            if os.path.exists(stale):
                os.remove(stale)
        return {"skipped": case["skip_ipfixdump"]}
    data = b"".join(open(os.path.join(data_dir, n), "rb").read() for n in case["files"])
    cmd = BASE_CMD + HEXDUMP
    proc = subprocess.run(cmd, input=data, capture_output=True)
    fallback = None
    if proc.returncode < 0:
        fallback = f"{' '.join(cmd)} died with signal {-proc.returncode}; re-run without --hexdump"
        cmd = BASE_CMD
        proc = subprocess.run(cmd, input=data, capture_output=True)
    out_name = write_bytes(stem + ".txt", proc.stdout)
    err_path = stem + ".stderr.txt"
    stderr = _GLIB.sub(rb"** (ipfixDump): \1 **: ", proc.stderr)
    if stderr:
        with open(err_path, "wb") as f:
            f.write(stderr)
    elif os.path.exists(err_path):
        os.remove(err_path)
    return {
        "command": "cat " + " ".join(case["files"]) + " | " + " ".join(cmd),
        "exit_status": proc.returncode,
        "stdout": out_name,
        "stderr": os.path.basename(err_path) if stderr else None,
        "fallback": fallback,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args()
    with open(args.cases) as f:
        cases = json.load(f)["cases"]
    runs: dict[str, Any] = {"version": ipfixdump_version(), "runs": {}}
    for case in cases:
        run = run_case(case, args.data_dir, args.out_dir)
        runs["runs"][case["name"]] = run
        status = (
            "skipped"
            if "skipped" in run
            else f"exit {run['exit_status']}" + (" (fallback)" if run["fallback"] else "")
        )
        print(f"{case['name']}: {status}", file=sys.stderr)
    with open(os.path.join(args.out_dir, "ipfixdump_runs.json"), "w") as f:
        json.dump(runs, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
