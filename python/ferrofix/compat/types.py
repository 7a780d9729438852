"""python-ipfix's ``ipfix.types``: IPFIX abstract data types (RFC 7011 §6,
RFC 7012 §3.1) and how each maps to a Python value and to its encoding.

=========================================  =================================
IPFIX type                                 Python value
=========================================  =================================
octetArray, macAddress                     bytes
unsigned8..64, signed8..64                 int
float32, float64                           float
boolean                                    bool (1 is True, else False)
string                                     str (UTF-8)
dateTimeSeconds .. dateTimeNanoseconds     naive UTC datetime
ipv4Address, ipv6Address                   ipaddress objects (int after
                                           :func:`use_integer_ipv4`)
basicList, subTemplateList,                bytes: the raw field content
subTemplateMultiList, unsigned256          (python-ipfix has no such types)
=========================================  =================================

Type objects come from :func:`for_name`; ``t.for_length(n)`` gives the
variant for a field of ``n`` octets (RFC 7011 §6.2 reduced-size encoding,
fixed-length strings and octet arrays). ``encode_single_value_to(val, buf,
offset)`` returns the offset after the value; ``decode_single_value_from(buf,
offset, length)`` returns the value.

Deliberate differences from python-ipfix 0.9.7, each with its reason:

1. Reduced-size integers at every width 1..8 (RFC 7011 §6.2 allows any
   narrower width): python-ipfix knows only 8->4/2/1, 4->2/1, 2->1 and raises
   IpfixTypeError for 3, 5, 6 and 7 octets, which aborts reading a whole
   stream. Signed values keep their sign at every width. Integer types
   narrower than 8 octets also accept wider fields up to 8 octets (NetFlow v9
   exporters send unsigned8 samplerId in 2 or 4 octets), as ferrofix's reader
   does.
2. ``for_length`` variants keep the type's ``valstr``/``valparse``:
   python-ipfix passed them the wrong constructor arguments, so
   ``ie.for_spec("x[4]").unparse(v)`` raised TypeError.
3. dateTimeMicroseconds and dateTimeNanoseconds are NTP timestamps counted
   from 1900 (RFC 7011 §6.1.9, era 0: 1900..2036), as in ferrofix's reader and
   writer; python-ipfix counted them from 1970, so every other IPFIX tool read
   its times 70 years late. Fractions are computed with integers so that a
   microsecond survives the round trip (the micro fraction's low 11 bits are
   zero, RFC 7011 §6.1.9); python-ipfix went through a float.
4. dateTimeMilliseconds is encoded and decoded with integer arithmetic:
   python-ipfix's ``int(total_seconds() * 1000)`` loses a millisecond on about
   0.6% of datetimes, and its ``utcfromtimestamp(ms / 1000)`` can end a
   microsecond off.
5. ``use_integer_ipv4()`` works: python-ipfix's assigned a local variable and
   changed nothing. Integer IPv4 values unparse as dotted quads.
6. Encoding checks the buffer first and raises ``struct.error`` only when the
   value does not fit in the buffer (what python-ipfix's MessageBuffer turns
   into EndOfMessage); a value the type cannot hold (out of range, wrong kind,
   too long for a fixed-length field) raises IpfixTypeError. python-ipfix
   raised struct.error for both, so a bad value looked like a full message.
7. Fixed-length octet arrays and strings refuse values longer than the field
   (python-ipfix truncated them silently, cutting UTF-8 characters);
   shorter values are padded with NULs as before. macAddress and unsigned256
   values must have exactly the field's length.
8. Strings decode invalid UTF-8 with U+FFFD replacement characters, as
   ferrofix's reader does, instead of aborting the read with
   UnicodeDecodeError.
9. macAddress values unparse as ``00:11:22:33:44:55`` and parse from that
   form (python-ipfix gave ``str(bytes)`` and parsed with ``int``).
10. Timestamps parse with any number of fractional digits, or none (python-
    ipfix read ``.5`` as 5 ms and required the dot for milli/microseconds).
11. Aware datetimes are accepted for encoding and converted to UTC (python-
    ipfix raised TypeError); ipv4Address/ipv6Address also accept ``str`` and
    ``int`` values. Decoded values are unchanged: naive UTC datetimes.
12. Type objects are hashable (python-ipfix defined ``__eq__`` only) and
    IpfixTypeError's message is a plain string (python-ipfix nested the
    arguments in a tuple).
13. basicList, subTemplateList, subTemplateMultiList (RFC 6313) and
    unsigned256 (RFC 9740) exist, as raw-bytes types, so that the IANA IEs of
    those types can be registered; python-ipfix had no such types.

Left out: python-ipfix's internal ``valenc``/``valdec`` attributes and its
``_roottypes`` list.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import total_ordering
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

VARLEN = 65535
"""The field length that marks a variable-length field (RFC 7011 §7)."""

NTP_EPOCH_TO_UNIX_EPOCH = 2208988800
"""Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01)."""

ISO8601_FMT = "%Y-%m-%d %H:%M:%S"

Buffer = bytes | bytearray | memoryview
WritableBuffer = bytearray | memoryview
Conv = Callable[[Any], Any]

_UNIX = datetime(1970, 1, 1)
_NTP = datetime(1900, 1, 1)
_SEC = timedelta(seconds=1)
_MS = timedelta(milliseconds=1)
_VALUE_ERRORS = (struct.error, TypeError, ValueError, OverflowError, AttributeError)


class IpfixTypeError(ValueError):
    """Raised when attempting to do an unsupported operation on a type."""


@total_ordering
class IpfixType:
    """An IPFIX abstract data type at one field length. Obtain root types
    from :func:`for_name` and length variants from :meth:`for_length`."""

    stel: str | None
    _enc: Conv | None
    _dec: Conv | None
    _build: Callable[[int], IpfixType | None] | None

    def __init__(
        self,
        name: str,
        num: int,
        length: int,
        valstr: Conv,
        valparse: Callable[[str], Any],
        roottype: IpfixType | None = None,
    ) -> None:
        self.name = name
        self.num = num
        self.length = length
        self.valstr = valstr
        self.valparse = valparse
        self.roottype: IpfixType = roottype if roottype is not None else self
        self._variants: dict[int, IpfixType] = {}
        self._build = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IpfixType):
            return NotImplemented
        return (self.num, self.length) == (other.num, other.length)

    def __lt__(self, other: IpfixType) -> bool:
        return (self.num, self.length) < (other.num, other.length)

    def __hash__(self) -> int:
        return hash((self.num, self.length))

    def __str__(self) -> str:
        return f"<{self.name}>"

    def __repr__(self) -> str:
        return f"ipfix.types.for_name({self.name!r})"

    def for_length(self, length: int) -> IpfixType:
        """This type for a field of ``length`` octets (0 or None: this type).

        :raises: IpfixTypeError when the type cannot take that length
        """
        if not length or length == self.length:
            return self
        root = self.roottype
        if length == root.length:
            return root
        found = root._variants.get(length)
        if found is None:
            found = root._build(length) if root._build is not None else None
            if found is None:
                raise IpfixTypeError(f"No RLE for <{self.name}>[{length}]")
            root._variants[length] = found
        return found

    def encode_single_value_to(self, val: Any, buf: WritableBuffer, offset: int) -> int:
        raise NotImplementedError

    def decode_single_value_from(self, buf: Buffer, offset: int, length: int) -> Any:
        raise NotImplementedError

    def _cannot(self, val: Any, err: BaseException) -> IpfixTypeError:
        return IpfixTypeError(f"cannot encode {val!r} as {self}[{self.length}]: {err}")


class StructType(IpfixType):
    """A fixed-length type, packed with one precompiled ``struct.Struct``."""

    def __init__(
        self,
        name: str,
        num: int,
        stel: str,
        enc: Conv | None = None,
        dec: Conv | None = None,
        valstr: Conv = str,
        valparse: Callable[[str], Any] = int,
        roottype: IpfixType | None = None,
    ) -> None:
        self.st = struct.Struct("!" + stel)
        super().__init__(name, num, self.st.size, valstr, valparse, roottype)
        self.stel = stel
        self.skipel = f"{self.length}x"
        self._enc = enc
        self._dec = dec

    def encode_single_value_to(self, val: Any, buf: WritableBuffer, offset: int) -> int:
        end = offset + self.length
        if end > len(buf):
            raise struct.error(f"no room for {self.length} octets at offset {offset}")
        try:
            self.st.pack_into(buf, offset, val if self._enc is None else self._enc(val))
        except IpfixTypeError:
            raise
        except _VALUE_ERRORS as e:
            raise self._cannot(val, e) from e
        return end

    def decode_single_value_from(self, buf: Buffer, offset: int, length: int) -> Any:
        if length != self.length:
            raise IpfixTypeError(f"{self}[{self.length}] cannot decode {length} octets")
        v = self.st.unpack_from(buf, offset)[0]
        if self._dec is None:
            return v
        try:
            return self._dec(v)
        except (OverflowError, ValueError) as e:
            raise IpfixTypeError(f"{self}: cannot decode {v!r}: {e}") from e


class OctetArrayType(IpfixType):
    """A variable-length type: ``enc`` makes the value's octets (without the
    varlen prefix, which templates write), ``dec`` reads them back."""

    def __init__(
        self,
        name: str,
        num: int,
        enc: Conv,
        dec: Conv | None = None,
        valstr: Conv = binascii.hexlify,
        valparse: Callable[[str], Any] = binascii.unhexlify,
    ) -> None:
        super().__init__(name, num, VARLEN, valstr, valparse)
        self.stel = None
        self._enc = enc
        self._dec = dec

    def encode_single_value_to(self, val: Any, buf: WritableBuffer, offset: int) -> int:
        try:
            raw = self._enc(val) if self._enc is not None else val
        except IpfixTypeError:
            raise
        except _VALUE_ERRORS as e:
            raise self._cannot(val, e) from e
        end = offset + len(raw)
        if end > len(buf):
            raise struct.error(f"no room for {len(raw)} octets at offset {offset}")
        buf[offset:end] = raw
        return end

    def decode_single_value_from(self, buf: Buffer, offset: int, length: int) -> Any:
        raw = bytes(buf[offset : offset + length])
        if len(raw) != length:
            raise struct.error(f"{length} octets at offset {offset} run past the buffer")
        return raw if self._dec is None else self._dec(raw)


# -- value converters ------------------------------------------------------


def _compose(f: Conv | None, g: Conv | None) -> Conv:
    """x -> g(f(x)), either may be None (identity)."""
    if f is None and g is None:
        return lambda x: x
    if f is None:
        assert g is not None
        return g
    if g is None:
        return f
    return lambda x: g(f(x))


def _octets(v: Any) -> bytes:
    if type(v) is bytes:
        return v
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    raise TypeError(f"expected bytes, not {type(v).__name__}")


def _fit(n: int, enc: Conv, exact: bool) -> Conv:
    """The value's octets for a fixed n-octet field (struct pads shorter)."""

    def fit(v: Any) -> bytes:
        b: bytes = enc(v)
        if len(b) > n or (exact and len(b) != n):
            raise IpfixTypeError(f"{len(b)} octets for a {n}-octet field")
        return b

    return fit


