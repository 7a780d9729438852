"""The extension's allocator (mimalloc) and the options it is loaded with.

`tune_allocator` (src/lib.rs) sets mimalloc's purge delay and arena eager
commit to 0 when the module loads, unless the user set them in the
environment. The option numbers it uses are checked here against mimalloc's
own reading of its environment variables (its documented MIMALLOC_<NAME>),
not against our constants: a value given as MIMALLOC_PURGE_DELAY must come
back as the option tune_allocator calls the purge delay.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ferrofix._ferrofix as core

READ = (
    "import json, ferrofix._ferrofix as c; "
    "import ferrofix as ff; ff.meter(__import__('sys').argv[1]); "
    "print(json.dumps(c.allocator_options()))"
)
CAPTURE = str(Path(__file__).parents[1] / "data" / "pcap" / "nfstream__1kxun.pcap")


def options_in_child(**env: str) -> tuple[int, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", READ, CAPTURE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    purge, commit = json.loads(out.stdout)
    return purge, commit


def test_the_extension_is_built_with_mimalloc() -> None:
    assert core.allocator_options() is not None


def test_memory_is_handed_back_at_once_by_default() -> None:
    # mimalloc's own defaults are 1000 ms and 2 (docs and options.c).
    assert options_in_child() == (0, 0)


@pytest.mark.parametrize(("purge", "commit"), [("7", None), (None, "3"), ("250", "1")])
def test_options_set_in_the_environment_are_kept(purge: str | None, commit: str | None) -> None:
    env = {}
    if purge is not None:
        env["MIMALLOC_PURGE_DELAY"] = purge
    if commit is not None:
        env["MIMALLOC_ARENA_EAGER_COMMIT"] = commit
    got = options_in_child(**env)
    assert got == (int(purge) if purge else 0, int(commit) if commit else 0)
