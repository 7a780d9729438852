"""The generated IANA table matches the vendored registry (house rule 4)."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
XML_PATH = REPO / "data" / "iana" / "ipfix.xml"
TABLE_PATH = REPO / "src" / "model" / "iana_table.rs"
NS = {"a": "http://www.iana.org/assignments"}


def test_generated_table_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_iana.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _registry_records() -> list[ET.Element]:
    root = ET.parse(XML_PATH).getroot()
    registry = root.find("a:registry[@id='ipfix-information-elements']", NS)
    assert registry is not None
    return registry.findall("a:record", NS)


def _row(ie_id: int, table: str) -> str:
    match = re.search(rf"^\s*IanaEntry \{{ id: {ie_id}, .*$", table, re.MULTILINE)
    assert match is not None, f"no row for id {ie_id}"
    return match.group(0)


def test_known_rows_and_count_match_registry() -> None:
    table = TABLE_PATH.read_text(encoding="utf-8")
    records = _registry_records()

    expected = [
        r
        for r in records
        if (r.findtext("a:elementId", "", NS) or "").strip().isdigit()
        and (r.findtext("a:dataType", "", NS) or "").strip()
    ]
    assert len(expected) > 400
    assert table.count("IanaEntry {") == len(expected)

    by_id = {int(r.findtext("a:elementId", "", NS).strip()): r for r in expected}
    assert by_id[1].findtext("a:name", "", NS).strip() == "octetDeltaCount"

    row = _row(1, table)
    for part in (
        'name: "octetDeltaCount"',
        "DataType::Unsigned64",
        "Semantics::DeltaCounter",
        'units: "octets"',
        "Status::Current",
    ):
        assert part in row
    for ie_id, name, variant in (
        (8, "sourceIPv4Address", "Ipv4Address"),
        (152, "flowStartMilliseconds", "DateTimeMilliseconds"),
        (291, "basicList", "BasicList"),
        (292, "subTemplateList", "SubTemplateList"),
        (293, "subTemplateMultiList", "SubTemplateMultiList"),
    ):
        assert by_id[ie_id].findtext("a:name", "", NS).strip() == name
        row = _row(ie_id, table)
        assert f'name: "{name}"' in row
        assert f"data_type: DataType::{variant}," in row

    root = ET.parse(XML_PATH).getroot()
    updated = root.findtext("a:updated", "", NS).strip()
    assert f'pub const IANA_REGISTRY_UPDATED: &str = "{updated}";' in table
