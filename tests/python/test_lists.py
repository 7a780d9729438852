"""RFC 6313 structured data: basicList, subTemplateList, subTemplateMultiList,
nested, with a depth limit; and the real YAF samples that carry them."""

from __future__ import annotations

import ipaddress
import struct
import warnings
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
    # same IE twice: one key per occurrence (`name`, `name.1`)
    assert rec == {"basicList": [a("10.0.0.1"), a("10.0.0.2")], "basicList.1": ["eth0", "eth1"]}
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


def _nested_message() -> bytes:
    """Template 256: a subTemplateList of template 300 records, and a
    subTemplateMultiList with a block of 300 and a block of 301 (whose one
    field is a basicList of sourceTransportPort). Template 257 has no list."""
    inner = template_record(300, [field(8, 4), field(1, 8)])
    inner2 = template_record(301, [field(291, VARLEN)])
    outer = template_record(256, [field(292, VARLEN), field(293, VARLEN)])
    plain = template_record(257, [field(1, 8)])
    stl = struct.pack("!BH", 0xFF, 300) + bytes([1, 1, 1, 1]) + uint(5, 8)
    stl += bytes([2, 2, 2, 2]) + uint(6, 8)
    entry1 = bytes([3, 3, 3, 3]) + uint(7, 8)
    entry2 = varlen(basic_list(7, 2, uint(80, 2) + uint(443, 2)))
    stml = struct.pack("!B", 3)
    stml += struct.pack("!HH", 300, 4 + len(entry1)) + entry1
    stml += struct.pack("!HH", 301, 4 + len(entry2)) + entry2
    empty_stl = struct.pack("!BH", 0xFF, 300)
    return message(
        [
            template_set(inner, inner2, outer, plain),
            set_(256, varlen(stl) + varlen(stml)),
            set_(257, uint(9, 8)),
            set_(256, varlen(empty_stl) + varlen(struct.pack("!B", 3))),
        ]
    )


def test_lists_as_nested_arrow_columns() -> None:
    pa = pytest.importorskip("pyarrow")
    t = ff.scan_ipfix(_nested_message()).to_arrow()
    stl_type = t.schema.field("subTemplateList").type
    assert pa.types.is_list(stl_type) and pa.types.is_struct(stl_type.value_type)
    assert [f.name for f in stl_type.value_type] == ["sourceIPv4Address", "octetDeltaCount"]
    assert stl_type.value_type.field("octetDeltaCount").type == pa.uint64()
    # The element IEs keep their identity in the field metadata.
    assert stl_type.value_type.field("octetDeltaCount").metadata[b"ipfix.id"] == b"1"
    stml_type = t.schema.field("subTemplateMultiList").type
    basic = stml_type.value_type.field("basicList").type
    # A basicList of one scalar IE is list<T>, its item named by the IE.
    assert basic.value_type == pa.uint16() and basic.value_field.name == "sourceTransportPort"
    assert t.column("subTemplateList").to_pylist() == [
        [
            {"sourceIPv4Address": "1.1.1.1", "octetDeltaCount": 5},
            {"sourceIPv4Address": "2.2.2.2", "octetDeltaCount": 6},
        ],
        None,
        [],
    ]
    assert t.column("subTemplateMultiList").to_pylist() == [
        [
            {"sourceIPv4Address": "3.3.3.3", "octetDeltaCount": 7, "basicList": None},
            {"sourceIPv4Address": None, "octetDeltaCount": None, "basicList": [80, 443]},
        ],
        None,
        [],
    ]
    assert t.column("octetDeltaCount").to_pylist() == [None, 9, None]


def test_nested_columns_reach_pandas_polars_and_duckdb() -> None:
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    msg = _nested_message()
    df = ff.read_ipfix(msg)
    assert isinstance(df["subTemplateList"].dtype, pd.ArrowDtype)
    assert df["subTemplateList"].iloc[0][1]["octetDeltaCount"] == 6
    frame = pl.DataFrame(ff.scan_ipfix(msg))
    stl = frame.schema["subTemplateList"]
    assert isinstance(stl, pl.List) and isinstance(stl.inner, pl.Struct)
    elements = frame.select("subTemplateMultiList").explode("subTemplateMultiList")
    ports = elements.unnest("subTemplateMultiList")["basicList"]
    assert ports.to_list()[1] == [80, 443]
    stream = ff.scan_ipfix(msg)  # noqa: F841 (read by DuckDB by name)
    total = duckdb.sql(
        "select sum(e.octetDeltaCount) from (select unnest(subTemplateList) as e from stream)"
    ).fetchall()
    assert total == [(11,)]


