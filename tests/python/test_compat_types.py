"""ferrofix.compat.types against python-ipfix 0.9.7's ipfix.types as the
oracle: every type and width python-ipfix supports encodes to the same bytes
and decodes to the same values (hypothesis), reprs and string forms agree;
then each deliberate difference (the bugs fixed, listed in the module's
docstring) is checked against the RFC, and NTP timestamps against ferrofix's
own writer."""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrofix as ff
from ferrofix.compat import types as ours

# python-ipfix calls datetime.utcfromtimestamp/utcnow, deprecated from 3.12.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utc:DeprecationWarning")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    real = pytest.importorskip("ipfix.types")

EPOCH = datetime(1970, 1, 1)
REAL_NAMES = [
    "octetArray",
    "unsigned8",
    "unsigned16",
    "unsigned32",
    "unsigned64",
    "signed8",
    "signed16",
    "signed32",
    "signed64",
    "float32",
    "float64",
    "boolean",
    "macAddress",
    "string",
    "dateTimeSeconds",
    "dateTimeMilliseconds",
    "dateTimeMicroseconds",
    "dateTimeNanoseconds",
    "ipv4Address",
    "ipv6Address",
]
INT_WIDTH = {
    "unsigned8": (1, False),
    "unsigned16": (2, False),
    "unsigned32": (4, False),
    "unsigned64": (8, False),
    "signed8": (1, True),
    "signed16": (2, True),
    "signed32": (4, True),
    "signed64": (8, True),
}


@pytest.fixture(autouse=True)
def _ipaddress_ipv4() -> Iterator[None]:
    yield
    ours._use_ipaddress_ipv4()


def _int_range(width: int, signed: bool) -> st.SearchStrategy[int]:
    if signed:
        return st.integers(-(2 ** (8 * width - 1)), 2 ** (8 * width - 1) - 1)
    return st.integers(0, 2 ** (8 * width) - 1)


def encode_both(name: str, length: int, value: Any) -> tuple[bytes, bytes]:
    """The value encoded by python-ipfix and by ours, at this length."""
    out = []
    for mod in (real, ours):
        t = mod.for_name(name).for_length(length)
        buf = memoryview(bytearray(70000))
        n = t.encode_single_value_to(value, buf, 3)
        out.append(buf[3:n].tobytes())
    return out[0], out[1]


def decode(mod: Any, name: str, length: int, data: bytes) -> Any:
    t = mod.for_name(name).for_length(length)
    return t.decode_single_value_from(memoryview(b"\x00\x00" + data), 2, len(data))


def check_same(name: str, length: int, value: Any) -> None:
    rb, ob = encode_both(name, length, value)
    assert ob == rb
    assert decode(ours, name, length, ob) == decode(real, name, length, rb)


# -- differential: same bytes, same values --------------------------------


@pytest.mark.parametrize("name", REAL_NAMES)
def test_type_objects_alike(name: str) -> None:
    r, o = real.for_name(name), ours.for_name(name)
    assert (repr(o), str(o), o.name, o.num, o.length) == (
        repr(r),
        str(r),
        r.name,
        r.num,
        r.length,
    )
    assert o is ours.for_name(name)
    assert o.roottype is o


def test_type_ordering_and_equality_alike() -> None:
    for a in REAL_NAMES:
        for b in REAL_NAMES:
            ra, rb = real.for_name(a), real.for_name(b)
            oa, ob = ours.for_name(a), ours.for_name(b)
            assert (oa == ob, oa < ob) == (ra == rb, ra < rb)
    assert ours.for_name("unsigned64").for_length(4) == ours.for_name("unsigned64").for_length(4)
    assert ours.for_name("unsigned64").for_length(4) != ours.for_name("unsigned64")


def test_constants_and_errors() -> None:
    assert ours.VARLEN == real.VARLEN == 65535
    assert ours.NTP_EPOCH_TO_UNIX_EPOCH == (EPOCH - datetime(1900, 1, 1)).total_seconds()
    assert issubclass(ours.IpfixTypeError, ValueError)
    for mod in (real, ours):
        with pytest.raises(mod.IpfixTypeError):
            mod.for_name("bogus")
    with pytest.raises(ours.IpfixTypeError, match=r"^no such type bogus$"):
        ours.for_name("bogus")


