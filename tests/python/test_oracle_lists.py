"""RFC 6313 lists decoded by ferrofix against libfixbuf's ipfixDump, which
decodes them (tshark shows them as octets). ``oracle_dump.compare_list``
compares a basicList's semantic, item IE and items, a subTemplateList's
records and a subTemplateMultiList's entries and their records, nested
lists the same way; ferrofix's record path gives no semantic or template
id for a subTemplate(Multi)List, so those two are not compared.

The real fixtures with lists (YAF's subTemplateMultiLists) are compared
from the committed ipfixDump output (``test_oracle.py`` does so for every
field; here: that their lists really were compared). Messages built here
with every list type, nested, empty, and basicLists of several item types,
are compared with ipfixDump run live (skipped where it is not installed).
"""

from __future__ import annotations

import ipaddress
import shutil
import struct
import subprocess
from typing import Any

import pytest
from test_lists import _nested_message, basic_list

import ferrofix as ff
import oracle as oc
import oracle_dump as od
from ipfixmsg import VARLEN, field, message, set_, template_record, template_set, uint, varlen

LIST_TYPES = ("bl", "stl", "stml")


def _list_verdicts(ours: list[Any], dump: od.IpfixDump) -> list[tuple[str, int, Any]]:
    """(type, records inside, verdict) of every list field of the records."""
    assert len(ours) == len(dump.records)
    out = []
    for fields, rec in zip(ours, dump.records, strict=True):
        assert [(p, i) for p, i, _v in fields] == [(f.pen, f.id) for f in rec.fields]
        for (_p, _i, value), f in zip(fields, rec.fields, strict=True):
            if f.type in LIST_TYPES:
                inside = len(f.children) + len(f.items)
                out.append((f.type, inside, od.compare_ipfixdump(value, f)))
    return out


def test_the_fixtures_lists_are_compared_with_ipfixdump() -> None:
    """YAF's two flow records each carry a subTemplateMultiList of one
    entry holding one record (source and destination MAC): compared, not
    skipped."""
    got = []
    for case in oc.load_cases():
        dump = od.load_ipfixdump(case)
        if dump is None:
            continue
        ours = [
            f
            for _m, f in ff.Reader(case.data(), on_bad_records="skip").records(
                meta=True, as_="fields", records="all"
            )
        ]
        got += [(case.name, *v) for v in _list_verdicts(ours, dump)]
    assert [(n.split("_data")[-1], t, k, v) for n, t, k, v in got] == [
        ("45841.dat", "stml", 1, True),
        ("45873.dat", "stml", 1, True),
    ]


def _basic_lists_message() -> bytes:
    """basicLists of unsigned16, IPv4 and IPv6 addresses, MAC addresses,
    strings (variable length), with several semantics; one empty."""
    t = template_record(256, [field(291, VARLEN)] * 5)
    v4 = b"".join(ipaddress.IPv4Address(a).packed for a in ("10.0.0.1", "192.0.2.77"))
    v6 = ipaddress.IPv6Address("2001:db8::1").packed
    macs = bytes.fromhex("00163e1122330a0b0c0d0e0f")
    lists = [
        basic_list(7, 2, uint(80, 2) + uint(443, 2) + uint(65535, 2), semantic=4),
        basic_list(8, 4, v4, semantic=0),
        basic_list(27, 16, v6, semantic=1),
        basic_list(56, 6, macs, semantic=2),
        basic_list(82, VARLEN, varlen(b"eth0") + varlen("wlan\u00e9".encode()) + varlen(b"")),
    ]
    empty = basic_list(8, 4, b"", semantic=255)
    return message(
        [
            template_set(t),
            set_(256, b"".join(varlen(x) for x in lists)),
            set_(256, b"".join(varlen(x) for x in [lists[0], empty, *lists[2:]])),
        ]
    )


def _deep_message() -> bytes:
    """A subTemplateList of records that hold a subTemplateMultiList whose
    entries hold basicLists and plain fields."""
    inner_a = template_record(300, [field(4, 1), field(291, VARLEN)])
    inner_b = template_record(301, [field(82, VARLEN), field(1, 8)])
    middle = template_record(302, [field(293, VARLEN), field(12, 4)])
    outer = template_record(256, [field(292, VARLEN), field(2, 8)])
    entry_a = uint(6, 1) + varlen(basic_list(11, 2, uint(53, 2) + uint(123, 2)))
    entry_a += uint(17, 1) + varlen(basic_list(11, 2, b""))
    entry_b = varlen(b"ge-0/0/1") + uint(2**40 + 5, 8)
    stml = struct.pack("!B", 2)
    stml += struct.pack("!HH", 300, 4 + len(entry_a)) + entry_a
    stml += struct.pack("!HH", 301, 4 + len(entry_b)) + entry_b
    rec = varlen(stml) + bytes([198, 51, 100, 7])
    stl = struct.pack("!BH", 3, 302) + rec + rec
    return message(
        [template_set(inner_a, inner_b, middle, outer), set_(256, varlen(stl) + uint(9, 8))]
    )


@pytest.mark.skipif(shutil.which("ipfixDump") is None, reason="ipfixDump is not installed")
@pytest.mark.parametrize(
    ("name", "build", "expected"),
    [
        ("nested", _nested_message, ["stl", "stml", "stl", "stml"]),
        ("basic", _basic_lists_message, ["bl"] * 10),
        ("deep", _deep_message, ["stl"]),
    ],
)
def test_lists_against_ipfixdump_live(name: str, build: Any, expected: list[str]) -> None:
    data = build()
    proc = subprocess.run(["ipfixDump", "-y"], input=data, capture_output=True, check=False)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr.decode(errors="replace")
    dump = od.parse_ipfixdump(proc.stdout)
    reader = ff.Reader(data)
    ours = list(reader.records(as_="fields", records="all"))
    assert reader.health.malformed_values == 0
    got = _list_verdicts(ours, dump)
    assert [t for t, _k, _v in got] == expected, name
    assert all(v is True for _t, _k, v in got), got
    assert sum(k for _t, k, _v in got) > 0
