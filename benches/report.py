"""The report of `make bench`: targets, the machine, tables, BENCHMARKS.md.

Split from run.py (which measures); this module only formats and writes."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import make_file

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
    ("decode/visit_fields", "decode, every field's value (`Record::values`) into `black_box`"),
    ("decode/visit_fields_ref", "every field by index (`Record::value(i)`), `black_box(&value)`"),
    ("decode/visit_fields_stream", "as visit_fields, messages via `MessageStream`"),
    ("decode/split_only", "split records, no value decoded"),
    ("columnar/int", "Arrow batches of all 10 IEs, addresses as integers"),
    ("columnar/string", "Arrow batches of all 10 IEs, addresses as dictionary text"),
)

# Several copies of the file read at once by `read_ipfix([...], workers=n)`.
SCALING_FILES = 4


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
    workers: int = 1
    rss: dict[str, int] | None = None
    memory: tuple[float, str] | None = None
    cardinality: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def get(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)


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

    def ratio(key: str, base: str, label: str, goal: float = TARGET_RATIO) -> None:
        r, b = res.get(key), res.get(base)
        if r and b:
            x = r.rate / b.rate
            out.append((label, f"{x:.1f}x", verdict(x >= goal)))

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
    rate("ff_write_arrow", "exporting issue: writing from Arrow ≥ 20M records/s", 20e6)
    rate("ff_write_tuples", "exporting issue: writing from Python tuples ≥ 1M records/s", 1e6)
    ratio("ff_write_tuples", "ipfix_write", "exporting issue: tuples ≥ 5x python-ipfix's writer", 5)
    ratio(
        "compat_dicts",
        "ipfix_dicts",
        "compat issue: `ferrofix.compat` namedict_iterator ≥ 10x python-ipfix's",
    )
    ratio(
        "compat_tuples",
        "ipfix_tuples",
        "compat issue: `ferrofix.compat` tuple_iterator ≥ 10x python-ipfix's",
    )
    ratio(
        "compat_write",
        "ipfix_write",
        "compat issue: `ferrofix.compat` writer ≥ 5x python-ipfix's",
        5,
    )
    one, many = res.get("ff_many_1"), res.get("ff_many_n")
    if one and many and res.workers > 1:
        x = many.rate / one.rate
        out.append(
            (
                f"columnar issue: near-linear scaling, {res.workers} workers ≥ "
                f"{0.8 * res.workers:.1f}x one worker (many files)",
                f"{x:.2f}x",
                verdict(x >= 0.8 * res.workers),
            )
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
    notes = [f"`{r.operation.split('`')[1]}`: {r.note}" for r in res.rows if r.note]
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
    if res.cardinality:
        add("")
        add("### Reading at any number of distinct addresses")
        add("")
        add(
            f"{cardinality_records():,} records of the benchmark template per file "
            "(`make_file.py --addresses pool|random4|random6`; the IPv6 file carries "
            "IPv6 addresses in place of IPv4), best of the same runs, every count checked."
        )
        add("")
        L.extend(res.cardinality)
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


def cardinality_records() -> int:
    import cardinality

    return cardinality.RECORDS
