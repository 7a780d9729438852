"""The SACK and ECN-echo counts of the truth captures against tshark's
reading of every packet's TCP header (Wireshark's dissector: an
implementation independent of ferrofix), at every observation point,
both directions of every connection. The snaplen-96 captures of IPv6 cut
the SACK option of many ACKs: the option's length octet still says how
many blocks were sent (RFC 2018 §3), and only the blocks captured whole
have edges to compare."""

from __future__ import annotations

import pytest
from tcp_truth_data import SCENARIOS, connections, ints, needs_tshark, points, row, tshark_packets

SYN, ACK, ECE = 0x02, 0x10, 0x40
SACK_KIND = 5


def _seq_le(a: int, b: int) -> bool:
    """a <= b in 32-bit sequence space (RFC 9293 §3.4)."""
    return (b - a) % 2**32 < 2**31


def _counts(packets: tuple[dict[str, str], ...], sport: int, dport: int) -> dict[str, int]:
    """One direction's counts as tshark's fields give them (`whole`: the
    SACK blocks captured with both edges)."""
    c = {"blocks": 0, "whole": 0, "selack": 0, "dsack": 0, "ece": 0}
    for p in packets:
        if (int(p["tcp.srcport"]), int(p["tcp.dstport"])) != (sport, dport):
            continue
        flags, ack_raw = int(p["tcp.flags"], 16), p["tcp.ack_raw"]
        # tshark gives a length for each option but EOL (0) and NOP (1).
        sized = [k for k in ints(p["tcp.option_kind"]) if k > 1]
        for kind, length in zip(sized, ints(p["tcp.option_len"]), strict=True):
            if kind == SACK_KIND and length >= 2 and (length - 2) % 8 == 0:
                c["blocks"] += (length - 2) // 8
        # Blocks captured whole: a right edge for each left one.
        rights = ints(p["tcp.options.sack_re"])
        c["whole"] += len(rights)
        if flags & ACK and ack_raw and any(not _seq_le(r, int(ack_raw)) for r in rights):
            c["selack"] += 1
        c["dsack"] += bool(p["tcp.options.sack.dsack_le"])
        c["ece"] += bool(flags & ECE and not flags & SYN)
    return c


@needs_tshark
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sack_blocks_selective_acks_dsacks_and_ece_are_tsharks(scenario: str) -> None:
    for point in points(scenario):
        packets = tshark_packets(scenario, point)
        for conn in connections(scenario):
            ft = conn["five_tuple"]
            r = row(scenario, point, conn)
            for prefix, ports in (
                ("", (ft["sport"], ft["dport"])),
                ("reverse", (ft["dport"], ft["sport"])),
            ):
                want = _counts(packets, *ports)
                where = f"{scenario} {point} {prefix or 'forward'}"
                for name, key in (
                    ("tcpSackBlockCount", "blocks"),
                    ("tcpSelAckCount", "selack"),
                    ("tcpDsackCount", "dsack"),
                    ("tcpEceCount", "ece"),
                ):
                    column = prefix + name[0].upper() + name[1:] if prefix else name
                    assert int(r[column]) == want[key], f"{where} {column}"


@needs_tshark
def test_the_captures_hold_what_the_comparison_needs() -> None:
    """The comparison above is not of zeros: the truth captures hold SACK
    blocks, D-SACKs, ECN echoes and SACK options the snaplen cut (blocks
    sent beyond those captured whole), as tshark reads them."""
    total = {"blocks": 0, "whole": 0, "selack": 0, "dsack": 0, "ece": 0}
    for scenario in SCENARIOS:
        for point in points(scenario):
            packets = tshark_packets(scenario, point)
            for conn in connections(scenario):
                ft = conn["five_tuple"]
                for ports in ((ft["sport"], ft["dport"]), (ft["dport"], ft["sport"])):
                    for k, v in _counts(packets, *ports).items():
                        total[k] += v
    assert min(total.values()) > 0, total
    assert total["blocks"] > total["whole"], total
