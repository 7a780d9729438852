"""Copy the fixed scenario set of a run into the committed fixtures (tests/data/tcp-truth/)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from harness import load_scenarios, log

# Captures copied for every fixed scenario, and the full-payload ones copied for a few.
S96_KEYS = ("snd_s96", "rcv_s96", "mid_s96")
FULL = {"s01_v4_clean": ("snd_full",), "s03_v4_loss2": ("snd_full",)}
NOTE = (
    "Captures are zstd-compressed (name + .zst); `installed` lists, per scenario, the files "
    "present here by `pcaps` key: the snaplen-96 captures at all three observation points "
    "(snd, rcv, mid) for every scenario, and the full-payload client capture (snd_full) for "
    f"{', '.join(sorted(FULL))} only. The other pcaps.* names are those of the harness's run."
)
CASES_NOTE = (
    "Cases from several runs (each entry's kernel is its run's). Captures are zstd-compressed "
    "(name + .zst); `installed` lists, per scenario, the files present here by `pcaps` key: the "
    "snaplen-96 captures at all three observation points (snd, rcv, mid). The other pcaps.* "
    "names are those of the harness's run."
)


def zstd(src: Path, dst: Path) -> None:
    """zstd -19 (the meter reads .zst; tshark after zstd -d)."""
    subprocess.run(["zstd", "-q", "-19", "-f", str(src), "-o", str(dst)], check=True)


def install_fixtures(out: Path, dest: Path, only: list[str] | None = None) -> None:
    """The fixed set of the run in `out` into `dest`, replacing its index; with `only`,
    those scenarios of the run added to (or replaced in) what `dest` holds, each entry
    naming its run's kernel (for tests/data/tcp-truth-cases/: cases one run showed)."""
    idx = json.loads((out / "index.json").read_text())
    dest.mkdir(parents=True, exist_ok=True)
    wanted = set(only) if only else {s["scenario"] for s in load_scenarios()[1] if s.get("fixed")}
    ents = []
    for ent in idx["scenarios"]:
        name = ent["scenario"]
        if name not in wanted:
            continue
        if only:
            ent = dict(ent, kernel=idx.get("kernel"))
        shutil.copyfile(out / ent["truth"], dest / ent["truth"])
        installed = {}
        for key in (*S96_KEYS, *(() if only else FULL.get(name, ()))):
            f = ent["pcaps"].get(key)
            if f is None:
                raise SystemExit(f"{name}: the run has no {key} capture; run `make truth` again")
            zstd(out / f, dest / f"{f}.zst")
            installed[key] = f"{f}.zst"
        ents.append(dict(ent, installed=installed))
    missing = wanted - {e["scenario"] for e in ents}
    if missing:
        raise SystemExit(f"run has no {sorted(missing)}; run `make truth` first")
    if only:
        # Keep the cases installed before, from other runs.
        have = dest / "index.json"
        kept = json.loads(have.read_text())["scenarios"] if have.exists() else []
        ents = [e for e in kept if e["scenario"] not in wanted] + ents
    new = dict(idx, scenarios=ents, note=CASES_NOTE if only else NOTE)
    (dest / "index.json").write_text(json.dumps(new, indent=1) + "\n")
    total = sum(f.stat().st_size for f in dest.iterdir() if f.is_file())
    log(f"copied {len(ents)} scenarios into {dest} ({total / 1e6:.2f} MB with README/index)")
