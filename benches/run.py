"""Benchmarks: ferrofix beside python-ipfix on the same file, in one run.

``make bench`` runs this script. It makes sure the benchmark file exists
(``benches/make_file.py``: 1M records of one 10-IE template), then measures
on this machine, one after the other:

- python-ipfix 0.9.7 ``namedict_iterator()`` and ``tuple_iterator(ielist)``
  on the first 200,000 records (it runs at about 100k records/s);
- ferrofix ``iter_records(path)`` dicts and
  ``iter_records(path, columns=[...10 IEs], as_="tuple")`` tuples on the
  whole file, plus tuples of subsets of the columns, which split the cost
  per value type;
- the Rust core, with the criterion bench ``benches/decode.rs``
  (``cargo bench --bench decode``);
- the peak RSS of a ferrofix dict run in a fresh process, part way and at
  the end, to show that memory does not grow with the file.

Every Python figure is the best of 3 runs (``time.perf_counter``); every
side's record count is checked against the file's, and the first records of
python-ipfix and ferrofix are compared value by value. The results go
between the markers of ``BENCHMARKS.md``; the rest of that file is kept.

``FERROFIX_BENCH_FILE`` benchmarks another file of the same template.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import itertools
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import make_file
import memory
import peers

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "BENCHMARKS.md"
START = "<!-- results:start -->"
END = "<!-- results:end -->"
COLUMNS = make_file.COLUMNS
IPFIX = "python-ipfix 0.9.7"
IPFIX_RECORDS = 200_000
REPEAT = 5
CHECK_RECORDS = 10_000
RSS_AT = 100_000

# Targets of the "IPFIX core" issue: ferrofix >= 10x python-ipfix (about
# 100k dicts/s and 140k tuples/s), and the Rust core visiting every field.
TARGET_DICTS = 1_000_000
TARGET_TUPLES = 1_400_000
TARGET_RATIO = 10.0
TARGET_RUST = 20_000_000
# Targets of the "Columnar path" issue (one core).
TARGET_ARROW = 40_000_000
TARGET_PANDAS = 20_000_000

# Column subsets that isolate the cost of each value type (ferrofix tuples).
BREAKDOWN = (
    ("1 int", ["octetDeltaCount"]),
    ("2 ints", ["packetDeltaCount", "octetDeltaCount"]),
    ("6 ints", COLUMNS[4:]),
    ("2 IPv4 addresses", ["sourceIPv4Address", "destinationIPv4Address"]),
    ("2 datetimes (ms)", ["flowStartMilliseconds", "flowEndMilliseconds"]),
    ("all 10", COLUMNS),
)

RUST_BENCHES = (
    ("visit_fields", "decode, every field's value (`Record::values`) into `black_box`"),
    ("visit_fields_ref", "every field by index (`Record::value(i)`), `black_box(&value)`"),
    ("visit_fields_stream", "as visit_fields, messages via `MessageStream`"),
    ("split_only", "split records, no value decoded"),
)


@dataclass
class Row:
    tool: str
    operation: str
    records: int
    seconds: float
    baseline: str | None = None  # key of the python-ipfix row it is compared with
    note: str = ""
    key: str = ""

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Results:
    repeat: int = REPEAT
    rows: list[Row] = field(default_factory=list)
    breakdown: list[tuple[str, int, Row]] = field(default_factory=list)
    rust_error: str | None = None
    rust_records: int | None = None
    rss: dict[str, int] | None = None
    memory: tuple[float, str] | None = None
    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def get(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)


def count(it: Iterable[Any]) -> int:
    """Consume an iterator at C speed, returning how many items it gave."""
    last = deque(enumerate(it, 1), maxlen=1)
    return last[0][0] if last else 0


def best_of(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    """The shortest of ``repeat`` timed runs of ``fn`` and its record count
    (which must not change from run to run)."""
    best = float("inf")
    counts = set()
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - t0)
        counts.add(n)
    if len(counts) != 1:
        raise SystemExit(f"record counts differ between runs: {sorted(counts)}")
    return best, counts.pop()


# -- python-ipfix --------------------------------------------------------------


def ipfix_dicts(path: Path, limit: int) -> int:
    import ipfix.reader

    with open(path, "rb") as f:
        return count(itertools.islice(ipfix.reader.from_stream(f).namedict_iterator(), limit))


def ipfix_tuples(path: Path, limit: int) -> int:
    import ipfix.ie
    import ipfix.reader

    ielist = ipfix.ie.spec_list(COLUMNS)
    with open(path, "rb") as f:
        it = ipfix.reader.from_stream(f).tuple_iterator(ielist)
        return count(itertools.islice(it, limit))


def ipfix_pandas(path: Path, limit: int) -> int:
    """python-ipfix to pandas as its users do it: DataFrame.from_records
    over tuple_iterator."""
    import ipfix.ie
    import ipfix.reader
    import pandas as pd

    ielist = ipfix.ie.spec_list(COLUMNS)
    with open(path, "rb") as f:
        it = ipfix.reader.from_stream(f).tuple_iterator(ielist)
        df = pd.DataFrame.from_records(itertools.islice(it, limit), columns=COLUMNS)
    return len(df)


def ipfix_first(path: Path, n: int) -> list[tuple[Any, ...]]:
    import ipfix.ie
    import ipfix.reader

    with open(path, "rb") as f:
        it = ipfix.reader.from_stream(f).tuple_iterator(ipfix.ie.spec_list(COLUMNS))
        return list(itertools.islice(it, n))


# -- ferrofix ------------------------------------------------------------------


def ff_dicts(path: Path) -> int:
    import ferrofix as ff

    return count(ff.iter_records(path))


def ff_tuples(path: Path, columns: list[str]) -> int:
    import ferrofix as ff

    return count(ff.iter_records(path, columns=columns, as_="tuple"))


def ff_arrow(path: Path) -> int:
    """Arrow batches with addresses as integers, no pyarrow involved."""
    import ferrofix as ff

    scan = ff.scan_ipfix(path, columns=COLUMNS, addresses="int")
    n = 0
    for b in scan.batches():
        n += b.num_rows
    return n


def ff_pandas(path: Path) -> int:
    """read_ipfix to a pandas DataFrame, default options (readable addresses)."""
    import ferrofix as ff

    return len(ff.read_ipfix(path))


def ff_first(path: Path, n: int) -> list[tuple[Any, ...]]:
    import ferrofix as ff

    def naive(v: Any) -> Any:
        # python-ipfix gives naive UTC datetimes, ferrofix aware ones.
        return v.replace(tzinfo=None) if isinstance(v, dt.datetime) else v

    it = ff.iter_records(path, columns=COLUMNS, as_="tuple")
    return [tuple(naive(v) for v in t) for t in itertools.islice(it, n)]


def rss_child(path: Path) -> None:
    """Run in a fresh process: peak RSS (KiB) after import, after RSS_AT
    records and after the whole file, as JSON on stdout."""
    import ferrofix as ff

    def peak() -> int:
        # VmHWM, not ru_maxrss: ru_maxrss keeps the forking parent's peak.
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    out = {"after_import": peak()}
    n = 0
    for n, _ in enumerate(ff.iter_records(path), 1):
        if n == RSS_AT:
            out["after_part"] = peak()
    out["after_all"] = peak()
    out["records"] = n
    print(json.dumps(out))


def measure_rss(path: Path) -> dict[str, int]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--rss-child", str(path)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


# -- Rust core (criterion) -----------------------------------------------------


def target_dir() -> Path:
    env = os.environ.get("CARGO_TARGET_DIR")
    return Path(env) if env else ROOT / "target"


def run_criterion(path: Path, res: Results) -> None:
    cmd = ["cargo", "bench", "--bench", "decode", "--", "--noplot"]
    print("$ " + " ".join(cmd), flush=True)
    started = time.time()
    env = dict(os.environ, FERROFIX_BENCH_FILE=str(path))
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    except FileNotFoundError:
        res.rust_error = "cargo not found"
        return
    sys.stdout.write(p.stdout)
    if p.returncode != 0:
        res.rust_error = f"`cargo bench` failed (exit {p.returncode})"
        return
    m = re.search(r"^ferrofix-bench: .*records=(\d+)", p.stdout, re.M)
    if not m:
        res.rust_error = "the criterion bench did not run (see its output)"
        return
    res.rust_records = int(m.group(1))
    for name, what in RUST_BENCHES:
        est = target_dir() / "criterion" / "decode" / name / "new" / "estimates.json"
        if not est.is_file() or est.stat().st_mtime < started:
            res.problems.append(f"criterion left no fresh estimate for decode/{name}")
            continue
        e = json.loads(est.read_text())
        mean = e["mean"]
        lo, hi = (
            mean["confidence_interval"]["lower_bound"],
            mean["confidence_interval"]["upper_bound"],
        )
        n = res.rust_records
        res.rows.append(
            Row(
                "ferrofix Rust core",
                f"`decode/{name}`: {what}",
                n,
                mean["point_estimate"] / 1e9,
                baseline="ipfix_tuples",
                note=f"95% CI {n / (hi / 1e9) / 1e6:.1f}-{n / (lo / 1e9) / 1e6:.1f} M/s",
                key=f"rust_{name}",
            )
        )


# -- the machine ---------------------------------------------------------------


def sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine() -> list[tuple[str, str]]:
    lscpu = sh(["lscpu"])
    model = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    cpus = re.search(r"^CPU\(s\):\s*(.+)$", lscpu, re.M)
    import ferrofix

    commit = sh(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "python", "benches"])
    return [
        ("CPU", model.group(1) if model else platform.processor() or "?"),
        ("CPUs", cpus.group(1) if cpus else str(os.cpu_count())),
        ("kernel", sh(["uname", "-r"])),
        ("Python", platform.python_version()),
        ("rustc", sh(["rustc", "--version"])),
        ("ferrofix", f"{ferrofix.__version__} (git {commit}{' + local changes' if dirty else ''})"),
        ("python-ipfix", importlib.metadata.version("ipfix")),
    ]


# -- report --------------------------------------------------------------------


def fmt_rate(r: float) -> str:
    return f"{r:,.0f}"


def fmt_secs(s: float) -> str:
    return f"{s:.3f}" if s >= 0.1 else f"{s:.4f}"


def verdict(ok: bool) -> str:
    return "**MET**" if ok else "**NOT MET**"


def targets(res: Results) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []

    def rate(key: str, label: str, goal: float) -> None:
        r = res.get(key)
        missing = "not measured: " + (res.rust_error or "?")
        out.append(
            (label, fmt_rate(r.rate), verdict(r.rate >= goal)) if r else (label, missing, "—")
        )

    def ratio(key: str, base: str, label: str) -> None:
        r, b = res.get(key), res.get(base)
        if r and b:
            x = r.rate / b.rate
            out.append((label, f"{x:.1f}x", verdict(x >= TARGET_RATIO)))

    rate("ff_dicts", "ferrofix dicts ≥ 1M records/s", TARGET_DICTS)
    ratio("ff_dicts", "ipfix_dicts", "ferrofix dicts ≥ 10x python-ipfix dicts")
    rate("ff_tuples", "ferrofix tuples ≥ 1.4M records/s", TARGET_TUPLES)
    ratio("ff_tuples", "ipfix_tuples", "ferrofix tuples ≥ 10x python-ipfix tuples")
    rate(
        "rust_visit_fields",
        "Rust core ≥ 20M records/s visiting every field (`visit_fields`)",
        TARGET_RUST,
    )
    rate(
        "rust_visit_fields_ref",
        "the same with `black_box(&value)` (`visit_fields_ref`)",
        TARGET_RUST,
    )
    rate("ff_arrow", "columnar issue: Arrow, integer addresses ≥ 40M records/s", TARGET_ARROW)
    fix, arrow = res.get("libfixbuf"), res.get("ff_arrow")
    if fix and arrow:
        x = arrow.rate / fix.rate
        out.append(("columnar issue: Arrow ≥ 10x libfixbuf", f"{x:.1f}x", verdict(x >= 10)))
    rate("ff_pandas", "columnar issue: `read_ipfix` to pandas ≥ 20M records/s", TARGET_PANDAS)
    if res.memory:
        ratio = res.memory[0]
        out.append(
            (
                "columnar issue: `read_ipfix` peak memory ≤ 1.5x the DataFrame",
                f"{ratio:.2f}x",
                verdict(ratio <= 1.5),
            )
        )
    return out


def render(res: Results, path: Path, n_file: int, when: str, load: tuple[str, str]) -> str:
    L: list[str] = []
    add = L.append
    add(f"Measured {when} with `make bench` (`.venv/bin/python benches/run.py`).")
    add("")
    add("| machine | |")
    add("|---|---|")
    for k, v in machine():
        add(f"| {k} | {v} |")
    add(f"| load average (1 min) at start / end | {load[0]} / {load[1]} |")
    add("")
    size = path.stat().st_size
    add(
        f"Input: `{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}`, "
        f"{n_file:,} records of one 10-IE template ({size / 1e6:.1f} MB, written by "
        "`benches/make_file.py`). python-ipfix reads the first "
        f"{IPFIX_RECORDS:,} records; everything else reads the whole file. Python rows: "
        f"best of {res.repeat} runs; Rust rows: criterion's mean time per pass over the file. "
        "Ratios compare with python-ipfix's iterator of the same shape (dicts with "
        "`namedict_iterator`, tuples and the Rust core with `tuple_iterator`)."
    )
    add("")
    add("| tool | operation | records | seconds | records/s | vs python-ipfix |")
    add("|---|---|---:|---:|---:|---:|")
    for r in res.rows:
        base = res.get(r.baseline) if r.baseline else None
        ratio = f"{r.rate / base.rate:.1f}x" if base else "1.0x"
        add(
            f"| {r.tool} | {r.operation} | {r.records:,} | {fmt_secs(r.seconds)} | "
            f"{fmt_rate(r.rate)} | {ratio} |"
        )
    if res.rust_error:
        add(f"| ferrofix Rust core | not measured: {res.rust_error} | | | | |")
    notes = [f"`decode/{r.key[5:]}`: {r.note}" for r in res.rows if r.note]
    if notes:
        add("")
        add("Criterion confidence intervals: " + "; ".join(notes) + ".")
    add("")
    add('### Targets (issue "IPFIX core")')
    add("")
    add("| target | measured | |")
    add("|---|---:|---|")
    for t in targets(res):
        add(f"| {t[0]} | {t[1]} | {t[2]} |")
    if res.breakdown:
        add("")
        add("### Cost by value type (ferrofix tuples, whole file)")
        add("")
        add(
            "Tuples of column subsets; the marginal cost of a value is its row's time per "
            "record minus the 1-int row's, divided by the extra columns."
        )
        add("")
        add("| columns | records/s | ns/record | marginal ns/value |")
        add("|---|---:|---:|---:|")
        base_ns = 0.0
        for label, ncols, r in res.breakdown:
            ns = r.seconds / r.records * 1e9
            if ncols == 1:
                base_ns = ns
                marg = "(baseline)"
            else:
                marg = f"{(ns - base_ns) / (ncols - 1):.0f}"
            add(f"| {label} | {fmt_rate(r.rate)} | {ns:.0f} | {marg} |")
    if res.rss:
        s = res.rss
        add("")
        add("### Memory (ferrofix dicts, fresh process)")
        add("")
        add(
            f"Peak RSS {s['after_import'] / 1024:.1f} MiB after `import ferrofix`, "
            f"{s['after_part'] / 1024:.1f} MiB after {RSS_AT:,} records, "
            f"{s['after_all'] / 1024:.1f} MiB after all {s['records']:,} records "
            f"(file: {size / 2**20:.1f} MiB): records are streamed, memory does not grow "
            "with the file."
        )
    if res.memory:
        add("")
        add("### Memory (`read_ipfix`, fresh process)")
        add("")
        add(res.memory[1])
    add("")
    add("### Checks")
    add("")
    for c in res.checks:
        add(f"- {c}")
    for p in res.problems:
        add(f"- **problem**: {p}")
    return "\n".join(L) + "\n"


NOTES_TEMPLATE = """## Notes

