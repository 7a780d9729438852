#!/usr/bin/env python3
"""Ground-truth TCP harness: real Linux TCP between network namespaces, with the kernel's truth.

For each scenario (truth/scenarios.json) it builds three namespaces,

    ffx-snd (client) --veth-- ffx-mid (router + NFQUEUE shaper) --veth-- ffx-rcv (server)

sets the per-namespace TCP sysctls, runs the Rust shaper (truth/shaper) on the router's
FORWARD chain (queue 0 client->server, queue 1 server->client), captures at the client's and
the server's interface with tcpdump and in the shaper itself before it impairs anything
(snaplen 96 and full), runs the transfer with truth/endpoint.py, and writes
``<scenario>.truth.json`` holding the kernel's own view (TCP_INFO, ``ss -tin``, ``nstat``
deltas), the shaper's configuration, counters and every event, and the captures' counters.
Then the namespaces are deleted (also on error and on Ctrl-C).

Standard library only; run as root with the system python3:

    python3 truth/run.py [--out DIR] [--scenarios s01_v4_clean,s03_v4_loss2|fixed|all]
    python3 truth/run.py --check [--out DIR]          # check a finished run
    python3 truth/run.py --install-fixtures [--out DIR] [--fixtures tests/data/tcp-truth]
                         [--only SCENARIO,...]

Modules: harness (shared helpers), topology (namespaces), captures (observation points),
kernel (kernel truth), scenario (one run), checks (--check), fixtures (--install-fixtures).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from checks import check, timing_problems
from fixtures import install_fixtures
from harness import HERE, REPO, Procs, Stop, load_scenarios, log
from scenario import run_scenario
from topology import teardown

TOOLS = ("ip", "iptables", "ip6tables", "tcpdump", "ethtool", "nstat", "ss")


def on_signal(signum, _frame):
    raise Stop(f"signal {signum}")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default=os.environ.get("TRUTH_OUT", str(HERE / "out")))
    ap.add_argument(
        "--scenarios",
        default=os.environ.get("TRUTH_SCENARIOS", "fixed"),
        help="'fixed' (default), 'all', or a comma-separated list of names",
    )
    ap.add_argument("--shaper", default=str(HERE / "shaper" / "target" / "release" / "ffx-shaper"))
    ap.add_argument("--check", action="store_true", help="only check the run in --out")
    ap.add_argument("--no-check", action="store_true", help="do not check after running")
    ap.add_argument(
        "--install-fixtures", action="store_true", help="copy the fixed set into --fixtures"
    )
    ap.add_argument("--fixtures", default=str(REPO / "tests" / "data" / "tcp-truth"))
    ap.add_argument(
        "--only",
        help="with --install-fixtures: these scenarios (comma-separated) of the run, added "
        "to what --fixtures holds (e.g. --fixtures tests/data/tcp-truth-cases)",
    )
    ap.add_argument("--cleanup", action="store_true", help="only remove stale namespaces")
    return ap.parse_args()


def choose(which: str, scenarios: list[dict]) -> list[dict] | None:
    if which == "fixed":
        return [s for s in scenarios if s.get("fixed")]
    if which == "all":
        return scenarios
    want = which.split(",")
    chosen = [s for s in scenarios if s["scenario"] in want]
    return chosen if len(chosen) == len(want) else None


def run_one(sc: dict, seed: int, out: Path, shaper_bin: Path, procs: Procs) -> dict:
    """A scenario, re-run up to twice when the emulation's timing was off."""
    name = sc["scenario"]
    for attempt in (1, 2, 3):
        t = run_scenario(sc, seed, out, shaper_bin, procs)
        bad = timing_problems(t)
        if not bad:
            break
        log(f"{name}: attempt {attempt}: emulation timing off ({'; '.join(bad)})")
        if attempt < 3:
            procs.kill_all()
            teardown(quiet=True)
    t["timing_check"]["attempts"] = attempt
    t["timing_check"]["problems"] = bad
    (out / f"{name}.truth.json").write_text(json.dumps(t, indent=1) + "\n")
    return t


