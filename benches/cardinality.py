"""Reading speed and memory at any number of distinct addresses (issue 13's
cardinality cliff): the benchmark file's 5,000-host pool beside files whose
every address is drawn at random from the IPv4 or IPv6 space (millions of
distinct addresses), through every reading path, in one run.

    .venv/bin/python benches/cardinality.py      # prints the table (make bench writes it)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import make_file
import memory

RECORDS = 1_000_000
DATA = make_file.ROOT / "bench-data"
FILES = {
    "pool": ("5,000-host pool, IPv4", DATA / "flows-1m.ipfix"),
    "random4": ("random IPv4 (about 2M distinct)", DATA / "flows-1m-random4.ipfix"),
    "random6": ("random IPv6 (about 2M distinct)", DATA / "flows-1m-random6.ipfix"),
}


def ensure() -> None:
    for kind, (_, path) in FILES.items():
        make_file.ensure(path, RECORDS, addresses=kind)


def paths(path: Path, count: Callable[[Any], int]) -> list[tuple[str, Callable[[], int]]]:
    import ferrofix as ff

    cols = make_file.COLUMNS6 if "random6" in path.name else make_file.COLUMNS

    def arrow(addresses: str) -> int:
        scan = ff.scan_ipfix(path, columns=cols, addresses=addresses)
        return sum(b.num_rows for b in scan.batches())

    return [
        ("`iter_records(path)` dicts", lambda: count(ff.iter_records(path))),
        (
            '`iter_records(path, columns=[10 IEs], as_="tuple")`',
            lambda: count(ff.iter_records(path, columns=cols, as_="tuple")),
        ),
        ("`scan_ipfix(path)` Arrow batches, text addresses", lambda: arrow("string")),
        ('`scan_ipfix(path, addresses="int")` Arrow batches', lambda: arrow("int")),
        ("`read_ipfix(path)` pandas DataFrame (defaults)", lambda: len(ff.read_ipfix(path))),
    ]


def measure(
    best_of: Callable[..., tuple[float, int]], repeat: int, count: Callable[[Any], int]
) -> list[str]:
    """The markdown lines of the cardinality table and read_ipfix's memory."""
    ensure()
    rates: dict[str, dict[str, float]] = {}
    ops: list[str] = []
    mem: dict[str, str] = {}
    for kind, (_, path) in FILES.items():
        for op, fn in paths(path, count):
            s, n = best_of(fn, repeat)
            if n != RECORDS:
                raise SystemExit(f"{path.name}: {op} read {n} records, not {RECORDS}")
            rates.setdefault(op, {})[kind] = n / s
            if op not in ops:
                ops.append(op)
        m = memory.read_memory(path)
        grew = (m["peak_kib"] - m["base_kib"]) / 1024
        mem[kind] = f"{grew:.0f} MiB for a {m['frame_bytes'] / 2**20:.0f} MiB frame"
    L = [
        "| path | " + " | ".join(FILES[k][0] for k in FILES) + " | random IPv4 / pool |",
        "|---|" + "---:|" * (len(FILES) + 1),
    ]
    for op in ops:
        r = rates[op]
        cells = " | ".join(f"{r[k] / 1e6:.2f}M/s" for k in FILES)
        L.append(f"| {op} | {cells} | {r['random4'] / r['pool']:.2f} |")
    L.append(
        "| `read_ipfix` peak RSS growth (fresh process) | "
        + " | ".join(mem[k] for k in FILES)
        + " | |"
    )
    return L


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    import run

    print("\n".join(measure(run.best_of, run.REPEAT, run.count)))
