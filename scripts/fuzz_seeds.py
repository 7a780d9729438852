#!/usr/bin/env python3
"""Write seed inputs for the generator fuzz targets (ferrofix-testgen).

Usage (from the repository root; `make fuzz` runs it):

    python3 scripts/fuzz_seeds.py fuzz/corpus ipfix_lists netflow pcap pcapng compressed

A generator target reads its input as a stream of choices (sizes, counts,
field values, which mutation) and gives zeros once the input runs out, so a
short input builds a minimal structure. The seeds are deterministic
pseudo-random choice strings of 64 bytes to 4 KiB, eight per target, which
the generators turn into inputs of every size they make; libFuzzer takes it
from there. Existing files are kept.

Python 3.11 standard library only.
"""

import random
import sys
from pathlib import Path

SIZES = (64, 128, 256, 512, 1024, 2048, 3072, 4096)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[1])
    for target in argv[2:]:
        out = root / target
        out.mkdir(parents=True, exist_ok=True)
        for i, size in enumerate(SIZES):
            path = out / f"seed-{i}"
            if not path.exists():
                rng = random.Random(f"{target}/{i}")
                path.write_bytes(rng.randbytes(size))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
