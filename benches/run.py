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
- the columnar path: ``scan_ipfix`` Arrow batches, ``read_ipfix`` to pandas,
  ``read_ipfix`` of several copies of the file with one worker and with one
  per core (scaling), python-ipfix into ``DataFrame.from_records``, and a
  libfixbuf C reader (``benches/libfixbuf_read.c``); the Rust columnar
  builder alone (criterion ``columnar/int`` and ``columnar/string``);
- the peak RSS of a ferrofix dict run in a fresh process, part way and at
  the end, to show that memory does not grow with the file, and the peak
  memory of ``read_ipfix`` beside the DataFrame's size.

Every Python figure is the best of 3 runs (``time.perf_counter``); every
side's record count is checked against the file's, and the first records of
python-ipfix and ferrofix are compared value by value. The results go
between the markers of ``BENCHMARKS.md``; the rest of that file is kept.

``FERROFIX_BENCH_FILE`` benchmarks another file of the same template.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cardinality
import make_file
import memory
import peers
import writers
from report import (
    BREAKDOWN,
    CHECK_RECORDS,
    COLUMNS,
    IPFIX,
    IPFIX_RECORDS,
    OUT,
    REPEAT,
    ROOT,
    RSS_AT,
    RUST_BENCHES,
    SCALING_FILES,
    Results,
    Row,
    render,
    write_report,
)


def count(it: Iterable[Any]) -> int:
    """Consume an iterator at C speed, returning how many items it gave."""
    last = deque(enumerate(it, 1), maxlen=1)
    return last[0][0] if last else 0


def best_of(
    fn: Callable[[], int], repeat: int, before: Callable[[], None] | None = None
) -> tuple[float, int]:
    """The shortest of ``repeat`` timed runs of ``fn`` and its record count
    (which must not change from run to run); ``before`` runs ahead of each
    run, off the clock."""
    best = float("inf")
    counts = set()
    for _ in range(repeat):
        if before is not None:
            before()
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


# -- ferrofix.compat (python-ipfix's API) -------------------------------------


def compat_dicts(path: Path) -> int:
    from ferrofix.compat import reader

    with open(path, "rb") as f:
        return count(reader.from_stream(f).namedict_iterator())


def compat_tuples(path: Path) -> int:
    from ferrofix.compat import ie, reader

    ielist = ie.spec_list(COLUMNS)
    with open(path, "rb") as f:
        return count(reader.from_stream(f).tuple_iterator(ielist))


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


