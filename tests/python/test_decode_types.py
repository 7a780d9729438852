"""Every abstract data type and encoding rule of RFC 7011 §6-7, on messages built
byte by byte from the RFC; expected values follow from the RFC's definitions."""

from __future__ import annotations

import ipaddress
import struct
from datetime import UTC, datetime, timedelta

import pytest

import ferrofix as ff
from ipfixmsg import (
    VARLEN,
    field,
    message,
    set_,
    sint,
    template_record,
    template_set,
    uint,
    varlen,
)


def one(fields: list[bytes], data: bytes, **kw: object) -> dict[str, object]:
    msg = message([template_set(template_record(256, fields)), set_(256, data)])
    recs = list(ff.iter_records(msg, **kw))  # type: ignore[arg-type]
    assert len(recs) == 1
    return recs[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("width", range(1, 9))
def test_unsigned64_every_reduced_width(width: int) -> None:
    v = (1 << (8 * width)) - 2  # all ones but the last bit: catches byte-order slips
    rec = one([field(1, width)], uint(v, width))
    assert rec["octetDeltaCount"] == v


@pytest.mark.parametrize("width", range(1, 9))
@pytest.mark.parametrize("value", [-1, -2, 1, "min", "max"])
def test_signed_every_reduced_width(width: int, value: int | str) -> None:
    lo, hi = -(1 << (8 * width - 1)), (1 << (8 * width - 1)) - 1
    v = lo if value == "min" else hi if value == "max" else int(value)
    # 434 = mibObjectValueInteger (signed32); use an enterprise spec for signed64
    rec = one([field(1, width, pen=9999)], sint(v, width), specs=["s64(9999/1)<signed64>"])
    assert rec["s64"] == v


@pytest.mark.parametrize("width", [1, 2, 4])
def test_unsigned32_reduced(width: int) -> None:
    rec = one([field(10, width)], uint(3, width))  # ingressInterface
    assert rec["ingressInterface"] == 3


def test_float64_full_and_reduced_to_float32() -> None:
    # 320? use an enterprise float64 to test both widths
    specs = ["f(9/1)<float64>", "g(9/2)<float64>", "h(9/3)<float32>"]
    data = struct.pack("!d", 1.1) + struct.pack("!f", 2.5) + struct.pack("!f", -0.25)
    rec = one([field(1, 8, 9), field(2, 4, 9), field(3, 4, 9)], data, specs=specs)
    assert rec == {"f": 1.1, "g": 2.5, "h": -0.25}


def test_boolean_mac_string_addresses() -> None:
    fields = [
        field(276, 1),  # dataRecordsReliability: boolean
        field(56, 6),  # sourceMacAddress
        field(82, VARLEN),  # interfaceName: string
        field(8, 4),  # sourceIPv4Address
        field(27, 16),  # sourceIPv6Address
    ]
    v6 = ipaddress.IPv6Address("2001:db8::1")
    data = (
        b"\x01"
        + bytes.fromhex("0a1b2c3d4e5f")
        + varlen("eth0 ✓".encode())
        + bytes([192, 0, 2, 7])
        + v6.packed
    )
    rec = one(fields, data)
    assert rec == {
        "dataRecordsReliability": True,
        "sourceMacAddress": "0a:1b:2c:3d:4e:5f",
        "interfaceName": "eth0 ✓",
        "sourceIPv4Address": ipaddress.IPv4Address("192.0.2.7"),
        "sourceIPv6Address": v6,
    }
    # RFC 7011 §6.1.5: false is 2.
    assert one([field(276, 1)], b"\x02")["dataRecordsReliability"] is False


def test_invalid_boolean_is_a_bad_record_under_each_policy() -> None:
    msg = message([template_set(template_record(256, [field(276, 1)])), set_(256, b"\x07")])
    with pytest.raises(ff.DecodeError, match="boolean"):
        list(ff.iter_records(msg))
    assert list(ff.iter_records(msg, on_bad_records="skip")) == [
        {"dataRecordsReliability": b"\x07"}
    ]


def test_invalid_utf8_does_not_abort() -> None:
    rec = one([field(82, VARLEN), field(1, 8)], varlen(b"ab\xffcd") + uint(5, 8))
    assert rec == {"interfaceName": "ab\ufffdcd", "octetDeltaCount": 5}


def test_fixed_length_string_and_octet_array() -> None:
    rec = one([field(82, 4), field(313, 3)], b"lo\x00\x00" + b"\x01\x02\x03")
    assert rec == {"interfaceName": "lo\x00\x00", "ipHeaderPacketSection": b"\x01\x02\x03"}


def test_datetimes_all_four_precisions() -> None:
    unix = 1_700_000_000
    ntp = unix + 2_208_988_800
    fields = [field(150, 4), field(152, 8), field(154, 8), field(156, 8)]
    # microseconds: fraction 0.5 s; nanoseconds: fraction 0.25 s + 2^-32 steps
    data = (
        uint(unix, 4)
        + uint(unix * 1000 + 123, 8)
        + struct.pack("!II", ntp, 1 << 31)
        + struct.pack("!II", ntp, (1 << 30) + 5000)
    )
    rec = one(fields, data)
    base = datetime.fromtimestamp(unix, UTC)
    assert rec["flowStartSeconds"] == base
    assert rec["flowStartMilliseconds"] == base + timedelta(milliseconds=123)
    assert rec["flowStartMicroseconds"] == base + timedelta(microseconds=500_000)
    # 5000 * 2^-32 s = 1.164 us: Python keeps whole microseconds (floor).
    assert rec["flowStartNanoseconds"] == base + timedelta(microseconds=250_001)
    assert all(v.tzinfo is UTC for v in rec.values())  # type: ignore[attr-defined]


def test_datetime_milliseconds_reduced_size() -> None:
    rec = one([field(152, 6)], uint(1_700_000_000_000, 6))
    assert rec["flowStartMilliseconds"] == datetime.fromtimestamp(1_700_000_000, UTC)


def test_unsigned256() -> None:
    # 1001+ are not assigned; declare one (RFC 9740 type) via a spec
    v = (1 << 255) + 12345
    rec = one([field(5, 32, 7)], uint(v, 32), specs=["big(7/5)<unsigned256>"])
    assert rec["big"] == v


def test_varlen_first_field_and_long_form() -> None:
    """python-ipfix #24: a first varlen field decoded to nothing."""
    long_value = b"x" * 300
    fields = [field(82, VARLEN), field(1, 8), field(83, VARLEN)]
    data = varlen(b"ge-0/0/1") + uint(77, 8) + varlen(long_value)
    data += varlen(b"", long_form=True) + uint(1, 8) + varlen(b"short", long_form=True)
    msg = message([template_set(template_record(256, fields)), set_(256, data)])
    recs = list(ff.iter_records(msg))
    assert recs == [
        {"interfaceName": "ge-0/0/1", "octetDeltaCount": 77, "interfaceDescription": "x" * 300},
        {"interfaceName": "", "octetDeltaCount": 1, "interfaceDescription": "short"},
    ]


def test_length_not_allowed_for_type_falls_back_to_bytes() -> None:
    # an IPv4 address sent in 8 bytes is not an address: raw bytes, not garbage
    rec = one([field(8, 8)], bytes(range(8)))
    assert rec["sourceIPv4Address"] == bytes(range(8))


def test_unknown_ies_are_bytes_named_like_python_ipfix() -> None:
    rec = one([field(4000, 2), field(77, 3, pen=4242)], b"\x00\x01" + b"abc", spec_files=[])
    assert rec == {"_ipfix_0_4000": b"\x00\x01", "_ipfix_4242_77": b"abc"}


def test_reverse_ies_rfc5103() -> None:
    fields = [field(1, 8), field(1, 8, pen=29305), field(1024, 8, pen=35566)]
    fields.append(field(1024 | 0x4000, 8, pen=35566))
    rec = one(fields, uint(1, 8) + uint(2, 8) + uint(3, 8) + uint(4, 8))
    assert rec == {
        "octetDeltaCount": 1,
        "reverseOctetDeltaCount": 2,
        "tcpSequenceCount": 3,
        "reverseTcpSequenceCount": 4,
    }


def test_padding_after_records_is_ignored() -> None:
    data = uint(1, 8) + uint(2, 8) + b"\x00\x00\x00"
    msg = message([template_set(template_record(256, [field(1, 8)])), set_(256, data)])
    assert [r["octetDeltaCount"] for r in ff.iter_records(msg)] == [1, 2]


def test_atomic_tuples_stay_off_the_cyclic_gc() -> None:
    """A tuple of atoms can never be in a cycle: it is untracked. A dict is
    left to the interpreter (CPython 3.14 tracks every dict); one given a
    container is tracked on every version."""
    import gc

    fields = [field(8, 4), field(1, 8)]
    rec = one(fields, bytes([10, 0, 0, 1]) + uint(5, 8))
    rec["note"] = []
    assert gc.is_tracked(rec)
    msg = message([template_set(template_record(256, fields)), set_(256, bytes(4) + uint(1, 8))])
    (tup,) = ff.iter_records(msg, columns=["sourceIPv4Address"], as_="tuple")
    assert not gc.is_tracked(tup)


def test_ipv4_addresses_are_the_classes_own() -> None:
    """IPv4 addresses are made by setting the instance's ``_ip`` directly
    (verified at start-up, else the class is called): they must behave as
    ``ipaddress.IPv4Address(n)`` in every way a user can tell."""
    import ipaddress
    import pickle
    import struct
    import weakref

    import ferrofix as ff

    values = [0, 1, 0x0A000001, 0xC0A80101, 0x7F000001, 0xFFFFFFFF, 0xE0000001]
    tmpl = struct.pack("!HHHHHH", 2, 12, 256, 1, 8, 4)
    data = b"".join(struct.pack("!I", v) for v in values)
    body = tmpl + struct.pack("!HH", 256, 4 + len(data)) + data
    msg = struct.pack("!HHIII", 10, 16 + len(body), 0, 0, 0) + body
    got = [r["sourceIPv4Address"] for r in ff.iter_records(msg)]
    for a, v in zip(got, values, strict=True):
        b = ipaddress.IPv4Address(v)
        assert type(a) is ipaddress.IPv4Address
        assert (a == b, hash(a) == hash(b), str(a), repr(a), int(a)) == (
            True,
            True,
            str(b),
            repr(b),
            v,
        )
        assert (a.is_private, a.is_multicast, a.is_loopback, a.packed) == (
            b.is_private,
            b.is_multicast,
            b.is_loopback,
            b.packed,
        )
        assert a + 0 == b and a in ipaddress.ip_network("0.0.0.0/0")
        assert pickle.loads(pickle.dumps(a)) == b
        assert weakref.ref(a)() is a
