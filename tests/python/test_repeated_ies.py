"""An IE repeated in one template reaches every output, one name per
occurrence: the first under the IE's name, the k-th repetition under
``name.k`` (RFC 7011 §8 allows repeats; pandas names repeated columns so).

The real export: pmacct's captures of Cisco IOS XR SRv6 IPFIX
(tests/data/SOURCES.md). Template 340 carries the outer IPv6 header's ports,
protocol, TCP flags and class of service, then the inner IPv4 packet's
(protocol 4 outside, 1 or 17 inside; ports 0 outside, 1024/862 inside);
options template 334 carries ingressVRFID twice; in the 400 capture,
template 341 repeats the IPv6 addresses and flow label. Expected values come
from tshark's committed decode of the same captures
(tests/data/oracle/pcap/, every field in template order), the occurrence
counted there; what ``write_ipfix`` writes is read back and decoded by
libfixbuf's ipfixDump."""

from __future__ import annotations

import ipaddress
import shutil
import struct
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import ferrofix as ff
import oracle as oc
import oracle_dump as od
from ipfixmsg import VARLEN, field, message, set_, template_record, template_set, uint, varlen

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")

SRV6 = "pmacct__500-IPFIXv10-BGP-CISCO-SRv6--traffic-00.pcap"
SRV6_MANY = "pmacct__400-IPFIXv10-BMP-CISCO-SRv6-multiple-sources--traffic-00.pcap"
CASES = [SRV6, SRV6_MANY]
NAMES = {(ie.pen, ie.id): ie.name for ie in ff.describe()}
# The occurrences a selection asks for (template 340's inner header).
INNER = [
    "sourceTransportPort.1",
    "destinationTransportPort.1",
    "protocolIdentifier.1",
    "ipClassOfService.1",
]


def path(case: str) -> str:
    return str(oc.PCAPS / case)


def named(fields: list[list[Any]]) -> list[tuple[str, list[Any]]]:
    """tshark's fields of one record, each under the name the rule gives
    its occurrence."""
    seen: Counter[tuple[int, int]] = Counter()
    out = []
    for f in fields:
        k = seen[(f[0], f[1])]
        seen[(f[0], f[1])] += 1
        name = NAMES[(f[0], f[1])]
        out.append((name if k == 0 else f"{name}.{k}", f))
    return out


def oracle_records(case: str, exporter: Any = None) -> list[dict[str, Any]]:
    recs = oc.load_tshark_pcap(case)["records"]
    return [r for r in recs if exporter is None or tuple(r["exporter"]) == exporter]


def verdict(value: Any, f: list[Any]) -> oc.Verdict:
    extra = f[5] if len(f) > 5 else None
    v = oc.compare_tshark(value, f[2], f[3], f[4], f[0], f[1], extra)
    if isinstance(v, str) and f[2] is None:
        bits = oc.compare_tshark_bitfields(value, extra)
        v = v if isinstance(bits, str) else bits
    return v


def check(row: dict[str, Any], fields: list[list[Any]], where: str, only: Any = None) -> int:
    """Every (chosen) occurrence tshark shows is in ``row`` with tshark's
    value; the number of repeated occurrences compared."""
    repeats = 0
    for name, f in named(fields):
        if only is not None and name not in only:
            continue
        assert name in row, f"{where}: no {name}"
        v = verdict(row[name], f)
        assert v is not oc.MISMATCH, f"{where} {name}: ferrofix {row[name]!r}, tshark {f[2]!r}"
        repeats += "." in name and v is oc.OK
    return repeats


def test_the_captures_repeat_ies() -> None:
    """What the tests below rely on, as tshark decoded it."""
    for case, templates in ((SRV6, {334, 340}), (SRV6_MANY, {334, 340, 341})):
        repeating = {
            r["template_id"]
            for r in oracle_records(case)
            if any(n > 1 for n in Counter((f[0], f[1]) for f in r["fields"]).values())
        }
        assert repeating == templates


@pytest.mark.parametrize("case", CASES)
def test_dicts_hold_every_occurrence(case: str) -> None:
    ours = list(ff.iter_records(path(case), meta=True, records="all"))
    exporters = {tuple(r["exporter"]) for r in oracle_records(case)}
    repeats = 0
    for exporter in exporters:
        mine = [d for m, d in ours if m.exporter == exporter]
        theirs = oracle_records(case, exporter)
        assert len(mine) == len(theirs)
        for n, (d, rec) in enumerate(zip(mine, theirs, strict=True)):
            assert len(d) == len(rec["fields"]), f"record {n}: {sorted(d)}"
            repeats += check(d, rec["fields"], f"{exporter} record {n}")
    assert repeats > 0


