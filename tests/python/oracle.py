"""Committed oracle outputs for the IPFIX fixtures, and how to read them.

Two independent decoders were run over tests/data/ipfix/ by
scripts/oracle_all.sh (see tests/data/oracle/README.md):

* tshark (Wireshark's ``cflow`` dissector): normalized to
  ``<case>.tshark.json[.gz]`` by scripts/oracle_tshark.py;
* libfixbuf's ipfixDump: raw text ``<case>.ipfixdump.txt[.gz]``, parsed here.

This module only reads files; it needs neither tool.  It also holds the
comparators that turn a ferrofix value into each oracle's display form
(``compare_tshark``, ``compare_ipfixdump``): each returns ``OK``, ``MISMATCH``
or a skip reason (a string), so callers can count what was really compared.
A value of the wrong Python type for its IE (``oracle_types.py``) is a
mismatch, never a skip; the only skip reasons allowed are named
(``TSHARK_SKIPS``; ipfixDump has none).
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import oracle_types as ot

TESTS = Path(__file__).resolve().parent.parent
FIXTURES = TESTS / "data" / "ipfix"
ORACLES = TESTS / "data" / "oracle"

OK = True
MISMATCH = False
Verdict = bool | str  # True: equal, False: different, str: not comparable (why)


# --------------------------------------------------------------------------
# cases and files


@dataclass(frozen=True)
class Case:
    """One decode: the concatenation of ``files`` (templates first)."""

    name: str
    files: tuple[str, ...]
    kind: str  # single | pair | templates-only | malformed
    manifest_records: int
    skip_ipfixdump: str | None

    def data(self) -> bytes:
        return b"".join((FIXTURES / f).read_bytes() for f in self.files)


def load_cases() -> list[Case]:
    raw = json.loads((ORACLES / "cases.json").read_text())["cases"]
    return [
        Case(
            c["name"], tuple(c["files"]), c["kind"], c["manifest_records"], c.get("skip_ipfixdump")
        )
        for c in raw
    ]


def _read(stem: Path) -> bytes | None:
    """Contents of ``stem`` or ``stem.gz`` (large outputs are stored gzip'd)."""
    if stem.exists():
        return stem.read_bytes()
    gz = stem.with_name(stem.name + ".gz")
    if gz.exists():
        return gzip.decompress(gz.read_bytes())
    return None


def load_tshark(name: str) -> dict[str, Any]:
    data = _read(ORACLES / f"{name}.tshark.json")
    if data is None:
        raise FileNotFoundError(f"no tshark oracle for {name}")
    doc: dict[str, Any] = json.loads(data)
    return doc


# --------------------------------------------------------------------------
# comparators: ferrofix value -> oracle display


def _as_bytes(value: Any, length: int | None = None) -> bytes | None:
    """The wire octets behind a decoded value, when they can be recovered."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value.packed
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and length is not None and value >= 0:
        try:
            return value.to_bytes(length, "big")
        except OverflowError:
            return None
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", value):
        return bytes.fromhex(value.replace(":", ""))  # a MAC address
    return None


TSHARK_TIME = re.compile(r"^([A-Z][a-z]{2}) +(\d+), (\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{9}) UTC$")
_MONTHS = {
    m: i + 1 for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())
}
# tshark shows these unsigned counters of milli/microseconds as seconds.
_TSHARK_SECONDS = {(0, 21): 1000, (0, 22): 1000, (0, 161): 1000, (0, 162): 1_000_000}


def parse_tshark_time(text: str) -> tuple[datetime, int] | None:
    """'Dec 22, 2016 12:17:37.000127768 UTC' -> (whole-second datetime, ns)."""
    m = TSHARK_TIME.match(text)
    if not m:
        return None
    mon, day, year, hh, mm, ss, ns = m.groups()
    dt = datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    return dt, int(ns)


def format_tshark_time(value: datetime) -> str:
    """tshark's absolute-time display of a ferrofix datetime (microsecond precision)."""
    v = value.astimezone(UTC)
    return f"{v:%b} {v.day:2d}, {v:%Y %H:%M:%S}.{v.microsecond * 1000:09d} UTC"


def _same_instant(value: datetime, whole: datetime, ns: int, tolerance_ns: int) -> bool:
    ours = value.astimezone(UTC)
    delta = (ours - whole) / timedelta(microseconds=1) * 1000 - ns
    return abs(delta) <= tolerance_ns


_INT_FT = {f"FT_{s}INT{n}" for s in ("U", "") for n in (8, 16, 24, 32, 40, 48, 56, 64)}
_STR_FT = {"FT_STRING", "FT_STRINGZ", "FT_UINT_STRING"}
_UINT_WIDTH = {"FT_UINT8": 1, "FT_UINT16": 2, "FT_UINT24": 3, "FT_UINT32": 4}


def _tshark_octets(display: str) -> bytes | None:
    """FT_BYTES display: "0a:1b:2c", a lone octet "0a", or "" for none."""
    if display == "":
        return b""
    if re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2})*", display):
        return bytes.fromhex(display.replace(":", ""))
    return None