@pytest.mark.parametrize("name", list(INT_WIDTH))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_integers_alike(name: str, data: Any) -> None:
    width, signed = INT_WIDTH[name]
    # The widths python-ipfix supports: native, and 8->4/2/1, 4->2/1, 2->1.
    length = data.draw(st.sampled_from([w for w in (1, 2, 4, 8) if w <= width]))
    check_same(name, length, data.draw(_int_range(length, signed)))


@settings(max_examples=200, deadline=None)
@given(st.floats(width=32), st.floats())
def test_floats_alike(f32: float, f64: float) -> None:
    for name, length, v in (("float32", 4, f32), ("float64", 8, f64), ("float64", 4, f32)):
        rb, ob = encode_both(name, length, v)
        assert ob == rb
        o, r = decode(ours, name, length, ob), decode(real, name, length, rb)
        assert o == r or (o != o and r != r)  # NaN


def test_booleans_alike() -> None:
    for v in (True, False, 0, 1, 7, "", "x"):
        check_same("boolean", 1, v)
    for byte in range(256):
        assert decode(ours, "boolean", 1, bytes([byte])) is decode(
            real, "boolean", 1, bytes([byte])
        )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.text(max_size=300))
def test_octets_and_strings_alike(b: bytes, s: str) -> None:
    check_same("octetArray", ours.VARLEN, b)
    check_same("string", ours.VARLEN, s)
    # Fixed lengths: exact and shorter (padded with NULs by both).
    encoded = s.encode()
    for extra in (0, 5):
        if b:
            check_same("octetArray", len(b) + extra, b)
        if encoded:
            check_same("string", len(encoded) + extra, s)
    check_same("macAddress", 6, (b + bytes(6))[:6])


@settings(max_examples=200, deadline=None)
@given(st.ip_addresses(v=4), st.ip_addresses(v=6))
def test_addresses_alike(a4: IPv4Address, a6: IPv6Address) -> None:
    check_same("ipv4Address", 4, a4)
    check_same("ipv6Address", 16, a6)
    assert decode(ours, "ipv4Address", 4, a4.packed) == a4


def _datetimes(unit_us: int, hi_s: int) -> st.SearchStrategy[datetime]:
    return st.integers(0, hi_s * 10**6 // unit_us).map(
        lambda k: EPOCH + timedelta(microseconds=k * unit_us)
    )


@settings(max_examples=300, deadline=None)
@given(_datetimes(1, 2**32 - 1))
def test_seconds_alike(dt: datetime) -> None:
    check_same("dateTimeSeconds", 4, dt)
    assert decode(ours, "dateTimeSeconds", 4, encode_both("dateTimeSeconds", 4, dt)[1]) == (
        dt.replace(microsecond=0)
    )


@settings(max_examples=300, deadline=None)
@given(st.one_of(_datetimes(1000, 2**32), _datetimes(1, 2**32)))
def test_milliseconds_alike_but_exact(dt: datetime) -> None:
    rb, ob = encode_both("dateTimeMilliseconds", 8, dt)
    exact = (dt - EPOCH) // timedelta(milliseconds=1)
    assert int.from_bytes(ob, "big") == exact
    if rb != ob:
        # Deliberate difference 4: python-ipfix's float misses a millisecond.
        assert abs(int.from_bytes(rb, "big") - exact) == 1
    value = decode(ours, "dateTimeMilliseconds", 8, ob)
    assert value == dt.replace(microsecond=dt.microsecond // 1000 * 1000)
    assert_ms_alike(value, decode(real, "dateTimeMilliseconds", 8, ob))


def assert_ms_alike(o: datetime, r: datetime) -> None:
    """Equal, or (deliberate difference 4) python-ipfix's float division
    ended a microsecond or two off."""
    assert o.microsecond % 1000 == 0
    assert abs(o - r) <= timedelta(microseconds=2)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**42))
def test_milliseconds_decode_alike(v: int) -> None:
    data = v.to_bytes(8, "big")
    o = decode(ours, "dateTimeMilliseconds", 8, data)
    assert o == EPOCH + timedelta(milliseconds=v)
    assert_ms_alike(o, decode(real, "dateTimeMilliseconds", 8, data))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**64 - 1), st.sampled_from([1, 2, 4]), st.data())
