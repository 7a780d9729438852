"""Peak memory of `read_ipfix` beside the size of the DataFrame it returns,
measured in a fresh process (the columnar issue's target: at most 1.5x)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys
import pandas, pyarrow  # imported first: their own memory is not the decoder's
import ferrofix as ff

def status_kib(key):
    # VmHWM belongs to this address space: unlike ru_maxrss it does not
    # inherit the high-water mark of the process that forked this one.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise SystemExit(f"no {key} in /proc/self/status")

# A first read of a few rows loads the code pandas and pyarrow import
# lazily (categoricals, Arrow-backed arrays): that memory does not grow
# with the data, so it is part of the baseline.
ff.read_ipfix(sys.argv[1], n_rows=10)
base = status_kib("VmRSS")
df = ff.read_ipfix(sys.argv[1])
peak = status_kib("VmHWM")
frame = int(df.memory_usage(deep=True).sum())
print(json.dumps({"base_kib": base, "peak_kib": peak, "frame_bytes": frame, "rows": len(df)}))
"""


def read_memory(path: Path) -> dict[str, int]:
    """Baseline RSS after the imports, peak RSS, and the DataFrame's size."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def describe(m: dict[str, int]) -> tuple[float, str]:
    """The ratio (peak growth over the frame's size) and a sentence."""
    grew = (m["peak_kib"] - m["base_kib"]) * 1024
    ratio = grew / m["frame_bytes"] if m["frame_bytes"] else float("inf")
    text = (
        f"`read_ipfix` of the file ({m['rows']:,} rows) grew peak RSS by "
        f"{grew / 2**20:.1f} MiB over the {m['base_kib'] / 1024:.1f} MiB after importing "
        "pandas, pyarrow and ferrofix and reading 10 rows; "
        f"the DataFrame holds {m['frame_bytes'] / 2**20:.1f} MiB "
        f"(`memory_usage(deep=True)`): {ratio:.2f}x."
    )
    return ratio, text


if __name__ == "__main__":
    m = read_memory(Path(sys.argv[1]))
    print(describe(m)[1])
