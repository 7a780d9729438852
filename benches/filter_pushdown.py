"""Issue 18's lazy query path: DuckDB over ``scan_ipfix`` filtering in SQL
(every record decoded into Arrow, then dropped by DuckDB) against the same
query with the filter given to ferrofix (``where=``: records dropped while
decoding, never made into rows).

    .venv/bin/python benches/filter_pushdown.py [FILE]   # default: bench-data/dask-1000000-0.ipfix

Best of five; prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def best(f: object, n: int = 5) -> tuple[float, object]:
    out, t_best = None, float("inf")
    for _ in range(n):
        t = time.perf_counter()
        out = f()  # type: ignore[operator]
        t_best = min(t_best, time.perf_counter() - t)
    return t_best, out


def main() -> int:
    import duckdb
    import pyarrow as pa

    import ferrofix as ff

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench-data" / "dask-1000000-0.ipfix"
    total = pa.table(ff.scan_ipfix(path, columns=["octetDeltaCount"])).num_rows
    query = "select count(*), sum(octetDeltaCount), max(flowStartMilliseconds) from scan"
    print(f"machine: {platform.node()}, Python {platform.python_version()}")
    print(f"{path.name}: {total:,} records, every column decoded\n")
    print("| port (either side) | filter | seconds | rows made |\n|---|---|---:|---:|")
    for port in (22, 443):

        def in_sql(port: int = port) -> object:
            scan = ff.scan_ipfix(path)  # noqa: F841 (DuckDB reads it by name)
            where = f" where destinationTransportPort = {port} or sourceTransportPort = {port}"
            return duckdb.sql(query + where).fetchall()

        def pushed(port: int = port) -> object:
            scan = ff.scan_ipfix(path, where={"port": port})  # noqa: F841
            return duckdb.sql(query).fetchall()

        t_sql, r_sql = best(in_sql)
        t_push, r_push = best(pushed)
        assert r_sql == r_push, (r_sql, r_push)
        kept = r_push[0][0]  # type: ignore[index]
        print(f"| {port} | in DuckDB's SQL | {t_sql:.3f} | {total:,} |")
        print(f"| {port} | `where={{'port': {port}}}` | {t_push:.3f} | {kept:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
