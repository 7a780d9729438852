#!/usr/bin/env python3
"""Generate python/ferrofix/specs/cert.iespec from libfixbuf's CERT registry XML.

Usage (paths are relative to the repository root):

    python3 scripts/gen_cert_spec.py            # (re)write python/ferrofix/specs/cert.iespec
    python3 scripts/gen_cert_spec.py --check    # exit 1 if the committed file is stale

The input is CERT's enterprise registry (PEN 6871, the IEs YAF, super_mediator
and SiLK export) as shipped by libfixbuf: /usr/share/libfixbuf/cert_ipfix.xml
from Debian's libfixbuf-tools (`apt-get install libfixbuf-tools`). It is the
same XML dialect as IANA's registry. Every record with a single numeric
elementId and a dataType becomes one python-ipfix IESpec line,
`name(6871/num)<type>`, sorted by number; ranges, Reserved and Unassigned rows
are skipped. Reverse IEs are not invented here: the information model derives
them with the RFC 5103 §6.2 rule (bit 14 set). An unknown dataType aborts the
run.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from gen_iana import DATA_TYPES, MAX_IE_ID

REPO = Path(__file__).resolve().parents[1]
DEFAULT_XML = Path("/usr/share/libfixbuf/cert_ipfix.xml")
OUT_PATH = REPO / "python" / "ferrofix" / "specs" / "cert.iespec"
DEBIAN_PACKAGE = "libfixbuf-tools"

NS = {"a": "http://www.iana.org/assignments", "cert": "http://www.cert.org/ipfix"}
CERT_PEN = 6871


class RegistryError(Exception):
    """The XML holds something this generator does not understand."""


def _text(rec: ET.Element, tag: str) -> str | None:
    value = rec.findtext(tag, None, NS)
    return None if value is None else value.strip()


def debian_version() -> str | None:
    """Installed version of the Debian package that ships the XML, if any."""
    if shutil.which("dpkg-query") is None:
        return None
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", DEBIAN_PACKAGE],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def parse_cert(xml_path: Path) -> tuple[str, list[str]]:
    """Return (registry updated date, IESpec lines sorted by number)."""
    root = ET.parse(xml_path).getroot()
    updated = _text(root, "a:updated") or "unknown"
    specs: dict[int, str] = {}
    for rec in root.iter(f"{{{NS['a']}}}record"):
        element_id = _text(rec, "a:elementId") or ""
        data_type = _text(rec, "a:dataType")
        if not element_id.isdigit() or not data_type:
            continue  # Reserved, Unassigned ranges
        ie_id = int(element_id)
        name = _text(rec, "a:name") or ""
        where = f"elementId {ie_id} ({name or 'no name'})"
        pen = _text(rec, "cert:enterpriseId")
        if pen != str(CERT_PEN):
            raise RegistryError(f"{where}: enterpriseId {pen!r}, expected {CERT_PEN}")
        if not name or any(c.isspace() or c in "()<>[]" for c in name):
            raise RegistryError(f"{where}: name cannot be written as an IESpec")
        if ie_id > MAX_IE_ID:
            raise RegistryError(f"{where}: id does not fit 15 bits")
        if ie_id in specs:
            raise RegistryError(f"{where}: duplicate id")
        if data_type not in DATA_TYPES:
            raise RegistryError(f"{where}: unknown dataType {data_type!r}")
        specs[ie_id] = f"{name}({CERT_PEN}/{ie_id})<{data_type}>"
    if not specs:
        raise RegistryError(f"{xml_path}: no Information Elements found")
    return updated, [specs[k] for k in sorted(specs)]


def render(xml_path: Path, version: str, updated: str, specs: list[str]) -> str:
    digest = hashlib.sha256(xml_path.read_bytes()).hexdigest()
    upstream = re.split(r"[+-]", version, maxsplit=1)[0]  # Debian 2.4.1+ds-2 -> 2.4.1
    header = [
        f"# CERT enterprise Information Elements (PEN {CERT_PEN}), python-ipfix IESpec",
        "# format `name(pen/num)<type>`, one per line, sorted by number.",
        "#",
        f"# Generated from libfixbuf {upstream}'s cert_ipfix.xml (Debian package",
        f"# {DEBIAN_PACKAGE} {version}, {xml_path.name} updated {updated},",
        f"# sha256 {digest}) by:",
        "#   python3 scripts/gen_cert_spec.py",
        "# Do not edit. Reverse IEs follow from RFC 5103 §6.2 (number | 0x4000).",
    ]
    return "\n".join(header + specs) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the committed file differs from the generated one",
    )
    parser.add_argument(
        "--input",
        type=Path,
        default=DEFAULT_XML,
        help=f"cert_ipfix.xml to read (default {DEFAULT_XML})",
    )
    parser.add_argument(
        "--libfixbuf-version",
        help=f"version to name in the header (default: installed {DEBIAN_PACKAGE})",
    )
    args = parser.parse_args(argv)

    version = args.libfixbuf_version or debian_version()
    if version is None:
        print(
            f"gen_cert_spec.py: error: {DEBIAN_PACKAGE} is not installed;"
            f" run `apt-get install {DEBIAN_PACKAGE}` or pass --libfixbuf-version",
            file=sys.stderr,
        )
        return 2
    try:
        updated, specs = parse_cert(args.input)
        text = render(args.input, version, updated, specs)
    except (RegistryError, ET.ParseError, OSError) as exc:
        print(f"gen_cert_spec.py: error: {exc}", file=sys.stderr)
        return 2
    rel_out = OUT_PATH.relative_to(REPO)

    if args.check:
        try:
            current = OUT_PATH.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = ""
        if current != text:
            print(
                f"gen_cert_spec.py: {rel_out} differs from what {args.input} gives;"
                " run `python3 scripts/gen_cert_spec.py`",
                file=sys.stderr,
            )
            return 1
        print(f"{rel_out} is up to date ({len(specs)} IEs)")
        return 0

    OUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    OUT_PATH.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {rel_out}: {len(specs)} IEs from {args.input}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