def test_tuples_and_dicts_of_selected_occurrences() -> None:
    theirs = oracle_records(SRV6)
    cols = ["protocolIdentifier", *INNER]
    tuples = list(ff.iter_records(path(SRV6), columns=cols, as_="tuple", records="all"))
    dicts = list(ff.iter_records(path(SRV6), columns=cols, records="all"))
    assert len(tuples) == len(dicts) == len(theirs)
    inner = 0
    for n, (t, d, rec) in enumerate(zip(tuples, dicts, theirs, strict=True)):
        assert dict(zip(cols, t, strict=True)) == d
        if rec["template_id"] == 340:
            inner += check(d, rec["fields"], f"record {n}", only=cols)
        else:
            assert all(d[c] is None for c in INNER), d
    assert inner == 4 * len(INNER)


def _arrow_row(row: dict[str, Any]) -> dict[str, Any]:
    """Addresses of a categorical/dictionary column as ``ipaddress`` objects
    (the comparators' form)."""
    out = {}
    for k, v in row.items():
        if isinstance(v, str) and (k.startswith(("source", "destination", "exporter"))):
            try:
                v = ipaddress.ip_address(v)
            except ValueError:
                pass
        out[k] = v
    return out


@pytest.mark.parametrize("case", CASES)
def test_arrow_columns_hold_every_occurrence(case: str) -> None:
    table = ff.scan_ipfix(path(case), records="all").to_arrow()
    names = table.schema.names
    assert len(names) == len(set(names))
    for name in ("protocolIdentifier.1", "sourceTransportPort.1", "ingressVRFID.1"):
        field = table.schema.field(name)
        assert field.metadata[b"ipfix.id"] == str(NAMES_ID[name.split(".")[0]]).encode()
    rows = [_arrow_row(r) for r in table.to_pylist()]
    theirs = oracle_records(case)
    assert len(rows) == len(theirs)
    key = ("exporterIPv4Address", "exporterTransportPort")
    repeats = 0
    for exporter in {tuple(r["exporter"]) for r in theirs}:
        mine = [r for r in rows if (str(r[key[0]]), r[key[1]]) == exporter]
        recs = oracle_records(case, exporter)
        for n, (row, rec) in enumerate(zip(mine, recs, strict=True)):
            only = {name for name, _ in named(rec["fields"]) if "." in name}
            only |= {name.split(".")[0] for name in only}
            repeats += check(row, rec["fields"], f"{exporter} row {n}", only=only)
    assert repeats > 0


NAMES_ID = {name: i for (pen, i), name in NAMES.items() if pen == 0}


def test_pandas_and_columns_selection() -> None:
    df = ff.read_ipfix(path(SRV6))
    assert {"protocolIdentifier", "protocolIdentifier.1", "ipClassOfService.1"} <= set(df)
    theirs = [r for r in oracle_records(SRV6) if r["template_id"] in (260, 340, 342)]
    assert len(df) == len(theirs)
    inner = 0
    for n, (row, rec) in enumerate(zip(df.to_dict("records"), theirs, strict=True)):
        row = {k: (None if v is pd.NA or v != v else _py(v)) for k, v in row.items()}
        if rec["template_id"] == 340:
            inner += check(row, rec["fields"], f"row {n}", only=INNER)
        else:
            assert all(row[c] is None for c in INNER)
    assert inner == 4 * len(INNER)
    picked = ff.read_ipfix(path(SRV6), columns=INNER)
    assert list(picked) == INNER
    pd.testing.assert_frame_equal(picked, df[INNER])


def test_unknown_occurrence_names_are_refused() -> None:
    with pytest.raises(ff.FerrofixError):
        ff.read_ipfix(path(SRV6), columns=["protocolIdentifier.0"])
    with pytest.raises(ff.FerrofixError):
        ff.read_ipfix(path(SRV6), columns=["noSuchElement.1"])


def _frame(df: Any) -> Any:
    # The capture's exporter columns come from the transport, not a template.
    return df.drop(columns=["exporterIPv4Address", "exporterTransportPort"], errors="ignore")


def test_write_ipfix_repeats_the_ie_again(tmp_path: Path) -> None:
    df = ff.read_ipfix(path(SRV6), records="all")
    out = tmp_path / "srv6.ipfix"
    ff.write_ipfix(_frame(df), out)
    again = ff.read_ipfix(out, records="all")
    # Every column comes back, in the frame's order (the template of every
    # column is written first); the all-null ones (columns of templates
    # without records) come back all null.
    frame = _frame(df)
    assert list(again) == list(frame)
    want = frame.dropna(axis=1, how="all")
    assert {"protocolIdentifier.1", "ingressVRFID.1"} <= set(want)
    pd.testing.assert_frame_equal(again[list(want)], want, check_categorical=False)
    empty = [c for c in frame if c not in want]
    assert empty and again[empty].isna().all().all()
    # The written template of the SRv6 records repeats the IEs, in order.
    t = next(r for r in ff.iter_records(out, as_="fields") if len(r) == 35)
    ids = [i for _pen, i, _v in t]
    assert [i for i in ids if ids.count(i) > 1] == [7, 11, 4, 6, 5, 7, 11, 4, 6, 5]


