"""Issue 18's benchmark: ferrofix.dask over 8 IPFIX files on a
``distributed.LocalCluster`` of 2 worker processes against 1 (a groupby of
every record), and the bytes of a Parquet dataset (``ff.write_dataset``)
against the IPFIX files it came from, with the bytes a projected query reads.

    .venv/bin/python benches/dask_scale.py            # 8 x 1M records (benches/make_file.py)
    .venv/bin/python benches/dask_scale.py -n 200000  # smaller files

Prints a Markdown table for BENCHMARKS.md. Each timing is the best of
three runs on a warm cluster (the files in the page cache).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def files(n_records: int, count: int) -> list[Path]:
    out = []
    for i in range(count):
        path = ROOT / "bench-data" / f"dask-{n_records}-{i}.ipfix"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            # The same records in each file (make_file.py is deterministic).
            subprocess.run(
                [sys.executable, str(ROOT / "benches" / "make_file.py"), "-n", str(n_records),
                 "-o", str(path)],
                check=True,
            )  # fmt: skip
        out.append(path)
    return out


def timed(workers: int, paths: list[Path]) -> float:
    import distributed

    import ferrofix.dask as ffd

    with distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=50,
    ) as cluster, distributed.Client(cluster):  # fmt: skip
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            df = ffd.read_ipfix([str(p) for p in paths])
            df.groupby("destinationTransportPort")["octetDeltaCount"].sum().compute()
            best = min(best, time.perf_counter() - t)
    return best


def size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="records per file")
    ap.add_argument("--files", type=int, default=8)
    args = ap.parse_args()
    import pyarrow.dataset as ds

    import ferrofix as ff

    paths = files(args.n, args.files)
    one = timed(1, paths)
    two = timed(2, paths)
    with tempfile.TemporaryDirectory() as tmp:
        written = [Path(f) for f in ff.write_dataset([str(p) for p in paths], tmp)]
        parquet = size(written)
        d = ds.dataset(tmp, partitioning="hive")
        t = d.to_table(columns=["octetDeltaCount"])
        assert t.num_rows == args.n * args.files
        # What one column costs: the column chunks' compressed sizes.
        import pyarrow.parquet as pq

        col_bytes = 0
        for f in written:
            md = pq.ParquetFile(f).metadata
            for rg in range(md.num_row_groups):
                for c in range(md.num_columns):
                    col = md.row_group(rg).column(c)
                    if col.path_in_schema == "octetDeltaCount":
                        col_bytes += col.total_compressed_size
    ipfix = size(paths)
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{args.files} files x {args.n:,} records ({ipfix / 1e6:.1f} MB of IPFIX)\n")
    print("| run | seconds | speed-up |\n|---|---:|---:|")
    print(f"| 1 worker process | {one:.2f} | 1.00x |")
    print(f"| 2 worker processes | {two:.2f} | {one / two:.2f}x |\n")
    print("| bytes | MB | of the IPFIX |\n|---|---:|---:|")
    print(f"| IPFIX files | {ipfix / 1e6:.1f} | 100% |")
    print(f"| Parquet dataset (write_dataset, {len(written)} files) | {parquet / 1e6:.1f} | "
          f"{100 * parquet / ipfix:.0f}% |")  # fmt: skip
    print(f"| one column read back (octetDeltaCount) | {col_bytes / 1e6:.1f} | "
          f"{100 * col_bytes / ipfix:.0f}% |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
