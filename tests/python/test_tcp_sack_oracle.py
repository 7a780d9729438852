"""The SACK and ECN-echo counts of the truth captures against tshark's
reading of every packet's TCP header (Wireshark's dissector: an
implementation independent of ferrofix), at every observation point,
both directions of every connection. The snaplen-96 captures of IPv6 cut
the SACK option of many ACKs: the option's length octet still says how
many blocks were sent (RFC 2018 §3), and only the blocks captured whole
have edges to compare."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import pytest
import zstandard
from tcp_truth_data import ROOT, SCENARIOS, connections, needs_tshark, row

SYN, ACK, ECE = 0x02, 0x10, 0x40
SACK_KIND = 5
FIELDS = [
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.ack_raw",
    "tcp.option_kind",
    "tcp.option_len",
    "tcp.options.sack_le",
    "tcp.options.sack_re",
    "tcp.options.sack.dsack_le",
]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _seq_le(a: int, b: int) -> bool:
    """a <= b in 32-bit sequence space (RFC 9293 §3.4)."""
    return (b - a) % 2**32 < 2**31


@functools.cache
def _tshark(capture: Path) -> tuple[tuple[str, ...], ...]:
    """tshark's FIELDS of every packet of a truth capture."""
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "capture.pcap"
        plain.write_bytes(zstandard.decompress(capture.read_bytes(), max_output_size=1 << 30))
        args = ["tshark", "-r", str(plain), "-o", "tcp.relative_sequence_numbers:FALSE"]
        args += ["-T", "fields", "-E", "occurrence=a"]
        for f in FIELDS:
            args += ["-e", f]
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return tuple(tuple(line.split("\t")) for line in out.splitlines())


def _points(scenario: str) -> list[str]:
    return [p for p in ("snd", "rcv", "mid") if (ROOT / f"{scenario}.{p}.s96.pcap.zst").exists()]


def _counts(rows: tuple[tuple[str, ...], ...], sport: int, dport: int) -> dict[str, int]:
    """One direction's counts as tshark's fields give them (`whole`: the
    SACK blocks captured with both edges)."""
    c = {"blocks": 0, "whole": 0, "selack": 0, "dsack": 0, "ece": 0}
    for src, dst, flags_hex, ack_raw, kinds, lens, _lefts, res, dsack in rows:
        if not src or (int(src), int(dst)) != (sport, dport):
            continue
        flags = int(flags_hex, 16)
        # tshark gives a length for each option but EOL (0) and NOP (1).
        sized = [k for k in _ints(kinds) if k > 1]
        for kind, length in zip(sized, _ints(lens), strict=True):
            if kind == SACK_KIND and length >= 2 and (length - 2) % 8 == 0:
                c["blocks"] += (length - 2) // 8
        # Blocks captured whole: a right edge for each left one.
        rights = _ints(res)
        c["whole"] += len(rights)
        if flags & ACK and ack_raw and any(not _seq_le(r, int(ack_raw)) for r in rights):
            c["selack"] += 1
        c["dsack"] += bool(dsack)
        c["ece"] += bool(flags & ECE and not flags & SYN)
    return c


@needs_tshark
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sack_blocks_selective_acks_dsacks_and_ece_are_tsharks(scenario: str) -> None:
    for point in _points(scenario):
        rows = _tshark(ROOT / f"{scenario}.{point}.s96.pcap.zst")
        for conn in connections(scenario):
            ft = conn["five_tuple"]
            r = row(scenario, point, conn)
            for prefix, ports in (
                ("", (ft["sport"], ft["dport"])),
                ("reverse", (ft["dport"], ft["sport"])),
            ):
                want = _counts(rows, *ports)
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
        for point in _points(scenario):
            rows = _tshark(ROOT / f"{scenario}.{point}.s96.pcap.zst")
            for conn in connections(scenario):
                ft = conn["five_tuple"]
                for ports in ((ft["sport"], ft["dport"]), (ft["dport"], ft["sport"])):
                    for k, v in _counts(rows, *ports).items():
                        total[k] += v
    assert min(total.values()) > 0, total
    assert total["blocks"] > total["whole"], total