@pytest.mark.skipif(shutil.which("ipfixDump") is None, reason="ipfixDump is not installed")
def test_libfixbuf_reads_the_repeats_we_write(tmp_path: Path) -> None:
    """ipfixDump decodes the written file: each occurrence of a repeated IE
    in a record has tshark's value of that occurrence in the capture."""
    df = _frame(ff.read_ipfix(path(SRV6), records="all"))
    data = ff.write_ipfix(df)
    assert data is not None
    proc = subprocess.run(["ipfixDump", "-y"], input=data, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    dump = od.parse_ipfixdump(proc.stdout, proc.stderr.decode(errors="replace"))
    theirs = oracle_records(SRV6)
    assert len(dump.records) == len(theirs) == len(df)
    # Every template of a record that repeated an IE repeats it as written.
    written = [[(f[0], f[1]) for f in t] for t in dump.templates.values()]
    for tid in (334, 340):
        orig = next(r["fields"] for r in theirs if r["template_id"] == tid)
        assert sorted((f[0], f[1]) for f in orig) in [sorted(t) for t in written]
    compared = 0
    for n, (rec, orig) in enumerate(zip(dump.records, theirs, strict=True)):
        if orig["template_id"] != 340:
            # oracle_dump reads a string by its length, but ipfixDump prints
            # it only up to its first NUL (334's VRFname is NUL-padded).
            continue
        want = dict(named(orig["fields"]))
        got = named([[f.pen, f.id, f] for f in rec.fields])
        assert sorted(name for name, _ in got) == sorted(want), f"record {n}"
        repeated = {name.split(".")[0] for name in want if "." in name}
        for name, f in got:
            if name.split(".")[0] not in repeated:
                continue
            value = _py(df[name].iloc[n])
            # ipfixDump prints the value tshark showed for that occurrence.
            assert verdict(value, want[name]) is oc.OK, (n, name, value)
            assert od.compare_ipfixdump(value, f[2]) is True, (n, name, f[2].text)
            compared += 1
    assert compared == 4 * 10


def _py(v: Any) -> Any:
    """A pandas cell in the record path's form."""
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, str):
        try:
            return ipaddress.ip_address(v)
        except ValueError:
            return v
    return v


def test_an_occurrence_without_the_one_before_is_refused() -> None:
    """Occurrences are told apart by their order in the template: a row
    with ``sourceTransportPort.1`` set but ``sourceTransportPort`` null
    would read back as ``sourceTransportPort``, so it is refused."""
    ok = pd.DataFrame({"sourceTransportPort": [1, 3], "sourceTransportPort.1": [2, 4]})
    data = ff.write_ipfix(ok)
    assert data is not None
    back = ff.read_ipfix(data)
    pd.testing.assert_frame_equal(back, ok, check_dtype=False)
    bad = pd.DataFrame(
        {"sourceTransportPort": pd.array([1, None], "UInt16"), "sourceTransportPort.1": [2, 4]}
    )
    with pytest.raises(ff.EncodeError, match='would read back as "sourceTransportPort"'):
        ff.write_ipfix(bad)


def test_repeats_inside_rfc6313_lists() -> None:
    """A sub-template may repeat an IE too (no real export here does; the
    message is built): list element dicts and the list column's struct
    fields follow the same rule, and the table writes back the same."""
    inner = template_record(300, [field(7, 2), field(11, 2), field(7, 2)])
    outer = template_record(256, [field(292, VARLEN), field(1, 8)])
    stl = struct.pack("!BH", 0xFF, 300) + uint(1, 2) + uint(2, 2) + uint(3, 2)
    stl += uint(4, 2) + uint(5, 2) + uint(6, 2)
    msg = message([template_set(inner, outer), set_(256, varlen(stl) + uint(9, 8))])
    want = [
        {"sourceTransportPort": 1, "destinationTransportPort": 2, "sourceTransportPort.1": 3},
        {"sourceTransportPort": 4, "destinationTransportPort": 5, "sourceTransportPort.1": 6},
    ]
    (rec,) = ff.iter_records(msg)
    assert rec == {"subTemplateList": want, "octetDeltaCount": 9}
    table = ff.scan_ipfix(msg).to_arrow()
    item = table.schema.field("subTemplateList").type.value_type
    assert [f.name for f in item] == list(want[0])
    assert table.column("subTemplateList").to_pylist() == [want]
    again = ff.scan_ipfix(ff.write_ipfix(table)).to_arrow()
    assert again.to_pylist() == table.to_pylist()
