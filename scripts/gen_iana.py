#!/usr/bin/env python3
"""Generate src/model/iana_table.rs from the vendored IANA IPFIX registry.

Usage (from anywhere; paths are relative to the repository root):

    python3 scripts/gen_iana.py            # (re)write src/model/iana_table.rs
    python3 scripts/gen_iana.py --check    # exit 1 if the committed file is stale

Input is data/iana/ipfix.xml (see data/iana/SOURCE.md). Only records of the
"ipfix-information-elements" sub-registry with a single numeric elementId and a
dataType become rows (RFC 7012 §4); ranges, "Reserved"/"Unassigned" rows and
the NetFlow v9 placeholders are skipped. An unknown dataType or semantics
aborts the run, so registry drift is noticed rather than silently dropped.

Python 3.11 standard library only. Output is deterministic (sorted by id) and
already rustfmt-clean: the table is one struct literal per line under
`#[rustfmt::skip]`, so a registry update shows up as one-line diffs.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
XML_PATH = REPO / "data" / "iana" / "ipfix.xml"
OUT_PATH = REPO / "src" / "model" / "iana_table.rs"

NS = {"a": "http://www.iana.org/assignments"}
IE_REGISTRY_ID = "ipfix-information-elements"
MAX_IE_ID = 0x7FFF  # RFC 7011 §3.2: the top bit of a field id is the enterprise bit
DIFF_LINES_SHOWN = 40

# Registry dataType name -> `DataType` variant (src/model/types.rs).
DATA_TYPES = {
    "octetArray": "OctetArray",
    "unsigned8": "Unsigned8",
    "unsigned16": "Unsigned16",
    "unsigned32": "Unsigned32",
    "unsigned64": "Unsigned64",
    "signed8": "Signed8",
    "signed16": "Signed16",
    "signed32": "Signed32",
    "signed64": "Signed64",
    "float32": "Float32",
    "float64": "Float64",
    "boolean": "Boolean",
    "macAddress": "MacAddress",
    "string": "String",
    "dateTimeSeconds": "DateTimeSeconds",
    "dateTimeMilliseconds": "DateTimeMilliseconds",
    "dateTimeMicroseconds": "DateTimeMicroseconds",
    "dateTimeNanoseconds": "DateTimeNanoseconds",
    "ipv4Address": "Ipv4Address",
    "ipv6Address": "Ipv6Address",
    "basicList": "BasicList",
    "subTemplateList": "SubTemplateList",
    "subTemplateMultiList": "SubTemplateMultiList",
    "unsigned256": "Unsigned256",
}

# Registry dataTypeSemantics name -> `Semantics` variant (RFC 7012 §3.2).
SEMANTICS = {
    "default": "Default",
    "quantity": "Quantity",
    "totalCounter": "TotalCounter",
    "deltaCounter": "DeltaCounter",
    "identifier": "Identifier",
    "flags": "Flags",
    "list": "List",
    "snmpCounter": "SnmpCounter",
    "snmpGauge": "SnmpGauge",
}


class RegistryError(Exception):
    """The registry holds something this generator does not understand."""


@dataclass(frozen=True)
class Entry:
    id: int
    name: str
    data_type: str
    semantics: str
    units: str
    status: str


def _text(rec: ET.Element, tag: str) -> str | None:
    """Text of a child element, whitespace-trimmed (the XML wraps some names)."""
    value = rec.findtext(f"a:{tag}", None, NS)
    return None if value is None else value.strip()


def _rust_str(value: str, where: str) -> str:
    """A Rust string literal; refuses unprintable characters rather than guess."""
    if not value.isprintable():
        raise RegistryError(f"{where}: unprintable character in {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_registry(xml_path: Path) -> tuple[str, list[Entry]]:
    """Return (updated date, rows sorted by id) from the IANA ipfix.xml."""
    root = ET.parse(xml_path).getroot()
    updated = _text(root, "updated")
    if not updated:
        raise RegistryError(f"{xml_path}: no top-level <updated>")
    registry = root.find(f"a:registry[@id='{IE_REGISTRY_ID}']", NS)
    if registry is None:
        raise RegistryError(f"{xml_path}: no <registry id={IE_REGISTRY_ID!r}>")

    entries: dict[int, Entry] = {}
    for rec in registry.findall("a:record", NS):
        element_id = _text(rec, "elementId") or ""
        data_type = _text(rec, "dataType")
        if not element_id.isdigit() or not data_type:
            continue  # ranges, Reserved/Unassigned, v9 placeholders, withdrawn rows
        ie_id = int(element_id)
        name = _text(rec, "name") or ""
        where = f"elementId {ie_id} ({name or 'no name'})"
        if not name:
            raise RegistryError(f"{where}: record has a dataType but no name")
        if ie_id > MAX_IE_ID:
            raise RegistryError(f"{where}: id does not fit 15 bits")
        if ie_id in entries:
            raise RegistryError(f"{where}: duplicate id (also {entries[ie_id].name})")
        if data_type not in DATA_TYPES:
            raise RegistryError(f"{where}: unknown dataType {data_type!r}")
        semantics = _text(rec, "dataTypeSemantics") or "default"
        if semantics not in SEMANTICS:
            raise RegistryError(f"{where}: unknown dataTypeSemantics {semantics!r}")
        status = "Deprecated" if _text(rec, "status") == "deprecated" else "Current"
        entries[ie_id] = Entry(
            id=ie_id,
            name=_rust_str(name, where),
            data_type=DATA_TYPES[data_type],
            semantics=SEMANTICS[semantics],
            units=_rust_str(_text(rec, "units") or "", where),
            status=status,
        )
    if not entries:
        raise RegistryError(f"{xml_path}: no Information Elements found")
    return updated, [entries[k] for k in sorted(entries)]


def render(updated: str, entries: list[Entry]) -> str:
    """The full text of iana_table.rs."""
    lines = [
        "//! The IANA IPFIX Information Elements (RFC 7012 §4), one row per element",
        "//! id, sorted by id.",
        "//!",
        "//! Generated by `scripts/gen_iana.py` from `data/iana/ipfix.xml` (registry",
        f"//! updated {updated}). Do not edit: regenerate with",
        "//! `python3 scripts/gen_iana.py`; `tests/python/test_iana_drift.py` fails",
        "//! when this file and the snapshot disagree.",
        "",
        "use super::types::{DataType, IanaEntry, Semantics, Status};",
        "",
        "/// The `<updated>` date of the vendored registry snapshot.",
        f"pub const IANA_REGISTRY_UPDATED: &str = {_rust_str(updated, 'updated')};",
        "",
        "/// Every registry record with a single element id and a data type.",
        "#[rustfmt::skip]",
        "pub static IANA_IES: &[IanaEntry] = &[",
    ]
    for e in entries:
        lines.append(
            f"    IanaEntry {{ id: {e.id}, name: {e.name}, "
            f"data_type: DataType::{e.data_type}, semantics: Semantics::{e.semantics}, "
            f"units: {e.units}, status: Status::{e.status} }},"
        )
    lines.append("];")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the committed file differs from the generated one",
    )
    args = parser.parse_args(argv)

    try:
        updated, entries = parse_registry(XML_PATH)
    except (RegistryError, ET.ParseError, OSError) as exc:
        print(f"gen_iana.py: error: {exc}", file=sys.stderr)
        return 2
    text = render(updated, entries)
    rel_out = OUT_PATH.relative_to(REPO)

    if args.check:
        try:
            current = OUT_PATH.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = ""
        if current == text:
            print(f"{rel_out} is up to date ({len(entries)} IEs, registry {updated})")
            return 0
        diff = list(
            difflib.unified_diff(
                current.splitlines(),
                text.splitlines(),
                f"{rel_out} (committed)",
                f"{rel_out} (generated)",
                lineterm="",
                n=0,
            )
        )
        shown = "\n".join(diff[:DIFF_LINES_SHOWN])
        hidden = len(diff) - DIFF_LINES_SHOWN
        more = f"\n... {hidden} more diff lines" if hidden > 0 else ""
        print(
            f"gen_iana.py: {rel_out} is out of date with {XML_PATH.relative_to(REPO)};"
            f" run `python3 scripts/gen_iana.py` and commit the result.\n{shown}{more}",
            file=sys.stderr,
        )
        return 1

    OUT_PATH.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {rel_out}: {len(entries)} IEs, registry updated {updated}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
