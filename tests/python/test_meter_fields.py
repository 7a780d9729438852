"""The meter's flow-level information elements against tshark's per-packet
tables (tests/data/meter-oracle/*.packets.tsv*), on every capture of the
oracle set, with no idle or active timeout (``FOREVER``).

Expected values are computed (``meter_fields_oracle.py``) from tshark's fields and the written
definitions in docs/meter.md ("Flow key", "Fragments", "Biflows and
direction", "Records and end reasons", "Columns"); never from ferrofix's
output. The meter's records are only matched to the oracle's (by biflow key
and start order) and read.

The oracle's rules, each from docs/meter.md:

- Key: IP version, the outer addresses, ports (TCP, UDP, SCTP; 0 for a
  later fragment until its first fragment is seen), protocol (IPv6: the
  last next header), the ICMP/ICMPv6 type * 256 + code (not swapped for the
  reverse direction) and the outermost 802.1Q id before the outer IP
  header (0 without one).
- Fragments: a later fragment (matched to its first by source,
  destination, protocol and identification) is in its first fragment's
  flow; one arriving before its first is metered right after it.
- Records: with the timeouts off, a non-TCP key is one record; a TCP
  record ends with a RST, or at the packet that completes "FIN seen in
  both directions and each acknowledged by the other side (an ACK of the
  FIN's sequence number + 1)" (the FIN's sequence number is the segment's
  plus its data length); a SYN without ACK on a key whose FINs were both
  seen starts a new record; packets after an end begin a new record.
- Initiator: "the sender of the first SYN without ACK seen, or the
  receiver of a SYN/ACK seen first; a flow without any SYN is oriented by
  its first packet."
- Per direction, "first packet" is the first one metered (capture order,
  held fragments after their first).

Per-direction IEs are compared for the direction whose sender the meter
names (forward: its source), so a record oriented the other way fails only
the ``initiator`` test, not every other one.

No real capture here has a connection whose first packet is not its
initiator's, so each capture with SYNs is also metered without them (the
``without-syns`` variant: those frames cut out of the capture's bytes and
out of tshark's table alike); every such connection then starts with its
SYN/ACK, and the definition makes its receiver the initiator.

Cases whose expected values the tables cannot give are in ``EXCLUDED``,
each with its reason; disagreements with the definition are in ``KNOWN``
(strict xfails).
"""

from __future__ import annotations

import collections
import functools
from typing import Any

import meter_oracle as mo
import pytest
from meter_fields_oracle import (
    CASES,
    FOREVER,
    VARIANTS,
    Comparison,
    Key,
    Record,
    as_ns,
    compare,
    meter_key,
    oracle_records,
    packet_rows,
    syn_frames,
)

import ferrofix as ff

# Each IE is checked with its reverse* twin (biflows).
IES = [
    "initiator",
    "vlanId",
    "icmpTypeCode",
    "minimumTTL",
    "maximumTTL",
    "ipClassOfService",
    "sourceMacAddress",
    "destinationMacAddress",
    "initialTCPFlags",
    "unionTCPFlags",
    "tcpControlBits",
    "transportOctetDeltaCount",
    "transportPacketDeltaCount",
    "flowStartMilliseconds",
    "flowEndMilliseconds",
    "flowStartMicroseconds",
    "flowEndMicroseconds",
    "flowStartNanoseconds",
    "flowEndNanoseconds",
    "reverseFlowDeltaMilliseconds",
]

# (capture, variant, IE or "records") where the meter disagrees with its
# definition: bugs to fix, kept visible here (strict: once fixed, the test
# passes and the entry must go).
KNOWN: dict[tuple[str, str, str], str] = {}


def _params(ies: list[str]) -> list[Any]:
    out = []
    for variant in VARIANTS:
        # Only captures with a SYN to take out make a second variant.
        names = [n for n in CASES if variant == "captured" or syn_frames(packet_rows(n))]
        for name in names:
            for ie in ies:
                marks = []
                if (name, variant, ie) in KNOWN:
                    reason = KNOWN[(name, variant, ie)]
                    marks.append(pytest.mark.xfail(strict=True, reason=reason))
                out.append(
                    pytest.param(name, variant, ie, marks=marks, id=f"{variant}-{name}-{ie}")
                )
    return out


