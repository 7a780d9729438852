"""The training run of the profile-guided build (``scripts/pgo_build.sh``).

Run with the instrumented extension installed: it meters the repository's
real captures (``tests/data/pcap``) and reads its real IPFIX files
(``tests/data/ipfix``) the ways the package is used (the command line's
IPFIX out with and without the TCP metrics, two workers, Arrow batches,
the IPFIX readers), so that the compiler lays out the hot paths by what
real input does. The benchmark captures (``bench-data/``) are not used:
the profile comes from ``tests/data`` alone, so the benchmarks measure a
build that never saw them.

    python scripts/pgo_train.py [ROOT]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import ferrofix as ff


def main(root: Path) -> int:
    captures = sorted((root / "tests" / "data" / "pcap").iterdir())
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
    print(f"pgo_train: {metered:,} packets metered, {read:,} IPFIX records read")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()))
