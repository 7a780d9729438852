#!/bin/bash
# Regenerate the flow-meter oracles under tests/data/meter-oracle/ from the
# captures listed in tests/data/meter-oracle/cases.tsv.
#
# For each capture: a per-packet table by tshark (one row per captured frame,
# no reassembly), tshark's conversation tables, and argus' flow records as
# printed by ra. Tool versions go to tests/data/meter-oracle/VERSIONS.txt.
# Needs tshark, argus and ra (Debian: tshark, argus-server, argus-client; see
# `make tools`); the tests do not, they read the committed outputs.
# Idempotent: same tools, same bytes (gzip -n, no wall-clock fields; argus'
# management records, which carry the wall clock, are filtered out).
#
# Captures marked `shared` or `tcp-truth` in cases.tsv are read from
# $SHARED_DATA (default ../shared/data) and skipped, with a note, when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
export TZ=UTC LC_ALL=C.UTF-8
OUT=tests/data/meter-oracle
SHARED_DATA=${SHARED_DATA:-../shared/data}
GZIP_OVER=200000 # bytes: bigger per-packet tables are committed gzipped

# One row per frame: no IP/IPv6 defragmentation, no TCP reassembly.
PREFS=(-o ip.defragment:FALSE -o ipv6.defragment:FALSE -o tcp.desegment_tcp_streams:FALSE)
# Every occurrence of a field, comma-joined: a tunnelled or ICMP-quoted packet
# lists the outer header's value first, then the inner ones.
FIELDS=(
  frame.number frame.time_epoch frame.len frame.cap_len frame.interface_id frame.protocols
  eth.src eth.dst vlan.id mpls.label pppoe.session_id
  ip.version ip.src ip.dst ip.proto ip.len ip.ttl ip.dsfield ip.id ip.flags.mf ip.frag_offset
  ipv6.src ipv6.dst ipv6.nxt ipv6.plen ipv6.opt.jumbo ipv6.hlim ipv6.tclass
  ipv6.hopopts.nxt ipv6.dstopts.nxt ipv6.routing.nxt
  ipv6.fraghdr.nxt ipv6.fraghdr.offset ipv6.fraghdr.more ipv6.fraghdr.ident
  tcp.srcport tcp.dstport tcp.flags tcp.len udp.srcport udp.dstport sctp.srcport sctp.dstport
  icmp.type icmp.code icmpv6.type icmpv6.code gre.proto vxlan.vni
  # header lengths and TCP sequence numbers (tests/python/test_meter_fields.py:
  # transport octets, and the FIN/ACK rule that ends a TCP record)
  ip.hdr_len ipv6.hopopts.len_oct ipv6.routing.len_oct ipv6.dstopts.len_oct
  tcp.hdr_len tcp.seq_raw tcp.ack_raw
)
EFIELDS=()
for f in "${FIELDS[@]}"; do EFIELDS+=(-e "$f"); done
# argus: -X ignores /etc/argus.conf; -S 60 sets the status-record interval
# explicitly (this build otherwise cuts a record every 5 s of a flow); -A adds
# application (payload) byte counts.
ARGUS_FLAGS=(-X -S 60 -A)
# ra: every flow record argus wrote, numbers not names, epoch times to 1 us.
RA_FIELDS=(stime ltime flgs proto saddr sport dir daddr dport spkts dpkts sbytes dbytes sappbytes dappbytes state)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

resolve() {
  case $2 in
    tests) echo "tests/data/pcap/$1" ;;
    shared) echo "$SHARED_DATA/pcap/$1" ;;
    tcp-truth) echo "$SHARED_DATA/tcp-truth/$1" ;;
    *) echo "unknown place $2 for $1" >&2; return 1 ;;
  esac
}

# tshark prints a warning when run as root; anything else on stderr is kept.
quiet_tshark() { tshark "$@" 2> >(grep -v 'Running as user "root"' >&2); }

{
  echo "# tools that made the files in this folder (scripts/meter_oracles.sh)"
  # (argus -h and ra -h exit non-zero: their status is not ours)
  tshark --version 2>/dev/null | sed -n 1p
  { argus -h 2>&1 || true; } | sed -n '/Version/{s/^/argus: /p;q}'
  { ra -h 2>&1 || true; } | sed -n '/Version/{s/^/ra: /p;q}'
  echo "argus flags: ${ARGUS_FLAGS[*]}"
  echo "ra flags: -X -nn -u -p 6 -c , -s ${RA_FIELDS[*]} - not man"
  echo "racluster flags: -X -nn -u -p 6 -c , -s ${RA_FIELDS[*]} trans - not man"
} > "$OUT/VERSIONS.txt"

while IFS=$'\t' read -r name where _what; do
  [[ -z $name || $name == \#* ]] && continue
  cap=$(resolve "$name" "$where")
  if [[ ! -e $cap ]]; then
    echo "skip $name: $cap absent" >&2
    continue
  fi
  echo "$name" >&2
  # argus reads plain captures only: gunzip to a temporary file first.
  plain=$cap
  if [[ $cap == *.gz ]]; then
    plain=$tmp/plain.pcap
    gzip -dc "$cap" > "$plain"
  fi

  quiet_tshark -n -r "$cap" "${PREFS[@]}" -T fields -E header=y -E separator=/t -E quote=n \
    -E occurrence=a -E aggregator=, "${EFIELDS[@]}" > "$tmp/packets.tsv"
  rm -f "$OUT/$name.packets.tsv" "$OUT/$name.packets.tsv.gz"
  if (( $(stat -c %s "$tmp/packets.tsv") > GZIP_OVER )); then
    gzip -n -9 -c "$tmp/packets.tsv" > "$OUT/$name.packets.tsv.gz"
  else
    cp "$tmp/packets.tsv" "$OUT/$name.packets.tsv"
  fi

  quiet_tshark -n -r "$cap" "${PREFS[@]}" -q \
    -z conv,eth -z conv,ip -z conv,ipv6 -z conv,tcp -z conv,udp -z conv,sctp > "$OUT/$name.conv.txt"

  # argus exits 0 even when it cannot read the link type (it then writes no
  # flow records and says why on stderr); keep its reason, minus its clock.
  rm -f "$OUT/$name.argus.csv" "$OUT/$name.argus-merged.csv" "$OUT/$name.argus.error.txt"
  rm -f "$tmp/flows.argus" # argus -w appends to an existing file
  argus "${ARGUS_FLAGS[@]}" -r "$plain" -w "$tmp/flows.argus" 2> "$tmp/argus.err"
  if grep -q ArgusError "$tmp/argus.err"; then
    sed -E 's/^ *ArgusError: [0-9]+ [A-Za-z]+ [0-9]+ [0-9:.]+ //; s#\(.*/#(#' "$tmp/argus.err" \
      > "$OUT/$name.argus.error.txt"
  elif ! ra -X -nn -u -p 6 -c , -r "$tmp/flows.argus" -s "${RA_FIELDS[@]}" - not man \
      > "$OUT/$name.argus.csv" 2> /dev/null; then
    # No error, but nothing ra can read either (e.g. PPP in HDLC framing:
    # argus writes no records for it and says nothing).
    rm -f "$OUT/$name.argus.csv"
    echo "argus wrote no flow records for this capture (and no error)" > "$OUT/$name.argus.error.txt"
  else
    racluster -X -nn -u -p 6 -c , -r "$tmp/flows.argus" -s "${RA_FIELDS[@]}" trans - not man \
      > "$OUT/$name.argus-merged.csv"
  fi
  rm -f "$tmp/flows.argus"
done < "$OUT/cases.tsv"
