#!/bin/sh
# Regenerate every oracle output under tests/data/oracle/ from the fixtures in
# tests/data/ipfix/ (cases listed in tests/data/oracle/cases.json).
# Needs tshark and ipfixDump (Debian: tshark, libfixbuf-tools); the tests do
# not, they read the committed outputs.  Idempotent: same tools, same bytes.
set -eu
cd "$(dirname "$0")/.."
cases=tests/data/oracle/cases.json
data=tests/data/ipfix
out=tests/data/oracle
export TZ=UTC LC_ALL=C.UTF-8
python3 scripts/oracle_tshark.py --cases "$cases" --data-dir "$data" --out-dir "$out"
python3 scripts/oracle_ipfixdump.py --cases "$cases" --data-dir "$data" --out-dir "$out"
