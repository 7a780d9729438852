"""Property test: random templates of every scalar type, at every legal width,
fixed or variable length, with random values, encoded from RFC 7011's rules by
the test's own builder; ferrofix must give back exactly those values."""

from __future__ import annotations

import ipaddress
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import ferrofix as ff
from ipfixmsg import VARLEN, field, message, set_, template_record, template_set, varlen

PEN = 4242
NTP = 2_208_988_800


def _int(signed: bool, native: int) -> Any:
    @st.composite
    def gen(draw: Any) -> tuple[str, int, bytes, object]:
        width = draw(st.integers(1, native))
        bits = 8 * width
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        v = draw(st.integers(lo, hi))
        t = f"{'signed' if signed else 'unsigned'}{8 * native}"
        return t, width, v.to_bytes(width, "big", signed=signed), v

    return gen()


@st.composite
def _float(draw: Any) -> tuple[str, int, bytes, object]:
    if draw(st.booleans()):
        v = draw(st.floats(allow_nan=False))
        return "float64", 8, struct.pack("!d", v), v
    v32 = struct.unpack("!f", struct.pack("!f", draw(st.floats(width=32, allow_nan=False))))[0]
    return draw(st.sampled_from(["float64", "float32"])), 4, struct.pack("!f", v32), v32


@st.composite
def _other(draw: Any) -> tuple[str, int, bytes, object]:
    kind = draw(st.sampled_from(["bool", "mac", "v4", "v6", "str", "oct", "sec", "ms", "us", "ns"]))
    if kind == "bool":
        b = draw(st.booleans())
        return "boolean", 1, bytes([1 if b else 2]), b
    if kind == "mac":
        m = draw(st.binary(min_size=6, max_size=6))
        return "macAddress", 6, m, ":".join(f"{x:02x}" for x in m)
    if kind == "v4":
        a = draw(st.binary(min_size=4, max_size=4))
        return "ipv4Address", 4, a, ipaddress.IPv4Address(a)
    if kind == "v6":
        a = draw(st.binary(min_size=16, max_size=16))
        return "ipv6Address", 16, a, ipaddress.IPv6Address(a)
    if kind == "str":
        s = draw(st.text(max_size=300))
        return "string", VARLEN, varlen(s.encode()), s
    if kind == "oct":
        b = draw(st.binary(max_size=300))
        if draw(st.booleans()) and b:
            return "octetArray", len(b), b, b
        return "octetArray", VARLEN, varlen(b, long_form=draw(st.booleans())), b
    secs = draw(st.integers(0, (1 << 32) - 1 - NTP))  # 1970 .. 2036 (NTP era 0)
    base = datetime.fromtimestamp(0, UTC) + timedelta(seconds=secs)
    if kind == "sec":
        return "dateTimeSeconds", 4, secs.to_bytes(4, "big"), base
    if kind == "ms":
        ms = draw(st.integers(0, 999))
        return (
            "dateTimeMilliseconds",
            8,
            (secs * 1000 + ms).to_bytes(8, "big"),
            base + timedelta(milliseconds=ms),
        )
    frac = draw(st.integers(0, (1 << 32) - 1))
    wire = struct.pack("!II", secs + NTP, frac)
    if kind == "us":
        # RFC 7011 §6.1.9: the low 11 bits of the fraction are ignored
        us = ((frac & ~0x7FF) * 1_000_000) >> 32
        return "dateTimeMicroseconds", 8, wire, base + timedelta(microseconds=us)
    ns = (frac * 1_000_000_000) >> 32
    return "dateTimeNanoseconds", 8, wire, base + timedelta(microseconds=ns // 1000)


FIELDS = st.one_of(
    _int(False, 1), _int(False, 2), _int(False, 4), _int(False, 8),
    _int(True, 1), _int(True, 2), _int(True, 4), _int(True, 8),
    _float(), _other(),
)  # fmt: skip


@settings(max_examples=250, deadline=None)
@given(st.lists(st.lists(FIELDS, min_size=1, max_size=12), min_size=1, max_size=4))
def test_random_templates_round_trip(records: list[list[tuple[str, int, bytes, object]]]) -> None:
    specs: list[str] = []
    tsets: list[bytes] = []
    dsets: list[bytes] = []
    expected: list[list[tuple[int, int, object]]] = []
    for r, rec in enumerate(records):
        tid = 256 + r
        fields = []
        for i, (typ, length, _, _) in enumerate(rec):
            ie = 100 * r + i + 1
            specs.append(f"f{ie}({PEN}/{ie})<{typ}>")
            fields.append(field(ie, length, pen=PEN))
        tsets.append(template_record(tid, fields))
        dsets.append(set_(tid, b"".join(w for _, _, w, _ in rec)))
        expected.append([(PEN, 100 * r + i + 1, v) for i, (_, _, _, v) in enumerate(rec)])
    msg = message([template_set(*tsets), *dsets])
    got = list(ff.iter_records(msg, specs=specs, spec_files=[], as_="fields"))
    assert [[(p, i, v) for p, i, v in rec] for rec in got] == expected