def _tshark_int(display: str) -> int | None:
    if re.fullmatch(r"-?\d+", display):
        return int(display)
    if re.fullmatch(r"0x[0-9a-f]+", display):
        return int(display, 16)
    return None


def _tshark_float_ok(value: float, display: str, ftype: str) -> bool:
    # Wireshark prints FT_FLOAT with %.6g (FLT_DIG) and FT_DOUBLE with %.15g.
    if f"{value:.{6 if ftype == 'FT_FLOAT' else 15}g}" == display:
        return True
    try:
        other = float(display)
    except ValueError:
        return False
    if other != other:
        return value != value
    return abs(other - value) <= 1e-5 * max(abs(other), abs(value))


# The only reasons a field may go uncompared with tshark: each is a field
# cflow shows with less than its value. The oracle tests fail on a skip with
# any other reason (a comparator's "not compared" is a hole, not a pass).
SKIP_LIST = "RFC 6313 list: tshark shows the raw octets"
SKIP_SYSUPTIME = "tshark shows an absolute time for a sysUpTime counter"
SKIP_FALSE = "tshark shows the boolean false (octet 2) as 1"
TSHARK_SKIPS = {
    SKIP_LIST: "cflow (4.0) does not decode RFC 6313 lists (basicList, subTemplateList, "
    "subTemplateMultiList); test_oracle.py compares them with ipfixDump's decoded records",
    SKIP_SYSUPTIME: "cflow keeps start/end time state across fields and shows "
    "flowStart/EndSysUpTime (IE 21/22) as an absolute time in some records",
    SKIP_FALSE: "cflow shows any non-zero boolean octet as 1, and RFC 7011 §6.1.5 "
    "encodes false as 2 (test_writer_interop.py's booleans)",
}
# Not allowed: parts whose layout the display does not give (applicationId,
# Cisco's IE 12235, icmpTypeCode parts and bit fields are put back together).
SKIP_SPLIT = "tshark shows this field only as sub-fields that do not cover it"


def _compare_hidden(value: Any, pen: int, fid: int, extra: dict[str, Any] | None) -> Verdict:
    """A field tshark shows no display for: nothing (a zero-length value)
    or parts (sub-fields)."""
    extra = extra or {}
    parts = extra.get("parts", [])
    named = {p[0]: p[1] for p in parts}
    if (pen, fid) == (0, 95) and "cflow.appl_id.classification_engine_id" in named:
        # applicationId (RFC 6759): tshark splits engine id and selector.
        raw = _as_bytes(value)
        if raw is None or len(raw) < 1:
            return MISMATCH
        return (
            str(raw[0]) == named["cflow.appl_id.classification_engine_id"]
            and _tshark_octets(named.get("cflow.appl_id.selector_id", "")) == raw[1:]
        )
    cisco = "cflow.pie.cisco.application_http_host"
    if (pen, fid) == (9, 12235) and f"{cisco}_app_id" in named:
        # Cisco's HTTP field: application id (4 octets), sub-application id
        # (2), then the text, shown first by tshark when there is any.
        ids = [_tshark_octets(named[f"{cisco}{k}"]) for k in ("_app_id", "_sub_app_id")]
        text = named.get(cisco, "").encode("utf-8")
        if any(i is None for i in ids):
            return MISMATCH
        want = b"".join(i for i in ids if i is not None) + text
        return len(want) == extra.get("len") and _as_bytes(value) == want
    if not parts:
        return MISMATCH  # zero-length values: see compare_tshark
    if any(len(p) > 3 and p[3] for p in parts):
        return compare_tshark_bitfields(value, extra)
    widths = [_UINT_WIDTH.get(p[2]) for p in parts]
    if all(widths) and sum(w or 0 for w in widths) == extra.get("len"):
        # Whole-octet integer parts that cover the value, in wire order
        # (icmpTypeCodeIPv6: type, code): the value is their concatenation.
        shown = [_tshark_int(p[1]) for p in parts]
        if any(n is None for n in shown):
            return MISMATCH
        joined = b"".join(
            (n or 0).to_bytes(w or 0, "big") for n, w in zip(shown, widths, strict=True)
        )
        return _as_bytes(value, len(joined)) == joined
    if all(p[2] == "FT_BYTES" for p in parts):
        # Octet parts that cover the value: the value is their concatenation.
        octets = [_tshark_octets(p[1]) for p in parts]
        if all(o is not None for o in octets):
            joined = b"".join(o for o in octets if o is not None)
            if len(joined) == extra.get("len"):
                return _as_bytes(value) == joined
    return SKIP_SPLIT