def test_string_forms_alike(n: int, width: int, data: Any) -> None:
    cases: list[tuple[str, Any]] = [
        ("unsigned64", n),
        ("signed32", data.draw(_int_range(4, True))),
        ("float64", data.draw(st.floats(allow_nan=False))),
        ("boolean", data.draw(st.booleans())),
        ("string", data.draw(st.text())),
        ("octetArray", data.draw(st.binary())),
        ("ipv4Address", data.draw(st.ip_addresses(v=4))),
        ("ipv6Address", data.draw(st.ip_addresses(v=6))),
        ("dateTimeSeconds", data.draw(_datetimes(10**6, 2**32 - 1))),
        ("dateTimeMilliseconds", data.draw(_datetimes(1000, 2**32 - 1))),
        ("dateTimeMicroseconds", data.draw(_datetimes(1, 2**32 - 1))),
        ("dateTimeNanoseconds", data.draw(_datetimes(1, 2**32 - 1))),
    ]
    for name, v in cases:
        r, o = real.for_name(name), ours.for_name(name)
        assert o.valstr(v) == r.valstr(v)
        s = r.valstr(v)
        if isinstance(s, str):
            assert o.valparse(s) == r.valparse(s)
    # Reduced-size variants (python-ipfix's own raise TypeError: difference 2).
    assert ours.for_name("unsigned64").for_length(width).valstr(7) == "7"


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 65535))
def test_varlen_prefixes_alike(length: int) -> None:
    out = []
    for mod in (real, ours):
        buf = memoryview(bytearray(8))
        end = mod.encode_varlen(buf, 1, length)
        out.append(buf[1:end].tobytes())
        assert mod.decode_varlen(buf, 1) == (length, end)
    assert out[0] == out[1]


# -- deliberate differences ---------------------------------------------


@pytest.mark.parametrize("name", list(INT_WIDTH))
def test_every_reduced_width_round_trips(name: str) -> None:
    """Difference 1: RFC 7011 §6.2 allows every narrower width; python-ipfix
    knew 1, 2 and 4 only."""
    width, signed = INT_WIDTH[name]
    for n in range(1, width + 1):
        t = ours.for_name(name).for_length(n)
        assert (t.length, str(t), repr(t)) == (n, f"<{name}>", f"ipfix.types.for_name({name!r})")
        lo, hi = (-(2 ** (8 * n - 1)), 2 ** (8 * n - 1) - 1) if signed else (0, 2 ** (8 * n) - 1)
        for v in {lo, hi, 0, 1, lo // 3, hi // 3} | ({-1} if signed else set()):
            buf = memoryview(bytearray(n + 2))
            assert t.encode_single_value_to(v, buf, 1) == n + 1
            assert buf[1 : n + 1].tobytes() == v.to_bytes(n, "big", signed=signed)
            assert t.decode_single_value_from(buf, 1, n) == v
        with pytest.raises(ours.IpfixTypeError):
            t.encode_single_value_to(hi + 1, memoryview(bytearray(n)), 0)
        if n in (3, 5, 6, 7):
            with pytest.raises(real.IpfixTypeError):
                real.for_name(name).for_length(n)


def test_signed_reduced_keeps_sign() -> None:
    t = ours.for_name("signed64").for_length(3)
    assert t.decode_single_value_from(b"\xff\xff\xfe", 0, 3) == -2
    assert t.decode_single_value_from(b"\x80\x00\x00", 0, 3) == -(2**23)


def test_wider_integers_read() -> None:
    """NetFlow v9 exporters send unsigned8 fields in 2 or 4 octets."""
    t = ours.for_name("unsigned8").for_length(4)
    assert t.decode_single_value_from(b"\x00\x00\x01\x02", 0, 4) == 258
    for name, bad in (("unsigned64", 9), ("ipv4Address", 5), ("boolean", 2), ("float32", 8)):
        with pytest.raises(ours.IpfixTypeError):
            ours.for_name(name).for_length(bad)


def test_reduced_variants_keep_string_forms() -> None:
    """Difference 2: python-ipfix's reduced-size types got their roottype
    as valstr, so unparsing raised TypeError."""
    with pytest.raises(TypeError):
        real.for_name("unsigned64").for_length(4).valstr(5)
    assert ours.for_name("unsigned64").for_length(4).valstr(5) == "5"
    assert ours.for_name("float64").for_length(4).valparse("1.5") == 1.5
    assert ours.for_name("octetArray").for_length(2).valstr(b"\x01\x02") == b"0102"


def test_ntp_timestamps_count_from_1900() -> None:
    """Difference 3: RFC 7011 §6.1.9; python-ipfix counted from 1970."""
    dt = datetime(2013, 6, 21, 14, 0, 3, 456789)
    for name in ("dateTimeMicroseconds", "dateTimeNanoseconds"):
        rb, ob = encode_both(name, 8, dt)
        secs, frac = struct.unpack("!LL", ob)
        assert secs == struct.unpack("!L", rb[:4])[0] + ours.NTP_EPOCH_TO_UNIX_EPOCH
        assert secs == 1371823203 + 2208988800
        assert decode(ours, name, 8, ob) == dt
        # The fraction counts 2^-32 s (§6.1.9): 0.456789 s to within its
        # resolution, 2^-21 s for microseconds (11 low bits zero), a
        # nanosecond otherwise.
        if name == "dateTimeMicroseconds":
            assert frac & 0x7FF == 0
            assert abs(frac / 2**32 - 0.456789) < 2**-21
        else:
            assert abs(frac / 2**32 - 0.456789) < 1e-9
    unix0 = (2208988800 << 32).to_bytes(8, "big")
    assert decode(ours, "dateTimeMicroseconds", 8, unix0) == EPOCH
    micro = ours.for_name("dateTimeMicroseconds")
    for bad in (datetime(1899, 12, 31, 23, 59, 59), datetime(2036, 2, 7, 6, 28, 16)):
        with pytest.raises(ours.IpfixTypeError):
            micro.encode_single_value_to(bad, bytearray(8), 0)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, (2**32 - 1) * 10**6 - 1), st.sampled_from(["Micro", "Nano"]))
