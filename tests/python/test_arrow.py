"""The columnar path: IPFIX into Arrow batches and pandas DataFrames, checked
against the record path (itself checked against tshark and libfixbuf in
test_oracle.py) and against values built from the RFC."""

from __future__ import annotations

import ipaddress
import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import ferrofix as ff
import oracle as oc
from ipfixmsg import (
    VARLEN,
    field,
    message,
    options_set,
    options_template_record,
    set_,
    template_record,
    template_set,
    uint,
    varlen,
)

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

DATA = Path(__file__).resolve().parents[1] / "data" / "ipfix"
REAL = sorted(p for p in DATA.iterdir() if p.suffix in (".ipfix", ".dat"))


def _plain(v: Any) -> Any:
    """Record-path value -> what the Arrow path holds (as_py()). RFC 6313
    lists: a subTemplateMultiList's blocks are flattened into one list of
    element records; element records are compared without their nulls."""
    if isinstance(v, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        if v and all(isinstance(b, list) and all(isinstance(e, dict) for e in b) for b in v):
            v = [e for block in v for e in block]
        return [_plain(e) for e in v]
    return v


def _no_nulls(v: Any) -> Any:
    """An Arrow list value with the null fields of its structs left out."""
    if isinstance(v, dict):
        return {k: _no_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_no_nulls(e) for e in v]
    return v


YAF = DATA / "logstash-codec-netflow__ipfix_test_yaf_"
YAF_TEMPLATES = [YAF.with_name(YAF.name + n + ".dat") for n in ("tpl45841", "tpls_option_tpl")]


def _yaf(name: str) -> bytes:
    """YAF templates followed by a YAF data file (partner files, see SOURCES.md)."""
    data = YAF.with_name(YAF.name + f"data{name}.dat")
    return b"".join(p.read_bytes() for p in [*YAF_TEMPLATES, data])


CASES: list[Any] = [*REAL, *(pytest.param(_yaf(n), id=f"yaf-{n}") for n in ("45841", "45873"))]


@pytest.mark.parametrize("path", CASES, ids=lambda p: getattr(p, "name", None))
def test_every_fixture_matches_the_record_path(path: Path | bytes) -> None:
    recs = list(ff.iter_records(path, on_bad_records="skip", records="data", as_="fields"))
    table = ff.scan_ipfix(path, on_bad_records="skip").to_arrow()
    assert table.num_rows == len(recs)
    rows = table.to_pylist()
    names = {
        (int(f.metadata[b"ipfix.pen"]), int(f.metadata[b"ipfix.id"])): f.name
        for f in table.schema
        if "." not in f.name
    }
    for rec, row in zip(recs, rows, strict=True):
        seen: set[str] = set()
        for pen, ie, value in rec:
            # A repeated IE: occurrence k (k >= 1) is column `name.k`.
            k = sum(n.split(".")[0] == names[(pen, ie)] for n in seen)
            name = names[(pen, ie)] if k == 0 else f"{names[(pen, ie)]}.{k}"
            seen.add(name)
            if isinstance(value, list):
                assert pa.types.is_list(table.schema.field(name).type)
                assert _no_nulls(row[name]) == _plain(value), (name, row[name], value)
                continue
            assert row[name] == _plain(value), (name, row[name], value)
        assert all(row[n] is None for n in row if n not in seen)


HETERO = message(
    [
        template_set(
            template_record(256, [field(8, 4), field(1, 8)]),
            template_record(257, [field(8, 4), field(2, 8), field(156, 8)]),
        ),
        set_(256, bytes([10, 0, 0, 1]) + uint(100, 8)),
        set_(257, bytes([10, 0, 0, 2]) + uint(3, 8) + struct.pack("!II", 3_900_000_000, 5)),
    ]
)


def test_union_schema_nulls_projection_and_require() -> None:
    df = ff.read_ipfix(HETERO)
    assert list(df.columns) == [
        "sourceIPv4Address",
        "octetDeltaCount",
        "packetDeltaCount",
        "flowStartNanoseconds",
    ]
    assert df["octetDeltaCount"].tolist() == [100, None] or df[
        "octetDeltaCount"
    ].isna().tolist() == [False, True]
    assert str(df["octetDeltaCount"].dtype) == "uint64[pyarrow]"
    assert isinstance(df["sourceIPv4Address"].dtype, pd.CategoricalDtype)
    assert df["sourceIPv4Address"].astype(str).tolist() == ["10.0.0.1", "10.0.0.2"]
    df = ff.read_ipfix(HETERO, columns=["packetDeltaCount", "sourceIPv4Address"])
    assert list(df.columns) == ["packetDeltaCount", "sourceIPv4Address"]
    df = ff.read_ipfix(HETERO, columns=["packetDeltaCount", "sourceIPv4Address"], require="all")
    assert len(df) == 1 and df["packetDeltaCount"].tolist() == [3]


def test_nanoseconds_are_kept() -> None:
    t = ff.scan_ipfix(HETERO).to_arrow()
    col = t.column("flowStartNanoseconds")
    assert col.type == pa.timestamp("ns", tz="UTC")
    # NTP 3900000000 s, fraction 5 * 2^-32 s -> 1 ns (RFC 7011 §6.1.10)
    expected = (3_900_000_000 - 2_208_988_800) * 1_000_000_000 + (5 * 10**9 >> 32)
    assert col.cast(pa.int64()).to_pylist() == [None, expected]


def test_addresses_as_integers_and_metadata() -> None:
    t = ff.scan_ipfix(HETERO, addresses="int").to_arrow()
    assert t.schema.field("sourceIPv4Address").type == pa.uint32()
    assert t.column("sourceIPv4Address").to_pylist() == [0x0A000001, 0x0A000002]
    md = t.schema.field("octetDeltaCount").metadata
    assert md[b"ipfix.pen"] == b"0" and md[b"ipfix.id"] == b"1"
    assert md[b"ipfix.type"] == b"unsigned64" and md[b"ipfix.semantics"] == b"deltaCounter"
    assert md[b"ipfix.units"] == b"octets"


def test_reverse_ies_and_varlen_strings() -> None:
    fields = [field(1, 8), field(1, 8, pen=29305), field(82, VARLEN)]
    msg = message(
        [
            template_set(template_record(256, fields)),
            set_(256, uint(1, 8) + uint(2, 8) + varlen(b"eth0")),
        ]
    )
    df = ff.read_ipfix(msg)
    assert df.to_dict("records") == [
        {"octetDeltaCount": 1, "reverseOctetDeltaCount": 2, "interfaceName": "eth0"}
    ]


def test_options_records_are_kept_apart() -> None:
    opt = options_template_record(300, 1, [field(144, 4), field(41, 8)])
    msg = HETERO + message([options_set(opt), set_(300, uint(5, 4) + uint(1000, 8))], seq=2)
    assert len(ff.read_ipfix(msg)) == 2
    opts = ff.read_ipfix(msg, records="options")
    assert opts.to_dict("records") == [{"exportingProcessId": 5, "exportedMessageTotalCount": 1000}]
    assert len(ff.read_ipfix(msg, records="all")) == 3


def test_empty_input_gives_a_typed_empty_frame() -> None:
    df = ff.read_ipfix(b"")
    assert df.empty and list(df.columns) == []
    only_templates = message([template_set(template_record(256, [field(1, 8), field(152, 8)]))])
    df = ff.read_ipfix(only_templates)
    assert df.empty and list(df.columns) == ["octetDeltaCount", "flowStartMilliseconds"]
    assert str(df["flowStartMilliseconds"].dtype) == "timestamp[ms, tz=UTC][pyarrow]"
    df = ff.read_ipfix(b"", columns=["sourceIPv4Address", "octetDeltaCount"])
    assert list(df.columns) == ["sourceIPv4Address", "octetDeltaCount"]


def test_bad_input_mid_stream_under_each_policy() -> None:
    t = template_set(template_record(256, [field(1, 8)]))
    good = message([t, set_(256, uint(1, 8) + uint(2, 8))])
    bad = message([set_(256, uint(3, 8)), struct.pack("!HH", 256, 2)], seq=2)
    scan = ff.scan_ipfix(good + bad, columns=["octetDeltaCount"], batch_size=2)
    got: list[int] = []
    with pytest.raises(ff.DecodeError, match="shorter than its header"):
        for b in scan:
            got.extend(b.column(0).to_pylist())
    assert got == [1, 2, 3]  # records before the fault are kept
    assert ff.read_ipfix(good + bad, on_bad_records="skip")["octetDeltaCount"].tolist() == [1, 2, 3]
    with pytest.warns(ff.FerrofixWarning):
        assert len(ff.read_ipfix(good + bad, on_bad_records="warn")) == 3


def test_value_that_does_not_fit_its_column() -> None:
    msg = message(
        [
            template_set(template_record(256, [field(276, 1), field(1, 8)])),
            set_(256, b"\x07" + uint(9, 8)),
        ]
    )
    with pytest.raises(ff.DecodeError, match="dataRecordsReliability"):
        ff.read_ipfix(msg)
    scan = ff.scan_ipfix(msg, on_bad_records="skip")
    df = scan.to_pandas()
    assert df["dataRecordsReliability"].isna().tolist() == [True]
    assert df["octetDeltaCount"].tolist() == [9]
    assert scan.health.malformed_values == 1


def test_n_rows_and_batches() -> None:
    path = DATA / "ipfixcol2__example_flows.ipfix"
    assert len(ff.read_ipfix(path, n_rows=10)) == 10
    sizes = [b.num_rows for b in ff.scan_ipfix(path, batch_size=1000)]
    assert sizes == [1000, 1000, 1000, 979]


def test_zero_copy_hand_off() -> None:
    scan = ff.scan_ipfix(HETERO, columns=["octetDeltaCount", "packetDeltaCount"], addresses="int")
    raw = scan._s.next_batch()
    rust_addresses = scan._s.last_buffer_addresses()
    batch = pa.record_batch(raw)
    seen = [batch.column(i).buffers()[1].address for i in range(batch.num_columns)]
    assert seen == rust_addresses and all(seen)


def test_polars_and_duckdb_take_the_stream() -> None:
    pl = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    path = DATA / "ipfixcol2__example_flows.ipfix"
    # The total octets as tshark decoded them (committed oracle output).
    tshark = oc.load_tshark("ipfixcol2__example_flows.ipfix")["records"]
    expected = sum(int(v) for r in tshark for pen, ie, v, *_ in r["fields"] if (pen, ie) == (0, 1))
    assert ff.read_ipfix(path, columns=["octetDeltaCount"])["octetDeltaCount"].sum() == expected
    df = pl.DataFrame(ff.scan_ipfix(path, columns=["octetDeltaCount", "sourceIPv4Address"]))
    assert df.height == 3979 and df["octetDeltaCount"].sum() == expected
    scan = ff.scan_ipfix(path, columns=["octetDeltaCount"])
    (total,) = duckdb.sql("select sum(octetDeltaCount) from scan").fetchall()[0]
    del scan
    assert total == expected
    t = pa.table(ff.scan_ipfix(path))
    assert t.num_rows == 3979


def test_real_timestamps_equal_the_record_path() -> None:
    path = DATA / "ipfixcol2__example_flows.ipfix"
    first = next(ff.iter_records(path))
    df = ff.read_ipfix(path, n_rows=1)
    ts = df["flowStartMilliseconds"].iloc[0]
    assert ts.to_pydatetime() == first["flowStartMilliseconds"]
    assert first["flowStartMilliseconds"].tzinfo is UTC
    assert isinstance(first["flowStartMilliseconds"], datetime)


def test_import_without_pandas_and_clear_error() -> None:
    code = (
        "import sys; sys.modules['pandas'] = None; sys.modules['pyarrow'] = None\n"
        "import ferrofix as ff\n"
        "assert list(ff.iter_records(b'')) == []\n"
        "try:\n"
        "    ff.read_ipfix(b'')\n"
        "except ImportError as e:\n"
        "    print('ImportError:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ImportError:" in out.stdout and "pip install" in out.stdout


def _objs(s: Any) -> list[Any]:
    return [None if pd.isna(x) else x for x in s.astype(object).tolist()]


def test_several_sources_in_input_order(tmp_path: Path) -> None:
    files = [
        DATA / "ipfixcol__02-odid4.ipfix",
        DATA / "ipfixcol__03-odid0-a.ipfix",
        DATA / "ipfixcol2__example_flows.ipfix",
    ]
    one_by_one = [ff.read_ipfix(f, on_bad_records="skip") for f in files]
    together = ff.read_ipfix(files, on_bad_records="skip", workers=2)
    assert len(together) == 117 + 151 + 3979  # MANIFEST: records decodable in each file
    # each file's rows, in input order; columns missing from a file are null
    start = 0
    for d in one_by_one:
        part = together.iloc[start : start + len(d)]
        for c in d.columns:
            assert _objs(part[c]) == _objs(d[c]), c
        start += len(d)
    for i, f in enumerate(files):
        (tmp_path / f"{i}.ipfix").write_bytes(f.read_bytes())
    globbed = ff.read_ipfix(str(tmp_path / "*.ipfix"), on_bad_records="skip")
    assert len(globbed) == len(together)
    with pytest.raises(FileNotFoundError):
        ff.read_ipfix(str(tmp_path / "*.nothing"))


def test_health_as_a_frame() -> None:
    scan = ff.scan_ipfix(DATA / "ipfixcol__04-odid256_512.ipfix")
    scan.to_arrow()
    h = scan.health.to_pandas()
    assert h["observationDomainId"].tolist() == [256, 512]
    assert h["records"].sum() == 22  # MANIFEST: 22 records decodable in-file
    assert h.attrs["messages"] == 3


def test_address_dictionaries_carried_across_batches_and_reset() -> None:
    # 40,000 records; IPv4 and IPv6 addresses cycling over 20,000 distinct
    # values (more than a dictionary carries from batch to batch), every
    # seventh record from a template without addresses (nulls).
    t_addr = template_record(256, [field(8, 4), field(27, 16), field(1, 8)])
    t_none = template_record(257, [field(1, 8)])
    expected_v4: list[str | None] = []
    expected_v6: list[str | None] = []
    msgs = [message([template_set(t_addr, t_none)])]
    for start in range(0, 40_000, 2_000):
        sets = []
        for i in range(start, start + 2_000):
            if i % 7 == 0:
                sets.append(set_(257, uint(i, 8)))
                expected_v4.append(None)
                expected_v6.append(None)
                continue
            a = (i % 20_000) * 7919
            sets.append(
                set_(256, uint(0x0A000000 + a, 4) + uint((0x2001 << 112) + a, 16) + uint(i, 8))
            )
            expected_v4.append(str(ipaddress.IPv4Address(0x0A000000 + a)))
            expected_v6.append(str(ipaddress.IPv6Address((0x2001 << 112) + a)))
        msgs.append(message(sets))
    data = b"".join(msgs)
    for batch_size in (3_000, 65_536):
        df = ff.read_ipfix(data, batch_size=batch_size)
        assert isinstance(df["sourceIPv4Address"].dtype, pd.CategoricalDtype)
        got_v4 = df["sourceIPv4Address"].astype(object).where(df["sourceIPv4Address"].notna(), None)
        got_v6 = df["sourceIPv6Address"].astype(object).where(df["sourceIPv6Address"].notna(), None)
        assert got_v4.tolist() == expected_v4
        assert got_v6.tolist() == expected_v6
        assert df["octetDeltaCount"].tolist() == list(range(40_000))
    batches = list(ff.scan_ipfix(data, batch_size=3_000))
    assert sum(b.num_rows for b in batches) == 40_000
    # Dictionaries stay bounded: none holds more than the distinct
    # addresses of the stream.
    assert max(len(b.column(0).dictionary) for b in batches) <= 20_000


@pytest.mark.parametrize("distinct", [100, 50_000, 100_000, 300_000])
def test_address_column_type_follows_what_pays(distinct: int) -> None:
    """Text addresses are a categorical while categories are few (at most
    65,536, or at most one per 8 rows), else Arrow-backed strings; the
    values are the addresses either way (ipaddress is the oracle)."""
    rows = 300_000
    t = template_record(256, [field(8, 4), field(27, 16)])
    addrs = [(i % distinct) * 2_654_435_761 % 2**32 for i in range(rows)]
    per = 2_000
    msgs = [message([template_set(t)])]
    for start in range(0, rows, per):
        body = b"".join(
            uint(a, 4) + uint((0x2001 << 112) + a, 16) for a in addrs[start : start + per]
        )
        msgs.append(message([set_(256, body)]))
    df = ff.read_ipfix(b"".join(msgs))
    categorical = distinct <= 65_536 or distinct * 8 <= rows
    for col in ("sourceIPv4Address", "sourceIPv6Address"):
        if categorical:
            assert isinstance(df[col].dtype, pd.CategoricalDtype), df[col].dtype
        else:
            assert str(df[col].dtype) == "string[pyarrow]", df[col].dtype
    assert df["sourceIPv4Address"].astype(object).tolist() == [
        str(ipaddress.IPv4Address(a)) for a in addrs
    ]
    assert df["sourceIPv6Address"].astype(object).tolist() == [
        str(ipaddress.IPv6Address((0x2001 << 112) + a)) for a in addrs
    ]


def test_by_template_frames_and_tagged_batches() -> None:
    # Domain 1: templates 256 (address, octets) and 257 (packets), their
    # sets interleaved, template 256 redefined with an added field midway;
    # domain 2: template 256 (octets only); an options template in domain 1.
    t256 = template_record(256, [field(8, 4), field(1, 8)])
    t256b = template_record(256, [field(8, 4), field(1, 8), field(7, 2)])
    t257 = template_record(257, [field(2, 8)])
    opt = options_template_record(258, 1, [field(149, 4), field(41, 8)])
    m1 = message(
        [
            template_set(t256, t257),
            options_set(opt),
            set_(256, bytes([10, 0, 0, 1]) + uint(100, 8)),
            set_(257, uint(3, 8) + uint(4, 8)),
            set_(258, uint(1, 4) + uint(77, 8)),
            set_(256, bytes([10, 0, 0, 2]) + uint(200, 8)),
        ],
        odid=1,
    )
    m2 = message([template_set(template_record(256, [field(1, 8)])), set_(256, uint(5, 8))], odid=2)
    m3 = message(
        [template_set(t256b), set_(256, bytes([10, 0, 0, 3]) + uint(300, 8) + uint(80, 2))], odid=1
    )
    data = m1 + m2 + m3
    frames = ff.read_ipfix(data, by_template=True)
    K = ff.TemplateKey
    assert list(frames) == [K(1, 256), K(1, 257), K(2, 256)]
    assert list(frames[K(1, 256)].columns) == [
        "sourceIPv4Address",
        "octetDeltaCount",
        "sourceTransportPort",
    ]
    assert frames[K(1, 256)]["octetDeltaCount"].tolist() == [100, 200, 300]
    assert frames[K(1, 256)]["sourceTransportPort"].isna().tolist() == [True, True, False]
    assert list(frames[K(1, 257)].columns) == ["packetDeltaCount"]
    assert frames[K(1, 257)]["packetDeltaCount"].tolist() == [3, 4]
    assert list(frames[K(2, 256)].columns) == ["octetDeltaCount"]
    assert frames[K(2, 256)]["octetDeltaCount"].tolist() == [5]
    options = ff.read_ipfix(data, by_template=True, records="options")
    assert list(options) == [K(1, 258)]
    assert options[K(1, 258)].to_dict("records") == [
        {"observationDomainId": 1, "exportedMessageTotalCount": 77}
    ]
    # Batches never mix templates; each carries its template's columns.
    tagged = list(ff.scan_ipfix(data, by_template=True).tagged_batches())
    assert [(k, b.num_rows) for k, b in tagged] == [
        (K(1, 256), 1),
        (K(1, 257), 2),
        (K(1, 256), 1),
        (K(2, 256), 1),
        (K(1, 256), 1),
    ]
    assert tagged[1][1].schema.names == ["packetDeltaCount"]
    with pytest.raises(ValueError, match="by_template"):
        next(ff.scan_ipfix(data).tagged_batches())


@pytest.mark.parametrize("name", ["ipfixcol2__example_flows.ipfix"])
def test_by_template_counts_match_the_record_path(name: str) -> None:
    counts: dict[tuple[int, int], int] = {}
    for meta, _ in ff.iter_records(DATA / name, meta=True):
        key = (meta.observation_domain_id, meta.template_id)
        counts[key] = counts.get(key, 0) + 1
    frames = ff.read_ipfix(DATA / name, by_template=True)
    assert {tuple(k): len(f) for k, f in frames.items()} == counts
    assert len(counts) > 1


def test_batches_kept_while_others_are_dropped_stay_intact() -> None:
    """Column buffers of dropped batches are reused for later ones
    (src/columnar/pool.rs): batches still held must keep their values.
    Every other batch of a stream is kept, the rest dropped as they come;
    the kept ones equal the same rows read whole, and the record path."""
    pa = pytest.importorskip("pyarrow")
    path = DATA / "ipfixcol2__example_flows.ipfix"
    data = path.read_bytes() * 4  # 15,916 records in batches of 1,000
    cols = ["sourceIPv4Address", "octetDeltaCount", "flowStartMilliseconds", "protocolIdentifier"]
    whole = ff.scan_ipfix(data, columns=cols, addresses="int", batch_size=1000).to_arrow()
    kept, at, starts = [], 0, []
    scan = ff.scan_ipfix(data, columns=cols, addresses="int", batch_size=1000)
    for i, b in enumerate(scan.batches()):
        if i % 2 == 0:
            kept.append(b)
            starts.append(at)
        at += b.num_rows
        del b
    assert at == whole.num_rows and len(kept) >= 8
    for start, b in zip(starts, kept, strict=True):
        assert pa.Table.from_batches([pa.record_batch(b)]).equals(whole.slice(start, b.num_rows))
    first = [r["octetDeltaCount"] for r in ff.iter_records(path)]
    octets = pa.record_batch(kept[0]).column("octetDeltaCount").to_pylist()
    assert octets == first[: len(octets)]