def test_a_malformed_list_under_each_policy() -> None:
    inner = template_record(300, [field(1, 8)])
    outer = template_record(256, [field(292, VARLEN), field(2, 8)])
    good = struct.pack("!BH", 0xFF, 300) + uint(5, 8)
    missing = struct.pack("!BH", 0xFF, 999) + uint(5, 8)  # template 999 unknown
    first = message([template_set(inner, outer), set_(256, varlen(good) + uint(1, 8))])
    second = message([set_(256, varlen(missing) + uint(2, 8))])
    data = first + second
    with pytest.raises(ff.DecodeError) as e:
        ff.scan_ipfix(data).to_arrow()
    # The bad list is the first field of the record after the second
    # message and set headers, after its one-byte varlen length.
    assert e.value.offset == len(first) + 16 + 4 + 1
    assert "subTemplateList" in str(e.value) and "999" in str(e.value)
    for policy in ("skip", "warn"):
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            t = ff.scan_ipfix(data, on_bad_records=policy).to_arrow()  # type: ignore[arg-type]
        assert t.column("subTemplateList").to_pylist() == [[{"octetDeltaCount": 5}], None]
        assert t.column("packetDeltaCount").to_pylist() == [1, 2]


# -- writing lists (RFC 6313 from nested Arrow columns) ---------------------------


def test_nested_columns_are_written_back_as_lists() -> None:
    pytest.importorskip("pyarrow")
    msg = _nested_message()
    t = ff.scan_ipfix(msg).to_arrow()
    data = ff.write_ipfix(t, export_time=0)
    assert data is not None
    back = ff.scan_ipfix(data).to_arrow()
    assert back.select(t.column_names).to_pylist() == t.to_pylist()
    # The record path sees the same lists as in the hand-built original:
    # a subTemplateMultiList block per template, the nested basicList.
    assert list(ff.iter_records(data)) == list(ff.iter_records(msg, records="data"))


@pytest.mark.parametrize("name", ["45841", "45873"])
def test_real_yaf_lists_are_written_back(name: str) -> None:
    pytest.importorskip("pyarrow")
    src = b"".join((DATA / f).read_bytes() for f in YAF_TEMPLATES)
    src += (DATA / f"logstash-codec-netflow__ipfix_test_yaf_data{name}.dat").read_bytes()
    t = ff.scan_ipfix(src).to_arrow()
    data = ff.write_ipfix(t, export_time=0)
    assert data is not None
    assert list(ff.iter_records(data)) == list(ff.iter_records(src, records="data"))


def test_list_refusals() -> None:
    pa = pytest.importorskip("pyarrow")
    elems = pa.array(
        [
            [
                {"octetDeltaCount": 1, "packetDeltaCount": 2},
                {"octetDeltaCount": 3, "packetDeltaCount": None},
            ]
        ]
    )
    # One subTemplateList holds records of one template.
    with pytest.raises(ff.EncodeError, match=r"one template \(use subTemplateMultiList\)"):
        ff.write_ipfix(pa.table({"subTemplateList": elems}), export_time=0)
    data = ff.write_ipfix(pa.table({"subTemplateMultiList": elems}), export_time=0)
    assert data is not None
    (rec,) = ff.iter_records(data)
    assert rec["subTemplateMultiList"] == [
        [{"octetDeltaCount": 1, "packetDeltaCount": 2}],
        [{"octetDeltaCount": 3}],
    ]
    with pytest.raises(ff.EncodeError, match="needs a list of structs"):
        ff.write_ipfix(pa.table({"subTemplateList": pa.array([[1, 2]])}), export_time=0)
    ports = pa.array([[80, 443]], pa.list_(pa.field("sourceTransportPort", pa.uint16())))
    data = ff.write_ipfix(pa.table({"basicList": ports}), export_time=0)
    assert data is not None
    assert list(ff.iter_records(data)) == [{"basicList": [80, 443]}]


