"""RFC 6313 structured data: basicList, subTemplateList, subTemplateMultiList,
nested, with a depth limit; and the real YAF samples that carry them."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest

import ferrofix as ff
from ipfixmsg import VARLEN, field, message, set_, template_record, template_set, uint, varlen

DATA = Path(__file__).resolve().parents[1] / "data" / "ipfix"


def basic_list(ie_id: int, elem_len: int, elems: bytes, semantic: int = 3) -> bytes:
    return struct.pack("!BHH", semantic, ie_id, elem_len) + elems


def test_basic_list_fixed_and_varlen_elements() -> None:
    # 291 basicList carrying sourceIPv4Address x2; then one of interfaceName (varlen)
    l1 = basic_list(8, 4, bytes([10, 0, 0, 1, 10, 0, 0, 2]))
    l2 = basic_list(82, VARLEN, varlen(b"eth0") + varlen(b"eth1"))
    fields = [field(291, VARLEN), field(291, VARLEN)]
    msg = message([template_set(template_record(256, fields)), set_(256, varlen(l1) + varlen(l2))])
    (rec,) = ff.iter_records(msg)
    a = ipaddress.IPv4Address
    # same IE twice: a dict keeps the first occurrence; as_="fields" has both
    assert rec == {"basicList": [a("10.0.0.1"), a("10.0.0.2")]}
    (f,) = ff.iter_records(msg, as_="fields")
    assert f[0][2] == [ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Address("10.0.0.2")]
    assert f[1][2] == ["eth0", "eth1"]


def test_sub_template_list_and_multi_list_nested() -> None:
    inner = template_record(300, [field(8, 4), field(1, 8)])
    inner2 = template_record(301, [field(291, VARLEN)])
    outer = template_record(256, [field(292, VARLEN), field(293, VARLEN)])
    stl = struct.pack("!BH", 0xFF, 300) + bytes([1, 1, 1, 1]) + uint(5, 8)
    stl += bytes([2, 2, 2, 2]) + uint(6, 8)
    nested_basic = basic_list(7, 2, uint(80, 2) + uint(443, 2))
    entry1 = bytes([3, 3, 3, 3]) + uint(7, 8)
    entry2 = varlen(nested_basic)
    stml = struct.pack("!B", 3)
    stml += struct.pack("!HH", 300, 4 + len(entry1)) + entry1
    stml += struct.pack("!HH", 301, 4 + len(entry2)) + entry2
    msg = message([template_set(inner, inner2, outer), set_(256, varlen(stl) + varlen(stml))])
    (rec,) = ff.iter_records(msg)
    a = ipaddress.IPv4Address
    assert rec["subTemplateList"] == [
        {"sourceIPv4Address": a("1.1.1.1"), "octetDeltaCount": 5},
        {"sourceIPv4Address": a("2.2.2.2"), "octetDeltaCount": 6},
    ]
    assert rec["subTemplateMultiList"] == [
        [{"sourceIPv4Address": a("3.3.3.3"), "octetDeltaCount": 7}],
        [{"basicList": [80, 443]}],
    ]


def test_empty_lists_and_zero_length_elements() -> None:
    fields = [field(291, VARLEN), field(292, VARLEN)]
    t = template_record(256, fields)
    data = varlen(basic_list(8, 4, b"")) + varlen(struct.pack("!BH", 0, 256))
    (rec,) = ff.iter_records(message([template_set(t), set_(256, data)]))
    assert rec == {"basicList": [], "subTemplateList": []}
    # zero-length elements with content cannot be counted: malformed, not a loop
    bad = varlen(basic_list(8, 0, b"\x01")) + varlen(struct.pack("!BH", 0, 256))
    msg = message([template_set(t), set_(256, bad)])
    with pytest.raises(ff.DecodeError, match="zero-length"):
        list(ff.iter_records(msg))


def test_missing_sub_template_is_reported_at_its_offset() -> None:
    t = template_record(256, [field(292, VARLEN)])
    stl = struct.pack("!BH", 0, 999) + b"\x00" * 4
    msg = message([template_set(t), set_(256, varlen(stl))])
    with pytest.raises(ff.DecodeError, match="sub-template 999") as ei:
        list(ff.iter_records(msg))
    assert ei.value.offset == 16 + 12 + 4 + 1  # the list value, after its varlen prefix
    (rec,) = ff.iter_records(msg, on_bad_records="skip")
    assert rec == {"subTemplateList": stl}


def test_depth_limit() -> None:
    # template 256 holds a subTemplateList of template 256 ... nested 5 deep
    t = template_record(256, [field(292, VARLEN)])
    value = struct.pack("!BH", 0, 256)  # innermost: empty list
    for _ in range(5):
        value = struct.pack("!BH", 0, 256) + varlen(value)
    msg = message([template_set(t), set_(256, varlen(value))])
    assert len(list(ff.iter_records(msg))) == 1
    with pytest.raises(ff.DecodeError, match="nested deeper than 3"):
        list(ff.Reader(msg, max_list_depth=3))


YAF_TEMPLATES = [
    "logstash-codec-netflow__ipfix_test_yaf_tpl45841.dat",
    "logstash-codec-netflow__ipfix_test_yaf_tpls_option_tpl.dat",
]


@pytest.mark.parametrize("name", ["45841", "45873"])
def test_real_yaf_flows_with_sub_template_multi_list(name: str) -> None:
    src = b"".join((DATA / f).read_bytes() for f in YAF_TEMPLATES)
    src += (DATA / f"logstash-codec-netflow__ipfix_test_yaf_data{name}.dat").read_bytes()
    r = ff.Reader(src)
    (rec,) = list(r.records(records="data"))
    stml = rec["subTemplateMultiList"]
    assert isinstance(stml, list) and stml and all(isinstance(e, list) for e in stml)
    macs = stml[0][0]
    assert set(macs) == {"sourceMacAddress", "destinationMacAddress"}
    # CERT IEs by name from the bundled spec file; reverse via RFC 5103
    assert "silkAppLabel" in rec and "reverseOctetTotalCount" in rec
    assert r.health.problems_skipped == 0 and r.health.malformed_values == 0


def test_records_holding_lists_stay_tracked() -> None:
    import gc

    t = template_record(256, [field(291, VARLEN)])
    msg = message([template_set(t), set_(256, varlen(basic_list(7, 2, uint(80, 2))))])
    (rec,) = ff.iter_records(msg)
    assert rec == {"basicList": [80]}
    assert gc.is_tracked(rec)  # its list could be made to refer back to it
