"""python-ipfix's ``ipfix.ieutils``: IESpec helpers.

Deliberate difference from python-ipfix 0.9.7, with its reason:

1. ``iana_xml_to_iespec(uri)`` reads the IANA registry XML from a local
   path or file URL only (no network: ferrofix works offline, and its own
   IANA snapshot is what :func:`ferrofix.compat.ie.use_iana_default`
   loads); called without an argument it returns that snapshot's IESpecs.
   IEs whose type has no python-ipfix type are kept as octetArray
   (python-ipfix dropped them silently).
"""

from __future__ import annotations

import xml.etree.ElementTree as etree
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

from . import ie

_NS = {"iana": "http://www.iana.org/assignments"}


def _spec(name: str, num: int, typename: str) -> str:
    t = ie._type_for(typename)
    return f"{name}({num})<{t.name}>[{t.length}]"


def iana_xml_to_iespec(uri: str | None = None) -> list[str]:
    """IESpecs of the IANA IPFIX registry: of the XML at ``uri`` (a path or
    ``file:`` URL), or of ferrofix's snapshot when ``uri`` is None."""
    if uri is None:
        return [_spec(name, num, typename) for name, num, typename in ie._iana()]
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"{uri}: ferrofix.compat reads the IANA registry from a local file only")
    path = Path(parsed.path if parsed.scheme == "file" else uri)
    root = etree.parse(path).getroot()
    out = []
    for rec in root.iterfind("iana:registry[@id='ipfix-information-elements']/iana:record", _NS):
        name = rec.findtext("iana:name", None, _NS)
        typename = rec.findtext("iana:dataType", None, _NS)
        num = rec.findtext("iana:elementId", None, _NS)
        if name and typename and num and num.isdigit():
            out.append(_spec(name, int(num), typename))
    return out


def reverse_iespec(iespec: str) -> str:
    """The RFC 5103 reverse counterpart of an IESpec: PEN 29305 for an IANA
    IE, the enterprise IE's number with bit 14 set otherwise."""
    name, pen, num, typename, length = ie.parse_spec(iespec)
    if not name:
        raise ValueError(f"{iespec}: a reverse IESpec needs a name")
    revname = ie._reverse_name(name)
    if pen:
        num |= 0x4000
    else:
        pen = ie.REVERSE_PEN
    return f"{revname}({pen}/{num})<{typename}>[{length}]"


def write_specfile(filename: str, iespecs: Iterable[str]) -> None:
    """Write IESpecs to a spec file, one a line."""
    with open(filename, "w", encoding="utf-8") as f:
        for spec in iespecs:
            f.write(spec)
            f.write("\n")