- `make bench` regenerates only the part between the `results` markers above;
  this section is kept as written.
- The machine is shared: a high load average in the table means other work ran
  beside the benchmark and the figures are low. Re-run on a quiet machine
  before drawing conclusions from a small difference.
- python-ipfix's dicts and datetimes are naive, ferrofix's timezone-aware;
  the value check compares them after dropping the tzinfo.
- `decode/visit_fields` moves each `Value` into `std::hint::black_box`, as the
  issue's sink does; that move costs a store-forwarding stall per field (perf:
  most of the bench's samples sit on the load that reads the returned value
  back). `decode/visit_fields_ref` passes `&value` instead and shows the
  decoder's own cost; both are reported.
- `ferrofix Rust core` rows are compared with python-ipfix's tuple iterator;
  `decode/split_only` does no value work, so its ratio is only a bound.
"""


def write_report(results: str) -> None:
    block = f"{START}\n{results}{END}"
    if OUT.is_file():
        text = OUT.read_text()
        if START in text and END in text:
            head, rest = text.split(START, 1)
            _, tail = rest.split(END, 1)
            OUT.write_text(head + block + tail)
            return
        m = re.search(r"^## Notes\b.*", text, re.M | re.S)
        notes = m.group(0) if m else NOTES_TEMPLATE
    else:
        notes = NOTES_TEMPLATE
    head = (
        "# Benchmarks\n\nferrofix beside python-ipfix on the same input, in one run "
        "(DESIGN.md house rule 12). Reproduce with `make bench`; the benchmark code "
        "is in `benches/`.\n\n"
    )
    OUT.write_text(head + block + "\n\n" + notes.rstrip("\n") + "\n")


# -- main ----------------------------------------------------------------------


def step(label: str) -> None:
    print(f"-- {label}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-rust", action="store_true", help="skip the criterion bench")
    p.add_argument("--no-write", action="store_true", help="print, do not write BENCHMARKS.md")
    p.add_argument("--repeat", type=int, default=REPEAT, help="runs per Python figure (best)")
    p.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.rss_child:
        rss_child(a.rss_child)
        return 0

    env_file = os.environ.get("FERROFIX_BENCH_FILE")
    if env_file:
        path = Path(env_file).resolve()
        if not path.is_file():
            raise SystemExit(f"FERROFIX_BENCH_FILE={env_file} not found")
    else:
        path = make_file.DEFAULT_PATH
        step(f"input {path}")
        make_file.main([])

    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_start = f"{os.getloadavg()[0]:.2f}"
    res = Results(repeat=a.repeat)

    import ipfix.ie

    ipfix.ie.use_iana_default()

    n_file = make_file.count_records(path)  # with struct, independent of ferrofix
    limit = min(IPFIX_RECORDS, n_file)

    if not a.no_rust:
        step("Rust core (criterion)")
        run_criterion(path, res)
    else:
        res.rust_error = "skipped (--no-rust)"
    rust_rows = list(res.rows)
    res.rows.clear()

    tuples = '`iter_records(path, columns=[10 IEs], as_="tuple")`'
    cases: list[tuple[str, str, str, str | None, Callable[[], int]]] = [
        (
            "ipfix_dicts",
            IPFIX,
            "`namedict_iterator()` dicts",
            None,
            lambda: ipfix_dicts(path, limit),
        ),
        (
            "ipfix_tuples",
            IPFIX,
            "`tuple_iterator(10 IEs)` tuples",
            None,
            lambda: ipfix_tuples(path, limit),
        ),
        (
            "ff_dicts",
            "ferrofix",
            "`iter_records(path)` dicts",
            "ipfix_dicts",
            lambda: ff_dicts(path),
        ),
        ("ff_tuples", "ferrofix", tuples, "ipfix_tuples", lambda: ff_tuples(path, COLUMNS)),
        (
            "ipfix_pandas",
            IPFIX,
            "`DataFrame.from_records(tuple_iterator(10 IEs))`",
            None,
            lambda: ipfix_pandas(path, limit),
        ),
        (
            "ff_arrow",
            "ferrofix",
            '`scan_ipfix(path, columns=[10 IEs], addresses="int")` Arrow batches',
            "ipfix_pandas",
            lambda: ff_arrow(path),
        ),
        (
            "ff_pandas",
            "ferrofix",
            "`read_ipfix(path)` pandas DataFrame",
            "ipfix_pandas",
            lambda: ff_pandas(path),
        ),
    ]
    for key, tool, op, base, fn in cases:
        step(f"{tool}: {op}")
        s, n = best_of(fn, a.repeat)
        res.rows.append(Row(tool, op, n, s, baseline=base, key=key))

    step("libfixbuf C reader")
    runs = [peers.libfixbuf_read(path) for _ in range(a.repeat)]
    done = [r for r in runs if r is not None]
    if done:
        s, n = min(done)
        op = "`fBufNext` into C structs (`benches/libfixbuf_read.c`, 10 IEs)"
        res.rows.append(
            Row("libfixbuf 2.4 (C)", op, n, s, baseline="ipfix_tuples", key="libfixbuf")
        )

    step("peak memory of read_ipfix")
    res.memory = memory.describe(memory.read_memory(path))
    res.rows.extend(rust_rows)

    step("ferrofix tuples by value type")
    for label, cols in BREAKDOWN:
        s, n = best_of(lambda cols=cols: ff_tuples(path, cols), a.repeat)
        res.breakdown.append((label, len(cols), Row("ferrofix", label, n, s)))

    step("peak RSS of a ferrofix dict run")
    res.rss = measure_rss(path)

    step("checks")
    counts = {r.operation: r.records for r in res.rows}
    # every run but python-ipfix's (libfixbuf and the breakdown included) reads the whole file
    full = [r for r in res.rows if not r.key.startswith("ipfix_")]
    full += [r for *_, r in res.breakdown]
    full_ok = all(r.records == n_file for r in full) and res.rss["records"] == n_file
    part_ok = all(r.records == limit for r in res.rows if r.key.startswith("ipfix_"))
    if full_ok and part_ok:
        res.checks.append(
            f"record counts agree: every ferrofix run (Python and Rust) decoded all {n_file:,} "
            "records of the file (counted with `struct` by `make_file.count_records`), "
            f"python-ipfix stopped at {limit:,} as intended."
        )
    else:
        res.problems.append(f"record counts differ: file {n_file:,}, runs {counts}")
    a_rows = ipfix_first(path, CHECK_RECORDS)
    b_rows = ff_first(path, CHECK_RECORDS)
    diff = sum(x != y for x, y in zip(a_rows, b_rows, strict=True))
    if diff == 0 and len(a_rows) == min(CHECK_RECORDS, n_file):
        res.checks.append(
            f"values agree: the first {len(a_rows):,} records are equal field by field in "
            "python-ipfix and ferrofix (10-IE tuples)."
        )
    else:
        res.problems.append(f"{diff} of the first {len(a_rows):,} records differ in value")

    load = (load_start, f"{os.getloadavg()[0]:.2f}")
    text = render(res, path, n_file, when, load)
    print()
    print(text)
    if not a.no_write:
        write_report(text)
        print(f"wrote {OUT}")
    return 1 if res.problems else 0


if __name__ == "__main__":
    sys.exit(main())