def test_basic_lists_from_python_values() -> None:
    """basicLists of an enterprise IE, of strings, of basicLists (RFC 6313
    §4.5.1 allows any IE as the item) and inside a subTemplateList, written
    from ``BasicList`` values and read back; libfixbuf checks the bytes in
    test_writer_interop."""
    spec = "hops(35566/900)<unsigned16>"
    ports = ff.BasicList("sourceTransportPort", [80, 443], "allOf")
    nested = ff.BasicList("basicList", [ports, ff.BasicList("interfaceName", ["eth0", "é"])])
    inner = [{"basicList": ff.BasicList("hops", [1, 2, 3], 200), "octetDeltaCount": 5}]
    with ff.Writer(export_time=0, specs=[spec]) as w:
        t = w.add_template(["basicList", "subTemplateList"])
        w.write(t, (nested, inner))
        w.write(t, {"basicList": ff.BasicList("hops", []), "subTemplateList": inner})
    data = w.close()
    assert data is not None
    recs = list(ff.iter_records(data, records="data", specs=[spec]))
    assert recs == [
        {"basicList": [[80, 443], ["eth0", "é"]], "subTemplateList": inner},
        {"basicList": [], "subTemplateList": inner},
    ]
    got = recs[0]["basicList"]
    assert (got.ie, got[0].ie, got[0].semantic, got[1].ie) == (
        "basicList",
        "sourceTransportPort",
        "allOf",
        "interfaceName",
    )
    hops = recs[0]["subTemplateList"][0]["basicList"]
    assert (hops.ie, hops.semantic) == ("hops", 200)
    assert (recs[1]["basicList"].ie, recs[1]["basicList"].semantic) == ("hops", "undefined")
    # Byte layout of the empty list (RFC 6313 §4.5.1, Figure 5): semantic
    # 0xFF, the enterprise bit on element id 900, length 2, PEN 35566.
    assert bytes([0xFF]) + struct.pack("!HHI", 0x8000 | 900, 2, 35566) in data


def test_lists_of_records_from_python_values() -> None:
    a = ipaddress.IPv4Address
    stl = [
        {"sourceIPv4Address": a("1.1.1.1"), "octetDeltaCount": 5},
        {"sourceIPv4Address": a("2.2.2.2"), "octetDeltaCount": 6},
    ]
    stml = [[{"sourceIPv4Address": a("3.3.3.3"), "octetDeltaCount": 7}], [{"octetDeltaCount": 8}]]
    with ff.Writer(export_time=0) as w:
        t = w.add_template(["subTemplateList", "subTemplateMultiList"])
        w.write(t, (stl, stml))
        # A flat list of dicts: a block per run of the same keys.
        w.write(
            t, {"subTemplateList": stl[:1], "subTemplateMultiList": [*stl, {"octetDeltaCount": 1}]}
        )
        with pytest.raises(ff.EncodeError, match="same keys"):
            w.write(t, ([*stl, {"octetDeltaCount": 1}], stml))
        # A plain list does not say what its items are.
        w2 = w.add_template(["basicList"])
        with pytest.raises(ff.EncodeError, match=r"needs its element IE: give ferrofix.BasicList"):
            w.write(w2, ([80, 443],))
        with pytest.raises(ff.EncodeError, match=r"item 1: expected an int, not str"):
            w.write(w2, (ff.BasicList("sourceTransportPort", [80, "443"]),))
        with pytest.raises(ff.EncodeError, match="noSuchElement"):
            w.write(w2, (ff.BasicList("noSuchElement", [80]),))
    data = w.close()
    assert data is not None
    assert list(ff.iter_records(data, records="data")) == [
        {"subTemplateList": stl, "subTemplateMultiList": stml},
        {
            "subTemplateList": stl[:1],
            "subTemplateMultiList": [stl, [{"octetDeltaCount": 1}]],
        },
    ]