def ff_many(path: Path, copies: int, workers: int) -> int:
    """read_ipfix of several sources (the same file named `copies` times)
    decoded by `workers` threads, to a DataFrame."""
    import ferrofix as ff

    return len(ff.read_ipfix([path] * copies, workers=workers))


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
        est = target_dir() / "criterion" / name / "new" / "estimates.json"
        if not est.is_file() or est.stat().st_mtime < started:
            res.problems.append(f"criterion left no fresh estimate for {name}")
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
                f"`{name}`: {what}",
                n,
                mean["point_estimate"] / 1e9,
                baseline="ipfix_tuples",
                note=f"95% CI {n / (hi / 1e9) / 1e6:.1f}-{n / (lo / 1e9) / 1e6:.1f} M/s",
                key="rust_" + name.removeprefix("decode/").replace("/", "_"),
            )
        )


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
    from ferrofix.compat import ie as compat_ie

    compat_ie.use_iana_default()

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
            "compat_dicts",
            "ferrofix.compat",
            "`reader.from_stream(f).namedict_iterator()` dicts",
            "ipfix_dicts",
            lambda: compat_dicts(path),
        ),
        (
            "compat_tuples",
            "ferrofix.compat",
            "`reader.from_stream(f).tuple_iterator(10 IEs)` tuples",
            "ipfix_tuples",
            lambda: compat_tuples(path),
        ),
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

    res.workers = os.cpu_count() or 1
    for key, workers in (("ff_many_1", 1), ("ff_many_n", res.workers)):
        op = f"`read_ipfix([{SCALING_FILES} files], workers={workers})` pandas DataFrame"
        step(f"ferrofix: {op}")
        s, n = best_of(lambda w=workers: ff_many(path, SCALING_FILES, w), a.repeat)
        res.rows.append(Row("ferrofix", op, n, s, baseline="ipfix_pandas", key=key))

    step("writers (issue Exporting)")
    table = writers.arrow_table(path)
    frame = writers.pandas_frame(path)
    ff_rows = writers.ff_tuples(path, limit)
    ipfix_rows = writers.ipfix_tuples(path, limit)
    write_cases: list[tuple[str, str, str, str | None, Callable[[], int]]] = [
        (
            "ipfix_write",
            IPFIX,
            "`writer.to_stream(f)` + `export_tuple` per record, to a file",
            None,
            lambda: writers.ipfix_write_tuples(ipfix_rows, "w-ipfix.ipfix"),
        ),
        (
            "compat_write",
            "ferrofix.compat",
            "`writer.to_stream(f)` + `export_tuple` per record, to a file",
            "ipfix_write",
            lambda: writers.compat_write_tuples(ipfix_rows, "w-compat.ipfix"),
        ),
        (
            "ff_write_tuples",
            "ferrofix",
            "`Writer(path).write_records(tid, tuples)`",
            "ipfix_write",
            lambda: writers.ff_write_tuples(ff_rows, "w-tuples.ipfix"),
        ),
        (
            "ff_write_arrow",
            "ferrofix",
            "`write_ipfix(arrow_table, path)` (10 IEs, integer addresses)",
            "ipfix_write",
            lambda: writers.ff_write_table(table, "w-arrow.ipfix"),
        ),
        (
            "ff_write_null",
            "ferrofix",
            '`write_ipfix(arrow_table, "/dev/null")` (the same, no file system)',
            "ipfix_write",
            lambda: writers.ff_write_table(table, "/dev/null"),
        ),
        (
            "ff_write_pandas",
            "ferrofix",
            "`write_ipfix(read_ipfix(...) DataFrame, path)`",
            "ipfix_write",
            lambda: writers.ff_write_table(frame, "w-pandas.ipfix"),
        ),
    ]
    outputs = {
        "ipfix_write": "w-ipfix.ipfix",
        "compat_write": "w-compat.ipfix",
        "ff_write_tuples": "w-tuples.ipfix",
        "ff_write_arrow": "w-arrow.ipfix",
        "ff_write_pandas": "w-pandas.ipfix",
    }
    for key, tool, op, base, fn in write_cases:
        step(f"{tool}: {op}")
        # Each writer starts from no file: truncating the last run's output
        # (the kernel freeing 47 MB of page cache and blocks) is not writing.
        s, n = best_of(fn, a.repeat, before=lambda k=key: writers.remove(outputs.get(k)))
        res.rows.append(Row(tool, op, n, s, baseline=base, key=key))
        if key not in outputs:
            continue
        back = writers.count_written(outputs[key])
        if back != n:
            res.problems.append(f"{key}: wrote {n} records, read back {back}")

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

    step("reading at any number of distinct addresses (issue 13)")
    res.cardinality = cardinality.measure(best_of, a.repeat, count)
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
    # (the writers write python-ipfix's first `limit` records)
    partial = ("ipfix_", "ff_many", "ff_write_tuples", "compat_write")
    full = [r for r in res.rows if not r.key.startswith(partial)]
    many_ok = all(
        r.records == SCALING_FILES * n_file for r in res.rows if r.key.startswith("ff_many")
    )
    full += [r for *_, r in res.breakdown]
    full_ok = all(r.records == n_file for r in full) and res.rss["records"] == n_file
    part_ok = all(
        r.records == limit
        for r in res.rows
        if r.key.startswith("ipfix_") or r.key in ("ff_write_tuples", "compat_write")
    )
    if full_ok and part_ok and many_ok:
        res.checks.append(
            f"record counts agree: every ferrofix run (Python and Rust) decoded all {n_file:,} "
            "records of the file (counted with `struct` by `make_file.count_records`), "
            f"python-ipfix stopped at {limit:,} as intended; the several-file runs read "
            f"{SCALING_FILES} x {n_file:,}."
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
