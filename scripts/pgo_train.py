"""The training run of the profile-guided build (``scripts/pgo_build.sh``).

Run with the instrumented extension installed: it meters the repository's
real captures (``tests/data/pcap``) and reads its real IPFIX files
(``tests/data/ipfix``) the ways the package is used (the command line's
IPFIX out with and without the TCP metrics, two workers, Arrow batches,
the IPFIX readers), so that the compiler lays out the hot paths by what
real input does. Neither the benchmark captures (``bench-data/``) nor the
captures they are made from (``benches/make_capture.py``'s inputs, some of
which ``tests/data/pcap`` holds too) are used: the benchmarks measure a
build that never saw their traffic.

    python scripts/pgo_train.py [ROOT]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import ferrofix as ff


def bench_inputs(root: Path) -> set[str]:
    """The names of the captures the benchmark captures are made from."""
    sys.path.insert(0, str(root / "benches"))
    try:
        from make_capture import DEFAULT_INPUTS
    finally:
        sys.path.pop(0)
    return set(DEFAULT_INPUTS)


def main(root: Path) -> int:
    left_out = bench_inputs(root)
    captures = sorted(
        c for c in (root / "tests" / "data" / "pcap").iterdir() if c.name not in left_out
    )
    ipfix = sorted((root / "tests" / "data" / "ipfix").iterdir())
    if not captures or not ipfix:
        print(f"pgo_train: no captures or IPFIX files under {root}/tests/data", file=sys.stderr)
        return 1
    metered = read = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The captures several times over, so that their paths outweigh
        # the start-up code run once a process.
        for _ in range(3):
            for c in captures:
                for tcp in (True, False):
                    m = ff.Meter(str(c), tcp_metrics=tcp, on_bad_records="skip")
                    m.write_ipfix()
                    metered += int(m.stats["packets"])
                ff.Meter(str(c), workers=2, on_bad_records="skip").write_ipfix()
                for _batch in ff.Meter(str(c), on_bad_records="skip").batches():
                    pass
            for f in ipfix:
                for _batch in ff.scan_ipfix(str(f), on_bad_records="skip").batches():
                    pass
                read += sum(1 for _ in ff.iter_records(str(f), on_bad_records="skip"))
    print(
        f"pgo_train: {metered:,} packets of {len(captures)} captures metered "
        f"({len(left_out)} benchmark inputs left out), {read:,} IPFIX records read"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()))