@pytest.mark.parametrize(("name", "variant", "ie"), _params(["records"]))
def test_records_per_key_follow_the_definition(name: str, variant: str, ie: str) -> None:
    """As many records per biflow key as the end rules give (RST, FINs
    acknowledged, a SYN after both FINs), each with the packets of the
    definition per direction."""
    result = compare(name, variant)
    assert result.unmatched == []
    bad = [
        (key, ie, want[ie], got[ie])
        for key, want, got in result.pairs
        for ie in ("packetDeltaCount", "reversePacketDeltaCount")
        if want[ie] != got[ie]
    ]
    assert bad == []


@pytest.mark.parametrize(("name", "variant", "ie"), _params(IES))
def test_information_element_follows_its_definition(name: str, variant: str, ie: str) -> None:
    twin = "reverse" + ie[0].upper() + ie[1:]
    result = compare(name, variant)
    bad = [
        (key, col, want[col], got[col])
        for key, want, got in result.pairs
        for col in (ie, twin)
        if col in want and want[col] != got[col]
    ]
    assert bad == [], f"{len(bad)} of {len(result.pairs)} records, first: {bad[:3]}"


@functools.cache
def compare_uniflows(name: str) -> Comparison:
    """docs/meter.md, "Biflows and direction": with ``biflow=False`` each
    record of the definition is a record per direction that sent a packet:
    its sender the source, its own first and last packet times, the
    record's end reason, flowIds 2n - 1 (the initiator's direction) and 2n."""
    path = mo.capture_path(name)
    if path is None:
        pytest.skip(f"{name} is not on this machine (see tests/data/meter-oracle/cases.tsv)")
    df = ff.meter(path, biflow=False, dtype_backend="numpy", **FOREVER)
    ours: dict[Key, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in df.to_dict("records"):
        ours[meter_key(r)].append(r)
    theirs: dict[Key, list[tuple[Record, Key]]] = collections.defaultdict(list)
    for rec in oracle_records(packet_rows(name)):
        senders = {p.key for p in rec.packets}
        for sender in (rec.key, rec.key.reverse()):
            if sender in senders:
                theirs[sender].append((rec, sender))
                senders.discard(sender)
    unmatched, pairs = [], []
    ids: dict[int, dict[bool, int]] = collections.defaultdict(dict)
    for k in sorted(set(ours) | set(theirs)):
        rows = sorted(ours.get(k, []), key=lambda r: as_ns(r["flowStartNanoseconds"]))
        recs = sorted(
            theirs.get(k, []), key=lambda t: min(p.ns for p in t[0].packets if p.key == k)
        )
        if len(rows) != len(recs):
            unmatched.append(f"{k}: meter {len(rows)} records, definition {len(recs)}")
            continue
        for r, (rec, sender) in zip(rows, recs, strict=True):
            mine = [p for p in rec.packets if p.key == sender]
            want = {
                "packetDeltaCount": len(mine),
                "octetDeltaCount": sum(p.octets for p in mine),
                "flowStartNanoseconds": min(p.ns for p in mine),
                "flowEndNanoseconds": max(p.ns for p in mine),
                "flowEndReason": rec.reason,
            }
            got = {
                ie: as_ns(r[ie]) if ie.startswith("flow") and "Nano" in ie else int(r[ie])
                for ie in want
            }
            pairs.append((k, want, got))
            ids[id(rec)][sender == rec.key] = int(r["flowId"])
    for both in ids.values():
        # The initiator's direction odd, the other's the next number.
        first = both.get(True, both.get(False, 0) - 1)
        want_ids = {True: first, False: first + 1}
        if first % 2 != 1 or any(both[d] != want_ids[d] for d in both):
            unmatched.append(f"flowIds {both}")
    return Comparison(unmatched, pairs)


@pytest.mark.parametrize("name", CASES)
def test_uniflow_records_are_the_directions_of_the_definitions_records(name: str) -> None:
    result = compare_uniflows(name)
    assert result.unmatched == []
    bad = [
        (key, ie, want[ie], got[ie])
        for key, want, got in result.pairs
        for ie in want
        if want[ie] != got[ie]
    ]
    assert bad == [], f"{len(bad)} of {len(result.pairs)} records, first: {bad[:3]}"