def _ntp_ok(value: datetime, hb: bytes) -> bool:
    """An 8-octet NTP time (RFC 7011 §6.1.9-10) and a datetime, to the
    microsecond the datetime holds."""
    secs, frac = int.from_bytes(hb[:4], "big"), int.from_bytes(hb[4:], "big")
    whole = datetime(1900, 1, 1, tzinfo=UTC) + timedelta(seconds=secs)
    return _same_instant(value, whole, frac * 10**9 >> 32, tolerance_ns=1000)


def _time_octets_ok(value: datetime, hb: bytes, dtype: str | None) -> bool:
    """A time tshark shows as octets, read by its IANA type."""
    if len(hb) == 4:
        return int.from_bytes(hb, "big") == value.timestamp()
    if len(hb) == 8 and dtype == "dateTimeMilliseconds":
        ms = int.from_bytes(hb, "big")
        return _same_instant(value, datetime.fromtimestamp(0, UTC), ms * 10**6, 0)
    if len(hb) == 8 and dtype in ("dateTimeMicroseconds", "dateTimeNanoseconds"):
        return _ntp_ok(value, hb)
    return MISMATCH


def compare_tshark(
    value: Any,
    display: str | None,
    key: str | None,
    ftype: str | None,
    pen: int,
    fid: int,
    extra: dict[str, Any] | None = None,
) -> Verdict:
    """Compare one ferrofix value with tshark's display of the same field.

    ``ftype`` is the Wireshark field type tshark used; it says how to read the
    display (e.g. FT_BYTES "11" is the octet 0x11, FT_UINT8 "11" is eleven).
    A value of the wrong Python type for its IE's IANA type (raw bytes for a
    typed IE included) is a mismatch; the only skips are ``TSHARK_SKIPS``."""
    dtype = ot.iana_type(pen, fid)
    if display is None and extra is not None and extra.get("len") == 0:
        # A zero-length value (tshark shows nothing): no octets, so no value
        # of any type; ferrofix gives them as they are.
        return not extra.get("parts") and value in ("", b"")
    if ot.wrong_type(value, pen, fid):
        return MISMATCH
    if dtype in ot.LIST_TYPES:
        return SKIP_LIST
    if isinstance(value, list):
        return MISMATCH
    if display is None or ftype is None:
        return _compare_hidden(value, pen, fid, extra)
    if ftype in _INT_FT:
        n = _tshark_int(display)
        if n is None:
            return MISMATCH
        if isinstance(value, bool):
            return n == (1 if value else 2)
        if isinstance(value, int):
            return n == value
        if isinstance(value, ipaddress.IPv4Address):
            return n == int(value)
        raw = _as_bytes(value)
        if raw is not None:
            return n == int.from_bytes(raw, "big", signed=not ftype.startswith("FT_U"))
        return MISMATCH
    if ftype in ("FT_BYTES", "FT_UINT_BYTES"):
        hb = _tshark_octets(display)
        if hb is None:
            return MISMATCH
        if isinstance(value, bool):
            return hb == bytes([1 if value else 2])
        if isinstance(value, int):  # ferrofix knows the IE (e.g. CERT), tshark does not
            return int.from_bytes(hb, "big") == value
        if isinstance(value, str) and _as_bytes(value) is None:
            return value.encode("utf-8") in (hb, hb.rstrip(b"\0"))
        if isinstance(value, float):
            if len(hb) not in (4, 8):
                return MISMATCH
            unpacked: float = struct.unpack(">f" if len(hb) == 4 else ">d", hb)[0]
            return unpacked == value
        if isinstance(value, datetime):
            return _time_octets_ok(value, hb, dtype)
        return _as_bytes(value) == hb
    if ftype in _STR_FT:
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "replace")
        if not isinstance(value, str):
            return MISMATCH
        # tshark shows a string up to its first NUL, non-printable
        # characters escaped as C does (format_text: \\, \n, \xNN ...).
        return _tshark_escaped(value.split("\0", 1)[0]) == display
    if ftype in ("FT_IPv4", "FT_IPv6"):
        try:
            addr = ipaddress.ip_address(display)
        except ValueError:
            return MISMATCH
        if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return addr == value
        if isinstance(value, int) and not isinstance(value, bool):
            return int(addr) == value
        return _as_bytes(value) == addr.packed
    if ftype == "FT_ETHER":
        if isinstance(value, str):
            return value == display
        raw = _as_bytes(value)
        return raw is not None and ":".join(f"{b:02x}" for b in raw) == display
    if ftype in ("FT_FLOAT", "FT_DOUBLE"):
        if isinstance(value, (bytes, bytearray)) and len(value) in (4, 8):
            value = struct.unpack(">f" if len(value) == 4 else ">d", value)[0]
        return isinstance(value, float) and _tshark_float_ok(value, display, ftype)
    if ftype == "FT_ABSOLUTE_TIME":
        parsed = parse_tshark_time(display)
        if parsed is None:
            return MISMATCH
        if isinstance(value, datetime):
            # tshark prints nanoseconds; a Python datetime holds microseconds.
            return _same_instant(value, *parsed, tolerance_ns=1000)
        if isinstance(value, (bytes, bytearray)) and len(value) == 4:
            return parsed[1] == 0 and int.from_bytes(value, "big") == parsed[0].timestamp()
        if isinstance(value, int) and (pen, fid) in ((0, 21), (0, 22)):
            return SKIP_SYSUPTIME
        return MISMATCH
    if ftype == "FT_RELATIVE_TIME":
        if not (isinstance(value, int) and not isinstance(value, bool)):
            return MISMATCH
        if not re.fullmatch(r"-?\d+\.\d{9}", display) or (pen, fid) not in _TSHARK_SECONDS:
            return f"tshark shows {pen}/{fid} as a relative time"
        return Decimal(display) * _TSHARK_SECONDS[(pen, fid)] == value
    if ftype == "FT_BOOLEAN":
        if not isinstance(value, bool):
            return MISMATCH
        if not value and display in ("1", "True"):
            return SKIP_FALSE
        return display in (("1", "True") if value else ("0", "2", "False"))
    return f"tshark field type {ftype} not compared"


