# ferrofix — every target does its own set-up from a fresh clone.
#   make demo   virtualenv, build, install, decode a bundled real IPFIX file, meter a real capture
#   make test   same set-up, then lints and every test
#   make bench  benchmarks beside python-ipfix, written to BENCHMARKS.md
#   make test-matrix  the pytest suite on CPython 3.11, 3.13, 3.14 and 3.14t (free-threaded); the
#               3.13/3.14 builds are made once into MATRIX_CACHE (scripts/test_matrix.sh)
#   make docs   README, docs/*.md, the notebooks executed with their figures and the API reference
#               (pdoc) as HTML in build/docs (scripts/make_docs.py)
#   make fuzz   cargo-fuzz campaigns, FUZZ_SECONDS each: message decoding, decode-encode-decode, the meter,
#               its workers against one table, and one per generated input kind (ferrofix-testgen)

SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-stamp
BUILD_STAMP := $(VENV)/.build-stamp
DEMO_FILE := tests/data/ipfix/ipfixcol2__example_flows.ipfix
DEMO_CAPTURE := tests/data/pcap/nfstream__1kxun.pcap
FUZZ_SECONDS ?= 300
# Targets whose input is a generator's choices (testgen/), and all targets.
FUZZ_GENERATED := ipfix_lists netflow pcap pcapng compressed
FUZZ_TARGETS := decode_message encode_roundtrip meter meter_workers $(FUZZ_GENERATED)
RUST_SRC := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
PY_SRC := $(shell find python -type f) pyproject.toml

.PHONY: demo test lint rust-test py-test tools bench bench-meter fuzz develop clean truth test-matrix docs

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q "maturin>=1.5,<2" "pytest>=8" "hypothesis>=6" "mypy>=1.10" "ruff>=0.5" "ipfix==0.9.7" "zstandard>=0.22" "pandas>=2.2" "pyarrow>=17" "polars>=1" "duckdb>=1" "matplotlib>=3.8" "dask[dataframe]>=2024.12" "distributed>=2024.12" "nbclient>=0.10" "nbformat>=5.10" "ipykernel>=6.29" "pyspark>=3.5"
	touch $@

# Release build of the extension, profile-guided (scripts/pgo_build.sh: an
# instrumented build trained on tests/data, then the build that profile lays
# out; FERROFIX_NO_PGO=1 for a plain one), installed into the virtualenv.
$(BUILD_STAMP): $(STAMP) $(RUST_SRC) $(PY_SRC) scripts/pgo_build.sh scripts/pgo_train.py benches/make_capture.py
	scripts/pgo_build.sh $(VENV)
	touch $@

develop: $(BUILD_STAMP)

demo: $(BUILD_STAMP)
	$(VENV)/bin/ferrofix summary $(DEMO_FILE) -n 3
	@echo
	$(VENV)/bin/ferrofix meter $(DEMO_CAPTURE) --top 8

# Oracle tools (tshark, libfixbuf's ipfixDump and headers, argus and ra,
# tcptrace, GNU time for benches/meter_peers.py, a Java runtime for the
# Spark reader of test_dataset.py) from Debian where
# we are root; elsewhere the tests that need them report as skipped.
tools:
	@if command -v tshark >/dev/null && command -v ipfixDump >/dev/null \
	    && command -v softflowd >/dev/null && command -v pmacctd >/dev/null \
	    && command -v argus >/dev/null && command -v ra >/dev/null && command -v tcptrace >/dev/null \
	    && command -v java >/dev/null \
	    && [ -x /usr/bin/time ]; then \
	  echo "oracle tools present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	     tshark libfixbuf-tools libfixbuf-dev pkg-config zstd softflowd pmacct iproute2 \
	     argus-server argus-client tcptrace time openjdk-17-jre-headless >/dev/null) \
	  || { echo "warning: could not install oracle tools; their tests will be skipped"; \
	       if [ -n "$$FERROFIX_NO_SKIPS" ]; then echo "FERROFIX_NO_SKIPS: the oracle tools are required"; exit 1; fi; }; \
	else echo "not root: oracle tools not installed; their tests will be skipped"; \
	  if [ -n "$$FERROFIX_NO_SKIPS" ]; then echo "FERROFIX_NO_SKIPS: the oracle tools are required"; exit 1; fi; fi

lint: $(STAMP)
	cargo fmt --check
	cargo fmt --check --manifest-path testgen/Cargo.toml
	cargo clippy --all-targets --all-features -q -- -D warnings
	cargo clippy --manifest-path testgen/Cargo.toml --all-targets -q -- -D warnings
	cargo fmt --check --manifest-path truth/shaper/Cargo.toml
	cargo clippy --manifest-path truth/shaper/Cargo.toml --all-targets -q -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q
	$(VENV)/bin/ruff check python tests scripts benches truth
	$(VENV)/bin/ruff format --check python tests scripts benches truth
	$(VENV)/bin/mypy

rust-test:
	cargo test -q
	cargo test -q --manifest-path truth/shaper/Cargo.toml

py-test: $(BUILD_STAMP) tools
	$(VENV)/bin/python -m mypy.stubtest ferrofix._ferrofix
	$(VENV)/bin/python -m pytest -q

test: lint rust-test py-test

