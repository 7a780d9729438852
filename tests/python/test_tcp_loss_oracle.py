"""Sequence, loss and retransmission metrics of the truth captures against
their written definitions (``docs/tcp-metrics.md``, "Sequence, loss,
retransmission" and "Retransmission classes") applied to tshark's reading
of every packet (``tcp_oracle.py``, written from the documents), every
direction of every connection at every observation point.

The kernels' and the shaper's own counts hold these numbers to what
happened beside the sender and on the path (``test_tcp_truth.py``,
``test_tcp_loss_events.py``); there, the classes are compared with the
sender kernel's, and reordering with the shaper's delays. This test holds
them to the definitions at every observation point, in the middle and
beside the receiver too, where no kernel counts them: the retransmitted
segments and octets, the octets reordered, repaired and never seen, the
gaps, the loss events and the four classes, in the record and packet by
packet in the per-packet series (``ff.tcp_series``'s event bits).
"""

from __future__ import annotations

import pandas as pd
import pytest
from tcp_oracle import CLASSES, Direction, directions, series_directions
from tcp_truth_data import (
    SCENARIOS,
    column,
    each_direction,
    needs_tshark,
    value,
)

# The record's field for each class (docs/tcp-metrics.md).
CLASS_FIELDS = {
    "fast": "tcpFastRetransmitCount",
    "timeout": "tcpTimeoutRetransmitCount",
    "tail_loss_probe": "tcpTailLossProbeCount",
    "spurious": "tcpSpuriousRetransmitCount",
}


def expected(d: Direction) -> dict[str, int]:
    """A direction's fields as the definitions give them (no record here
    ends on the active timeout: every gap still open is never seen)."""
    never_seen = d.never_seen()
    want = {
        "tcpSequenceCount": d.high or 0,
        "tcpRetransmitCount": d.retransmitted,
        "tcpRetransmittedOctetCount": d.retransmitted_octets,
        "tcpReorderedSegmentCount": d.reordered,
        "tcpReorderedOctetCount": d.reordered_octets,
        "tcpRepairedSegmentCount": d.repaired,
        "tcpRepairedOctetCount": d.repaired_octets,
        "tcpSequenceLossCount": never_seen,
        "tcpUpstreamLossOctetCount": d.repaired_octets + never_seen,
        "tcpSequenceJumpCount": d.jumps,
        "maxTcpSequenceJump": d.max_jump,
        "tcpLossEventCount": d.loss_events,
        "tcpWindowProbeCount": d.window_probes,
    }
    for name, f in CLASS_FIELDS.items():
        want[f] = d.classes[name]
    return want


def check_fields(where: str, r: pd.Series, prefix: str, d: Direction) -> None:
    """A direction's sequence, loss and class fields in record `r` (its
    columns prefixed `prefix`) against the oracle's `d`."""
    for name, want in expected(d).items():
        c = column(prefix, name)
        assert value(r[c]) == want, f"{where} {c}: {value(r[c])}, defined {want}"
    # The classes add up to the retransmissions (the definitions say so;
    # the oracle's own bookkeeping is held to it too).
    assert sum(d.classes.values()) == d.retransmitted, where


def check_events(where: str, got: list[int], d: Direction) -> None:
    """A direction's per-packet event bits (``ff.tcp_series``) against the
    oracle's, packet by packet."""
    assert len(got) == len(d.per_events), where
    pairs = enumerate(zip(got, d.per_events, strict=True))
    wrong = [(i, hex(g), hex(w)) for i, (g, w) in pairs if g != w]
    assert not wrong, f"{where}: (packet, got, defined) {wrong[:5]}"


@needs_tshark
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sequence_and_loss_fields_follow_their_definitions(scenario: str) -> None:
    for where, r, prefix, d, _ in each_direction(scenario, directions):
        check_fields(where, r, prefix, d)


@needs_tshark
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_packets_events_follow_their_definitions(scenario: str) -> None:
    """The per-packet series' event bits (new data, retransmission and its
    class, reordered, repaired, a gap opened, window probe, SACK, D-SACK,
    duplicate ACK, zero window) on every packet against the oracle's: which
    segment a retransmission's class or a repair fell on, which the
    record's counts could hide by two errors offsetting."""
    for where, d, got in series_directions(scenario):
        check_events(where, got["events"].tolist(), d)


@needs_tshark
def test_the_captures_hold_what_the_comparisons_need() -> None:
    """Not a comparison of zeros: every class, reordering and repairs,
    loss indications that made no event (within a round trip of one), and
    retransmissions at every kind of observation point are in the truth
    captures. (No gap stays open to a truth capture's end: the octets never
    seen are tested on captures with segments deleted,
    ``test_tcp_capture_loss.py``. No truth connection sends a keep-alive or
    a window probe: ``test_tcp_live_probes.py`` has them.)"""
    totals: dict[str, int] = {k: 0 for k in CLASSES.values()}
    extra = dict.fromkeys(("reordered", "repaired", "merged"), 0)
    at_points: set[str] = set()
    for scenario in SCENARIOS:
        for where, _, _, d, _ in each_direction(scenario, directions):
            for k, n in d.classes.items():
                totals[k] += n
            extra["reordered"] += d.reordered
            extra["repaired"] += d.repaired
            extra["merged"] += d.indications - d.loss_events
            if d.retransmitted:
                at_points.add(where.split()[1])
    assert min(totals.values()) > 0, totals
    assert min(extra.values()) > 0 and at_points == {"snd", "mid", "rcv"}, (extra, at_points)
