#!/bin/sh
# Regenerate every oracle output under tests/data/oracle/ from the fixtures in
# tests/data/ipfix/ (cases listed in tests/data/oracle/cases.json) and the
# captures in tests/data/pcap/ (cases in tests/data/oracle/pcap/cases.json).
# Needs tshark, mergecap and ipfixDump (Debian: tshark, wireshark-common,
# libfixbuf-tools); the tests do not, they read the committed outputs.
# Idempotent: same tools, same bytes.
set -eu
cd "$(dirname "$0")/.."
cases=tests/data/oracle/cases.json
data=tests/data/ipfix
out=tests/data/oracle
export TZ=UTC LC_ALL=C.UTF-8
python3 scripts/oracle_tshark.py --cases "$cases" --data-dir "$data" --out-dir "$out"
python3 scripts/oracle_ipfixdump.py --cases "$cases" --data-dir "$data" --out-dir "$out"
python3 scripts/oracle_pcap.py --cases "$out/pcap/cases.json" --data-dir tests/data/pcap \
    --out-dir "$out/pcap"