# The whole pytest suite on CPython 3.11 ($(PY), as above), 3.13, 3.14 and 3.14 free-threaded
# (--disable-gil), built once from Debian's python3.13 (trixie) and python3.14 (sid) source
# packages into MATRIX_CACHE, outside the clone (CI may cache it); one venv per interpreter
# there too. When sid's python3.14 source cannot be fetched, 3.14 is Debian sid's own build
# of it (its binary packages, with sid's C library) and 3.14t is not run. Not part of `make test`. 3.13t cannot be: PyO3 0.29+ supports free-threading
# from 3.14 only (scripts/test_matrix.sh).
MATRIX_CACHE ?= $(HOME)/.cache/ferrofix
MATRIX_PYTHONS ?= 3.11 3.13 3.14 3.14t
test-matrix: tools
	FERROFIX_CACHE=$(MATRIX_CACHE) MATRIX_PYTHONS="$(MATRIX_PYTHONS)" PY=$(PY) bash scripts/test_matrix.sh

docs: $(BUILD_STAMP)
	$(VPY) -m pip install -q "pdoc>=14" "nbconvert>=7" "nbclient>=0.10" "ipykernel>=6" "markdown>=3.5" "matplotlib>=3.8"
	$(VPY) scripts/make_docs.py build/docs

bench: $(BUILD_STAMP) bench-meter
	$(VPY) benches/run.py
	$(VPY) benches/collect.py
	$(VPY) benches/dask_scale.py
	$(VPY) benches/filter_pushdown.py

# The flow meter beside its peers on a full-payload and a snaplen-96 capture
# (built from ../shared/data's captures when absent), two workers against one
# thread beside what the machine gives two independent copies, and its stages
# in Rust.
METER_CAPTURES := bench-data/meter-400mb.pcap bench-data/meter-400mb-s96.pcap
bench-data/meter-400mb.pcap:
	$(PY) benches/make_capture.py --out $@
bench-data/meter-400mb-s96.pcap:
	$(PY) benches/make_capture.py --snaplen 96 --out $@
# nfstream (a peer) in a virtualenv of its own: its dependencies are not ours.
NFS_VENV := bench-data/nfs-venv
$(NFS_VENV)/.stamp:
	$(PY) -m venv $(NFS_VENV)
	$(NFS_VENV)/bin/pip install -q nfstream || echo "warning: nfstream could not be installed; its row is skipped"
	touch $@

bench-meter: $(BUILD_STAMP) tools $(METER_CAPTURES) $(NFS_VENV)/.stamp
	$(VPY) benches/meter_peers.py $(METER_CAPTURES) \
	  --nfstream-python $(NFS_VENV)/bin/python
	$(VPY) benches/meter_pinned.py bench-data/meter-400mb-s96.pcap
	$(VPY) benches/meter_builds.py --rounds 8 --ceiling bench-data/meter-400mb-s96.pcap python
	FERROFIX_BENCH_CAPTURE=bench-data/meter-400mb-s96.pcap cargo bench --bench meter --features mimalloc

fuzz:
	command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz
	mkdir -p fuzz/corpus/decode_message && cp -n tests/data/ipfix/* tests/data/netflow/* tests/data/pcap/* fuzz/corpus/decode_message/
	mkdir -p fuzz/corpus/encode_roundtrip
	mkdir -p fuzz/corpus/meter && cp -n tests/data/pcap/* fuzz/corpus/meter/
	mkdir -p fuzz/corpus/meter_workers && cp -n tests/data/pcap/* fuzz/corpus/meter_workers/
	$(PY) scripts/fuzz_seeds.py fuzz/corpus $(FUZZ_GENERATED)
	for t in $(FUZZ_TARGETS); do \
	  if [ -d tests/data/fuzz-regressions/$$t ]; then cp -n tests/data/fuzz-regressions/$$t/* fuzz/corpus/$$t/; fi; \
	done
	cd fuzz && if cargo +nightly --version >/dev/null 2>&1; then TC=+nightly; else export RUSTC_BOOTSTRAP=1; TC=; fi; \
	  for t in $(FUZZ_TARGETS); do \
	    extra=; [ $$t = meter_workers ] && extra=-detect_leaks=0; \
	    cargo $$TC fuzz run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 $$extra || exit 1; \
	  done

clean:
	rm -rf $(VENV) target

# Ground truth for the meter's TCP metrics (docs/truth.md): real Linux TCP between network
# namespaces through an NFQUEUE shaper (truth/), as root on Debian; writes TRUTH_OUT.
TRUTH_OUT ?= truth/out
truth:
	@if [ "$$(id -u)" != 0 ]; then echo "make truth needs root (network namespaces, iptables, tcpdump)"; exit 2; fi
	@if ! command -v tcpdump >/dev/null || ! command -v ethtool >/dev/null || ! command -v iptables >/dev/null \
	    || ! command -v nstat >/dev/null || ! command -v taskset >/dev/null || [ ! -x /usr/bin/python3 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    tcpdump ethtool iptables iproute2 util-linux python3 >/dev/null; \
	fi
	cargo build --release -q --manifest-path truth/shaper/Cargo.toml
	/usr/bin/python3 truth/run.py --out $(TRUTH_OUT)