def _tshark_escaped(text: str) -> str:
    """A string as Wireshark's format_text shows it: printable ASCII and
    other printable characters as they are, C escapes for the rest."""
    out = []
    for ch in text:
        c = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch in _C_ESCAPES:
            out.append(_C_ESCAPES[ch])
        elif c < 0x20 or c == 0x7F:
            out.append(f"\\x{c:02x}")
        else:
            out.append(ch)
    return "".join(out)


_C_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


# --------------------------------------------------------------------------
# captures of IPFIX exports (tests/data/pcap/, oracle in tests/data/oracle/pcap/)

PCAPS = TESTS / "data" / "pcap"
PCAP_ORACLES = ORACLES / "pcap"


@dataclass(frozen=True)
class PcapCase:
    """One capture, or captures read as one (a template capture, then its data)."""

    name: str
    files: tuple[str, ...]

    def paths(self) -> list[Path]:
        return [PCAPS / f for f in self.files]


def load_pcap_cases() -> list[PcapCase]:
    raw = json.loads((PCAP_ORACLES / "cases.json").read_text())["cases"]
    return [PcapCase(c["name"], tuple(c["files"])) for c in raw]


def load_tshark_pcap(name: str) -> dict[str, Any]:
    """scripts/oracle_pcap.py's output for a capture case: like load_tshark's,
    with "streams" (one per exporter) and the exporter of every message,
    record and undecoded set as [source address, source UDP port]."""
    data = _read(PCAP_ORACLES / f"{name}.tshark.json")
    if data is None:
        raise FileNotFoundError(f"no tshark oracle for capture {name}")
    doc: dict[str, Any] = json.loads(data)
    return doc


def compare_tshark_bitfields(value: Any, extra: dict[str, Any] | None) -> Verdict:
    """Compare a value tshark shows only as bit fields over all its octets
    (``parts`` entries [key, display, ftype, bitmask] in oracle_pcap.py's
    output: MPLS label stack entries, forwardingStatus, Juniper's common
    properties, PEN 2636 IE 137): every masked part must match."""
    bits = [p for p in (extra or {}).get("parts", []) if len(p) > 3 and p[3]]
    if not bits or extra is None:
        return "tshark shows no bit fields for this field"
    raw = _as_bytes(value, extra["len"])
    if raw is None or len(raw) != extra["len"]:
        return MISMATCH
    whole = int.from_bytes(raw, "big")
    for _key, display, _ftype, mask in bits:
        shown = _tshark_int(display)
        shift = (mask & -mask).bit_length() - 1
        if shown is None or (whole & mask) >> shift != shown:
            return MISMATCH
    return OK