def test_ntp_round_trip_and_ferrofix_agree(us: int, kind: str) -> None:
    """Every microsecond of NTP era 0 survives the round trip, with the
    bytes ferrofix's own writer makes and the value its reader reads."""
    dt = datetime(1900, 1, 1) + timedelta(microseconds=us)
    t = ours.for_name(f"dateTime{kind}seconds")
    buf = bytearray(8)
    t.encode_single_value_to(dt, buf, 0)
    assert t.decode_single_value_from(buf, 0, 8) == dt
    msg = ff.write_ipfix([{f"flowStart{kind}seconds": dt.replace(tzinfo=UTC)}], export_time=0)
    assert msg[-8:] == bytes(buf)
    (rec,) = ff.iter_records(io.BytesIO(msg))
    assert rec[f"flowStart{kind}seconds"] == dt.replace(tzinfo=UTC)


def test_milliseconds_exact_where_python_ipfix_is_not() -> None:
    """Difference 4: a value python-ipfix's float arithmetic rounds down."""
    dt = EPOCH + timedelta(milliseconds=2177054085101)
    rb, ob = encode_both("dateTimeMilliseconds", 8, dt)
    assert int.from_bytes(ob, "big") == 2177054085101
    assert int.from_bytes(rb, "big") == 2177054085100


def test_integer_ipv4_works() -> None:
    """Difference 5: python-ipfix's use_integer_ipv4 changed nothing."""
    ours.use_integer_ipv4()
    t = ours.for_name("ipv4Address")
    assert (t.name, t.length, repr(t)) == ("ipv4Address", 4, "ipfix.types.for_name('ipv4Address')")
    buf = bytearray(4)
    t.encode_single_value_to(0xC0000213, buf, 0)
    assert bytes(buf) == bytes([192, 0, 2, 19])
    assert t.decode_single_value_from(buf, 0, 4) == 0xC0000213
    t.encode_single_value_to(ip_address("10.0.0.1"), buf, 0)
    assert t.decode_single_value_from(buf, 0, 4) == 0x0A000001
    assert t.valstr(0x0A000001) == "10.0.0.1"
    assert t.valparse("10.0.0.1") == 0x0A000001


def test_full_buffer_and_bad_values_raise_apart() -> None:
    """Difference 6: struct.error means the buffer is full; a bad value is
    an IpfixTypeError."""
    u16 = ours.for_name("unsigned16")
    with pytest.raises(struct.error):
        u16.encode_single_value_to(1, bytearray(3), 2)
    with pytest.raises(struct.error):
        ours.for_name("string").encode_single_value_to("abc", bytearray(3), 1)
    for name, v in (
        ("unsigned16", 65536),
        ("unsigned16", -1),
        ("unsigned16", "1"),
        ("ipv4Address", "not an address"),
        ("string", b"bytes"),
        ("octetArray", 5),
        ("dateTimeSeconds", datetime(1969, 12, 31)),
    ):
        with pytest.raises(ours.IpfixTypeError):
            ours.for_name(name).encode_single_value_to(v, bytearray(64), 0)
    with pytest.raises(ours.IpfixTypeError):
        ours.encode_varlen(bytearray(8), 0, 65536)


