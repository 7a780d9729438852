#!/bin/bash
# The extension's release build, profile-guided (the rustc book, "Profile-guided
# Optimization"), installed into the virtualenv VENV:
#   1. an instrumented build (-Cprofile-generate) into target/pgo-gen;
#   2. its training run, scripts/pgo_train.py: the repository's real captures and
#      IPFIX files (tests/data) metered and read the ways the package is used;
#   3. the profiles merged by the toolchain's own llvm-profdata (rustup's
#      llvm-tools component, added here when missing);
#   4. the release build laid out by that profile (-Cprofile-use) into target/pgo.
# 10-12% off the meter's whole-process time (BENCHMARKS.md), for one more release
# build. FERROFIX_NO_PGO=1, or no llvm-profdata to be had, makes a plain release
# build into target/ instead.
#
#   scripts/pgo_build.sh VENV
set -euo pipefail

VENV=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH"

plain() {
    "$VENV/bin/maturin" develop --release -q
}

if [ -n "${FERROFIX_NO_PGO:-}" ]; then
    plain
    exit
fi

sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$sysroot/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ] && command -v rustup >/dev/null; then
    rustup component add llvm-tools >/dev/null 2>&1 || true
fi
if [ ! -x "$profdata" ]; then
    echo "note: no llvm-profdata for $(rustc --version) (rustup component llvm-tools):" \
        "a plain release build, without profile-guided optimisation"
    plain
    exit
fi

data="$ROOT/target/pgo-data"
rm -rf "$data"
mkdir -p "$data"
flags=${RUSTFLAGS:-}
CARGO_TARGET_DIR="$ROOT/target/pgo-gen" RUSTFLAGS="$flags -Cprofile-generate=$data/raw" \
    "$VENV/bin/maturin" develop --release -q
LLVM_PROFILE_FILE="$data/raw/train-%p-%m.profraw" "$VENV/bin/python" scripts/pgo_train.py "$ROOT"
"$profdata" merge -o "$data/merged.profdata" "$data/raw"
CARGO_TARGET_DIR="$ROOT/target/pgo" RUSTFLAGS="$flags -Cprofile-use=$data/merged.profdata" \
    "$VENV/bin/maturin" develop --release -q
