"""README claims about NetFlow v9 with no other test: vendor field types
(32768 and up) read as ``_ipfix_4294967295_<n - 32768>`` (an IPFIX element
id under an enterprise number has 15 bits, RFC 7011 §3.2), and v9 sequence numbers
count export packets, so a gap shows in ``lost_packets``. The packets are
built here by RFC 3954's layout (§5: header, template and data FlowSets)."""

from __future__ import annotations

import struct

import ferrofix as ff

SOURCE_ID = 7
VENDOR = 40000


def v9(seq: int, flowsets: list[bytes], count: int) -> bytes:
    # RFC 3954 §5.1: version, count, sysUpTime, UNIX secs, sequence, source id.
    return struct.pack("!HHIIII", 9, count, 1000, 1_700_000_000, seq, SOURCE_ID) + b"".join(
        flowsets
    )


def flowset(fid: int, body: bytes) -> bytes:
    pad = (-len(body)) % 4
    return struct.pack("!HH", fid, 4 + len(body) + pad) + body + bytes(pad)


TEMPLATE = flowset(
    0,
    # Template 256: IN_BYTES (1) 4, IN_PKTS (2) 4, a vendor type 4.
    struct.pack("!HH", 256, 3) + struct.pack("!HHHHHH", 1, 4, 2, 4, VENDOR, 4),
)


def data(*records: tuple[int, int, int]) -> bytes:
    return flowset(256, b"".join(struct.pack("!III", *r) for r in records))


def stream() -> bytes:
    return b"".join(
        [
            v9(0, [TEMPLATE, data((100, 1, 11))], 2),
            v9(1, [data((200, 2, 22))], 1),
            # Packet 2 never arrives.
            v9(3, [data((300, 3, 33), (400, 4, 44))], 2),
        ]
    )


def test_vendor_types_are_named_by_the_reserved_pen() -> None:
    df = ff.read_ipfix(stream())
    name = f"_ipfix_4294967295_{VENDOR - 32768}"
    assert list(df.columns) == ["octetDeltaCount", "packetDeltaCount", name]
    # Its type is unknown: the octets as sent.
    assert df[name].tolist() == [struct.pack("!I", v) for v in (11, 22, 33, 44)]
    assert df["octetDeltaCount"].tolist() == [100, 200, 300, 400]


def test_a_missing_packet_counts_in_lost_packets() -> None:
    r = ff.Reader(stream())
    assert sum(1 for _ in r.records()) == 4
    seq = r.health.sequence[SOURCE_ID]
    assert seq.lost_packets == 1
    # Without the gap, none.
    whole = b"".join(
        [
            v9(0, [TEMPLATE, data((100, 1, 11))], 2),
            v9(1, [data((200, 2, 22))], 1),
            v9(2, [data((300, 3, 33))], 1),
        ]
    )
    r = ff.Reader(whole)
    assert sum(1 for _ in r.records()) == 3
    assert r.health.sequence[SOURCE_ID].lost_packets == 0