def run_all(chosen: list[dict], seed: int, out: Path, shaper_bin: Path) -> tuple[list, list]:
    """Every chosen scenario; returns (index entries, failed names). Raises Stop/Ctrl-C."""
    procs = Procs()
    entries = []
    failed = []
    teardown()  # a stale topology from a crashed run
    try:
        for sc in chosen:
            name = sc["scenario"]
            log(f"{name}: {sc['description']}")
            try:
                t = run_one(sc, seed, out, shaper_bin, procs)
                entries.append(
                    {
                        "scenario": name,
                        "truth": f"{name}.truth.json",
                        "pcaps": t["pcaps"],
                        "description": sc["description"],
                    }
                )
                log(f"{name}: done in {t['wall_s']} s")
            except (
                RuntimeError,
                OSError,
                ValueError,
                subprocess.SubprocessError,
                json.JSONDecodeError,
            ) as e:
                log(f"{name}: FAILED: {e}")
                failed.append(name)
            finally:
                procs.kill_all()
                teardown(quiet=True)
    except (KeyboardInterrupt, Stop) as e:
        log(f"interrupted ({e or 'Ctrl-C'}); cleaning up")
        procs.kill_all()
        teardown()
        raise
    finally:
        procs.kill_all()
        teardown(quiet=True)
        for w in out.glob(".work-*"):
            shutil.rmtree(w, ignore_errors=True)
    return entries, failed


def write_index(out: Path, entries: list, scenarios: list[dict], partial: bool, t_all: float):
    # A partial run (--scenarios) keeps the other scenarios already in the index.
    old = []
    if (out / "index.json").exists() and partial:
        try:
            done = {e["scenario"] for e in entries}
            old = [
                e
                for e in json.loads((out / "index.json").read_text())["scenarios"]
                if e["scenario"] not in done and (out / e["truth"]).exists()
            ]
        except (OSError, ValueError, KeyError):
            old = []
    order = {s["scenario"]: i for i, s in enumerate(scenarios)}
    entries = sorted(old + entries, key=lambda e: order.get(e["scenario"], 999))
    index = {
        "generated_by": "ferrofix truth/run.py (make truth): real Linux TCP through a "
        "user-space NFQUEUE shaper",
        "kernel": platform.release(),
        "total_wall_s": round(time.monotonic() - t_all, 1),
        "scenarios": entries,
    }
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    log(f"{len(entries)} scenarios written to {out} in {index['total_wall_s']} s")


def main() -> int:
    args = parse_args()
    out = Path(args.out).resolve()

    if args.check:
        return 0 if check(out) else 1
    if args.install_fixtures:
        install_fixtures(out, Path(args.fixtures), args.only.split(",") if args.only else None)
        return 0
    if os.geteuid() != 0:
        log("needs root (network namespaces, iptables, tcpdump)")
        return 2
    for tool in TOOLS:
        if not shutil.which(tool):
            log(f"missing tool: {tool}")
            return 2
    shaper_bin = Path(args.shaper).resolve()
    if not shaper_bin.exists():
        build = "cargo build --release --manifest-path truth/shaper/Cargo.toml"
        log(f"no shaper at {shaper_bin}: {build}")
        return 2
    seed, scenarios = load_scenarios()
    chosen = choose(args.scenarios, scenarios)
    if chosen is None:
        log(f"unknown scenario in {args.scenarios.split(',')}")
        return 2

    # One run at a time: the namespaces have fixed names. The lock is held for the whole run.
    lock = open("/run/ffx-truth.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("another truth run is in progress (/run/ffx-truth.lock)")
        return 2
    # SIGINT too: a background job of a non-interactive shell starts with SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    if args.cleanup:
        teardown()
        return 0
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.monotonic()
    try:
        entries, failed = run_all(chosen, seed, out, shaper_bin)
    except (KeyboardInterrupt, Stop):
        return 130
    write_index(out, entries, scenarios, args.scenarios not in ("fixed", "all"), t_all)
    if failed:
        log(f"failed: {failed}")
        return 1
    if not args.no_check:
        return 0 if check(out) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
