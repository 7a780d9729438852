"""What Python type a value of each IANA-typed IE must come back as, for
the oracle comparators (``oracle.py``, ``oracle_dump.py``).

The abstract data type is the IANA registry's (the vendored snapshot
data/iana/ipfix.xml, RFC 7012 §3.1, RFC 6313 for lists, RFC 9740 for
unsigned256); an RFC 5103 reverse IE (PEN 29305) has its forward IE's type.
The Python type of each is the one the README documents for the record
path ("Values"). Only an octetArray, or an enterprise IE (no IANA type),
may come back as raw ``bytes``: a typed IE in bytes is what ferrofix gives
for a malformed value under ``on_bad_records="skip"``, never a match.
"""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from ferrofix import BasicList

REGISTRY = Path(__file__).resolve().parents[2] / "data" / "iana" / "ipfix.xml"
_NS = {"a": "http://www.iana.org/assignments"}
REVERSE_PEN = 29305
LIST_TYPES = ("basicList", "subTemplateList", "subTemplateMultiList")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


@cache
def iana_types() -> dict[int, str]:
    """IE id -> abstract data type, for every IANA IE that has one."""
    root = ET.parse(REGISTRY).getroot()
    registry = root.find("a:registry[@id='ipfix-information-elements']", _NS)
    assert registry is not None
    out = {}
    for r in registry.findall("a:record", _NS):
        ie, dtype = (r.findtext(f"a:{k}", "", _NS).strip() for k in ("elementId", "dataType"))
        if ie.isdigit() and dtype:
            out[int(ie)] = dtype
    return out


def iana_type(pen: int, fid: int) -> str | None:
    """The IE's IANA abstract data type; None for an enterprise IE."""
    return iana_types().get(fid) if pen in (0, REVERSE_PEN) else None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def type_ok(dtype: str, value: Any) -> bool:
    """Whether ``value`` has the Python type of abstract data type ``dtype``."""
    if dtype.startswith(("unsigned", "signed")):
        return _is_int(value)
    if dtype.startswith("float"):
        return isinstance(value, float)
    if dtype == "boolean":
        return isinstance(value, bool)
    if dtype == "macAddress":
        return isinstance(value, str) and _MAC.fullmatch(value) is not None
    if dtype == "string":
        return isinstance(value, str)
    if dtype == "octetArray":
        return isinstance(value, bytes)
    if dtype.startswith("dateTime"):
        return isinstance(value, datetime)
    if dtype == "ipv4Address":
        return isinstance(value, ipaddress.IPv4Address)
    if dtype == "ipv6Address":
        return isinstance(value, ipaddress.IPv6Address)
    if dtype == "basicList":
        return isinstance(value, BasicList)
    if dtype == "subTemplateList":
        return isinstance(value, list) and all(isinstance(r, dict) for r in value)
    if dtype == "subTemplateMultiList":
        return isinstance(value, list) and all(
            isinstance(e, list) and all(isinstance(r, dict) for r in e) for e in value
        )
    raise AssertionError(f"abstract data type {dtype!r} has no Python type here")


def wrong_type(value: Any, pen: int, fid: int) -> bool:
    """True when the IE has an IANA type and ``value`` is not of it."""
    dtype = iana_type(pen, fid)
    return dtype is not None and not type_ok(dtype, value)