def _naive_utc(dt: datetime) -> datetime:
    if dt.tzinfo is not None:
        off = dt.utcoffset()
        dt = dt.replace(tzinfo=None)
        if off is not None:
            dt -= off
    return dt


def _enc_sec(dt: datetime) -> int:
    return (_naive_utc(dt) - _UNIX) // _SEC


def _dec_sec(v: int) -> datetime:
    return _UNIX + timedelta(seconds=v)


def _dec_ms(v: int) -> datetime:
    return _UNIX + timedelta(milliseconds=v)


def _enc_ms(dt: datetime) -> int:
    return (_naive_utc(dt) - _UNIX) // _MS


def _ntp_parts(dt: datetime) -> tuple[int, int]:
    d = _naive_utc(dt) - _NTP
    secs = d.days * 86400 + d.seconds
    if not 0 <= secs <= 0xFFFFFFFF:
        raise IpfixTypeError(f"{dt} is outside NTP era 0 (1900-01-01 to 2036-02-07)")
    return secs, d.microseconds


def _enc_ntp_us(dt: datetime) -> int:
    secs, us = _ntp_parts(dt)
    # The smallest fraction on a 2^11 boundary (RFC 7011 §6.1.9) that
    # decodes (floored) back to the same microsecond.
    frac = ((((us << 32) + 999_999) // 1_000_000) + 0x7FF) & ~0x7FF
    return (secs << 32) | min(frac, 0xFFFFFFFF)


def _enc_ntp_ns(dt: datetime) -> int:
    secs, us = _ntp_parts(dt)
    frac = (((us * 1000) << 32) + 999_999_999) // 1_000_000_000
    return (secs << 32) | min(frac, 0xFFFFFFFF)


def _dec_ntp_us(v: int) -> datetime:
    us = ((v & 0xFFFFF800) * 1_000_000) >> 32
    return _NTP + timedelta(seconds=v >> 32, microseconds=us)


def _dec_ntp_ns(v: int) -> datetime:
    us = ((v & 0xFFFFFFFF) * 1_000_000) >> 32
    return _NTP + timedelta(seconds=v >> 32, microseconds=us)


def _str_sec(dt: datetime) -> str:
    return dt.strftime(ISO8601_FMT)


def _str_ms(dt: datetime) -> str:
    return f"{dt.strftime(ISO8601_FMT)}.{dt.microsecond // 1000:03d}"


def _str_us(dt: datetime) -> str:
    return f"{dt.strftime(ISO8601_FMT)}.{dt.microsecond:06d}"


def _parse_dt(s: str) -> datetime:
    whole, dot, frac = s.strip().partition(".")
    dt = datetime.strptime(whole, ISO8601_FMT)
    if dot:
        if not frac.isdigit():
            raise ValueError(f"bad fraction of a second in {s!r}")
        dt = dt.replace(microsecond=int((frac + "00000")[:6]))
    return dt


def _str_mac(v: bytes) -> str:
    return ":".join(f"{b:02x}" for b in v)


def _parse_mac(s: str) -> bytes:
    b = bytes.fromhex(s.replace(":", "").replace("-", ""))
    if len(b) != 6:
        raise ValueError(f"not a MAC address: {s!r}")
    return b


def _ip4(v: Any) -> bytes:
    if type(v) is IPv4Address:
        return v.packed
    return IPv4Address(v).packed


def _ip6(v: Any) -> bytes:
    if type(v) is IPv6Address:
        return v.packed
    return IPv6Address(v).packed


# -- type families ---------------------------------------------------------

_UCODES = {1: "B", 2: "H", 4: "L", 8: "Q"}
_SCODES = {1: "b", 2: "h", 4: "l", 8: "q"}


def _int_type(
    name: str,
    num: int,
    width: int,
    signed: bool = False,
    enc: Conv | None = None,
    dec: Conv | None = None,
    valstr: Conv = str,
    valparse: Callable[[str], Any] = int,
) -> StructType:
    """An integer-encoded type; its variants take every width 1..8 that is
    narrower (RFC 7011 §6.2) or, for integers narrower than 8, wider."""
    codes = _SCODES if signed else _UCODES
    root = StructType(name, num, codes[width], enc, dec, valstr, valparse)
    limit = 8 if dec is None else width

    def build(n: int) -> IpfixType | None:
        if not 1 <= n <= limit:
            return None
        if n in codes:
            return StructType(name, num, codes[n], enc, dec, valstr, valparse, root)

        def to_bytes(v: int) -> bytes:
            return v.to_bytes(n, "big", signed=signed)

        def from_bytes(b: bytes) -> int:
            return int.from_bytes(b, "big", signed=signed)

        return StructType(
            name,
            num,
            f"{n}s",
            _compose(enc, to_bytes),
            _compose(from_bytes, dec),
            valstr,
            valparse,
            root,
        )

    root._build = build
    return root


def _octet_type(
    name: str,
    num: int,
    enc: Conv = _octets,
    dec: Conv | None = None,
    valstr: Conv = binascii.hexlify,
    valparse: Callable[[str], Any] = binascii.unhexlify,
) -> OctetArrayType:
    """A variable-length type; fixed-length variants pad with NULs."""
    root = OctetArrayType(name, num, enc, dec, valstr, valparse)

    def build(n: int) -> IpfixType | None:
        if not 0 < n < VARLEN:
            return None
        return StructType(name, num, f"{n}s", _fit(n, enc, False), dec, valstr, valparse, root)

    root._build = build
    return root


def _fixed_octets(
    name: str,
    num: int,
    size: int,
    enc: Conv,
    dec: Conv | None,
    valstr: Conv,
    valparse: Callable[[str], Any],
    sizes: range = range(0),
) -> StructType:
    root = StructType(name, num, f"{size}s", enc, dec, valstr, valparse)

    def build(n: int) -> IpfixType | None:
        if n not in sizes:
            return None
        return StructType(name, num, f"{n}s", _fit(n, _octets, True), dec, valstr, valparse, root)

    root._build = build
    return root


def _float_type(name: str, num: int, code: str) -> StructType:
    root = StructType(name, num, code, valparse=float)
    if code == "d":
        # RFC 7011 §6.2: a float64 may be sent as a float32.
        f32 = StructType(name, num, "f", valparse=float, roottype=root)
        root._build = lambda n: f32 if n == 4 else None
    return root


def _root_types() -> list[IpfixType]:
    _dt = _parse_dt
    hexed = (binascii.hexlify, binascii.unhexlify)
    same = (lambda s: s, lambda s: s)
    on_off = (lambda v: "true" if v else "false", lambda s: s == "true")
    utf8 = (lambda v: v.encode("utf-8"), lambda b: b.decode("utf-8", "replace"))
    return [
        _octet_type("octetArray", 0),
        _int_type("unsigned8", 1, 1),
        _int_type("unsigned16", 2, 2),
        _int_type("unsigned32", 3, 4),
        _int_type("unsigned64", 4, 8),
        _int_type("signed8", 5, 1, True),
        _int_type("signed16", 6, 2, True),
        _int_type("signed32", 7, 4, True),
        _int_type("signed64", 8, 8, True),
        _float_type("float32", 9, "f"),
        _float_type("float64", 10, "d"),
        StructType("boolean", 11, "B", lambda v: 1 if v else 2, lambda b: b == 1, *on_off),
        _fixed_octets("macAddress", 12, 6, _fit(6, _octets, True), None, _str_mac, _parse_mac),
        _octet_type("string", 13, *utf8, *same),
        _int_type("dateTimeSeconds", 14, 4, False, _enc_sec, _dec_sec, _str_sec, _dt),
        _int_type("dateTimeMilliseconds", 15, 8, False, _enc_ms, _dec_ms, _str_ms, _dt),
        _int_type("dateTimeMicroseconds", 16, 8, False, _enc_ntp_us, _dec_ntp_us, _str_us, _dt),
        _int_type("dateTimeNanoseconds", 17, 8, False, _enc_ntp_ns, _dec_ntp_ns, _str_us, _dt),
        _fixed_octets("ipv4Address", 18, 4, _ip4, IPv4Address, str, ip_address),
        _fixed_octets("ipv6Address", 19, 16, _ip6, IPv6Address, str, ip_address),
        # RFC 6313 lists and RFC 9740 unsigned256: raw field content.
        _octet_type("basicList", 20),
        _octet_type("subTemplateList", 21),
        _octet_type("subTemplateMultiList", 22),
        _fixed_octets("unsigned256", 23, 32, _fit(32, _octets, True), None, *hexed, range(1, 32)),
    ]


_ROOTS = {t.name: t for t in _root_types()}
# A zero-length field (RFC 7011 allows it; no type can fill it): empty octets.
_ZERO_OCTETS = StructType(
    "octetArray", 0, "0s", _fit(0, _octets, True), None, roottype=_ROOTS["octetArray"]
)
_ZERO_OCTETS.valstr, _ZERO_OCTETS.valparse = binascii.hexlify, binascii.unhexlify
_type_for_name: dict[str, IpfixType] = dict(_ROOTS)
_INT_IPV4 = _int_type(
    "ipv4Address",
    18,
    4,
    False,
    lambda v: v if type(v) is int else int(IPv4Address(v)),
    None,
    lambda v: str(IPv4Address(v)),
    lambda s: int(IPv4Address(s)),
)


def use_integer_ipv4() -> None:
    """Represent IPv4 addresses as ints instead of ``ipaddress.IPv4Address``
    (for numpy). Global; affects IEs created afterwards, so call it before
    :func:`ipfix.ie.use_iana_default` and friends."""
    _type_for_name["ipv4Address"] = _INT_IPV4


def _use_ipaddress_ipv4() -> None:
    """Undo :func:`use_integer_ipv4` (not in python-ipfix; for tests)."""
    _type_for_name["ipv4Address"] = _ROOTS["ipv4Address"]


def for_name(name: str) -> IpfixType:
    """The IPFIX type of this name.

    :raises: IpfixTypeError
    """
    try:
        return _type_for_name[name]
    except KeyError:
        raise IpfixTypeError(f"no such type {name}") from None


def dt2epoch(dt: datetime) -> float:
    """Seconds from the Unix epoch to a naive UTC datetime."""
    return (_naive_utc(dt) - _UNIX).total_seconds()


_varlen1_st = struct.Struct("!B")
_varlen3_st = struct.Struct("!BH")


def decode_varlen(buf: Buffer, offset: int) -> tuple[int, int]:
    """Read a variable-length field's length prefix (RFC 7011 §7):
    ``(length, offset of the content)``."""
    length: int = _varlen1_st.unpack_from(buf, offset)[0]
    if length == 255:
        return _varlen3_st.unpack_from(buf, offset)[1], offset + 3
    return length, offset + 1


def encode_varlen(buf: WritableBuffer, offset: int, length: int) -> int:
    """Write a variable-length field's length prefix (RFC 7011 §7: three
    octets from 255 up); returns the offset of the content."""
    if not 0 <= length <= 0xFFFF:
        raise IpfixTypeError(f"{length} octets do not fit a variable-length field")
    if length >= 255:
        _varlen3_st.pack_into(buf, offset, 255, length)
        return offset + 3
    _varlen1_st.pack_into(buf, offset, length)
    return offset + 1