def test_fixed_octets_refuse_longer_values() -> None:
    """Difference 7: python-ipfix truncated silently (cutting UTF-8)."""
    s4 = ours.for_name("string").for_length(4)
    buf = bytearray(4)
    s4.encode_single_value_to("ab", buf, 0)
    assert bytes(buf) == b"ab\x00\x00"
    with pytest.raises(ours.IpfixTypeError):
        s4.encode_single_value_to("abcdé", buf, 0)
    with pytest.raises(ours.IpfixTypeError):
        ours.for_name("macAddress").encode_single_value_to(b"\x01\x02", bytearray(6), 0)


def test_invalid_utf8_replaced() -> None:
    """Difference 8: as ferrofix's reader; python-ipfix raised."""
    with pytest.raises(UnicodeDecodeError):
        decode(real, "string", ours.VARLEN, b"a\xffb")
    assert decode(ours, "string", ours.VARLEN, b"a\xffb") == "a\ufffdb"


def test_mac_string_forms() -> None:
    """Difference 9."""
    mac = ours.for_name("macAddress")
    assert mac.valstr(b"\x00\x11\x22\x33\x44\xff") == "00:11:22:33:44:ff"
    assert mac.valparse("00:11:22:33:44:ff") == b"\x00\x11\x22\x33\x44\xff"


def test_timestamp_parsing_lenient() -> None:
    """Difference 10."""
    base = datetime(2013, 6, 21, 14, 0, 3)
    ms = ours.for_name("dateTimeMilliseconds")
    assert ms.valparse("2013-06-21 14:00:03.5") == base.replace(microsecond=500000)
    assert ms.valparse("2013-06-21 14:00:03") == base
    assert real.for_name("dateTimeMilliseconds").valparse("2013-06-21 14:00:03.5") == base.replace(
        microsecond=5000
    )
    us = ours.for_name("dateTimeMicroseconds")
    assert us.valparse("2013-06-21 14:00:03.1234567") == base.replace(microsecond=123456)


def test_aware_datetimes_and_address_strings_accepted() -> None:
    """Difference 11: encoding is lenient, decoding unchanged."""
    aware = datetime(2013, 6, 21, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    buf = bytearray(8)
    ours.for_name("dateTimeMilliseconds").encode_single_value_to(aware, buf, 0)
    assert ours.for_name("dateTimeMilliseconds").decode_single_value_from(buf, 0, 8) == datetime(
        2013, 6, 21, 14
    )
    ours.for_name("ipv4Address").encode_single_value_to("192.0.2.1", buf, 0)
    assert bytes(buf[:4]) == bytes([192, 0, 2, 1])


def test_types_hashable() -> None:
    """Difference 12."""
    assert len({ours.for_name("unsigned8"), ours.for_name("unsigned8").for_length(1)}) == 1


@pytest.mark.parametrize(
    ("name", "num", "length"),
    [
        ("basicList", 20, 65535),
        ("subTemplateList", 21, 65535),
        ("subTemplateMultiList", 22, 65535),
        ("unsigned256", 23, 32),
    ],
)
def test_raw_types_python_ipfix_lacks(name: str, num: int, length: int) -> None:
    """Difference 13: these keep the field's raw octets."""
    t = ours.for_name(name)
    assert (t.num, t.length, repr(t)) == (num, length, f"ipfix.types.for_name({name!r})")
    raw = bytes(range(length if length != 65535 else 11))
    buf = bytearray(len(raw))
    assert t.encode_single_value_to(raw, buf, 0) == len(raw)
    assert t.decode_single_value_from(buf, 0, len(raw)) == raw
    with pytest.raises(real.IpfixTypeError):
        real.for_name(name)


def test_decode_errors() -> None:
    with pytest.raises(ours.IpfixTypeError):
        ours.for_name("unsigned32").decode_single_value_from(b"\x00" * 8, 0, 8)
    with pytest.raises(struct.error):
        ours.for_name("unsigned32").decode_single_value_from(b"\x00" * 3, 0, 4)
    with pytest.raises(struct.error):
        ours.for_name("octetArray").decode_single_value_from(b"\x00" * 3, 1, 4)
    with pytest.raises(ours.IpfixTypeError):
        ours.for_name("dateTimeMilliseconds").decode_single_value_from(b"\xff" * 8, 0, 8)
