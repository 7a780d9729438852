"""Writing IPFIX from Python records: round trips through the reader over
every abstract data type, width and variable length (hypothesis), the
message layer (MTU, sequence numbers, export time, domains, withdrawals,
template refresh, options templates) checked against the RFC's layout with
``struct``, compressed output checked with Python's own gzip and zstandard,
and refusals that name the field and leave no partial message."""

from __future__ import annotations

import gzip
import ipaddress
import shutil
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrofix as ff

# Enterprise IEs for the types IANA has no handy element of.
SPECS = [
    "tS8(99999/5)<signed8>",
    "tS16(99999/6)<signed16>",
    "tS32(99999/7)<signed32>",
    "tS64(99999/8)<signed64>",
    "tF32(99999/9)<float32>",
    "tF64(99999/10)<float64>",
    "tBool(99999/11)<boolean>",
    "tOct(99999/14)<octetArray>",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _uint(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, 2 ** (8 * n) - 1)


def _sint(n: int) -> st.SearchStrategy[int]:
    return st.integers(-(2 ** (8 * n - 1)), 2 ** (8 * n - 1) - 1)


def _time(unit_us: int, lo: int = 0, hi: int = 2**32 - 1) -> st.SearchStrategy[datetime]:
    """Datetimes at the IE's precision (the reader returns microseconds)."""
    return st.integers(lo * 10**6 // unit_us, hi * 10**6 // unit_us).map(
        lambda k: EPOCH + timedelta(microseconds=k * unit_us)
    )


def _text(n: int | None) -> st.SearchStrategy[str]:
    if n is None:
        return st.text(max_size=300)
    return st.text(alphabet="abcdefghij0123456789", min_size=n, max_size=n)


def _octets(n: int | None) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=300) if n is None else st.binary(min_size=n, max_size=n)


_MAC = st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))

# (IE, lengths it may take (None: variable), value strategy for a length).
FIELDS: list[tuple[str, list[int | None], Any]] = [
    ("protocolIdentifier", [1], lambda n: _uint(n)),
    ("sourceTransportPort", [1, 2], lambda n: _uint(n)),
    ("ingressInterface", [1, 2, 3, 4], lambda n: _uint(n)),
    ("octetDeltaCount", [1, 2, 3, 4, 5, 6, 7, 8], lambda n: _uint(n)),
    ("reverseOctetDeltaCount", [2, 8], lambda n: _uint(n)),
    ("tS8", [1], lambda n: _sint(n)),
    ("tS16", [1, 2], lambda n: _sint(n)),
    ("tS32", [1, 3, 4], lambda n: _sint(n)),
    ("tS64", [1, 5, 8], lambda n: _sint(n)),
    ("tF32", [4], lambda n: st.floats(width=32, allow_nan=False)),
    ("tF64", [8], lambda n: st.floats(allow_nan=False)),
    ("tF64", [4], lambda n: st.floats(width=32, allow_nan=False)),
    ("tBool", [1], lambda n: st.booleans()),
    ("sourceMacAddress", [6], lambda n: _MAC),
    ("interfaceName", [None, 4, 16], _text),
    ("tOct", [None, 1, 9], _octets),
    ("sourceIPv4Address", [4], lambda n: st.ip_addresses(v=4)),
    ("sourceIPv6Address", [16], lambda n: st.ip_addresses(v=6)),
    ("flowStartSeconds", [4], lambda n: _time(10**6)),
    ("flowStartMilliseconds", [8], lambda n: _time(1000, 0, 2**37)),
    ("flowStartMicroseconds", [8], lambda n: _time(1, -2_208_988_800, 2_085_978_495)),
    ("flowStartNanoseconds", [8], lambda n: _time(1, -2_208_988_800, 2_085_978_495)),
]


@st.composite
def template_and_records(draw: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    # One field per IE (repeats are tested on a real export: test_repeated_ies.py).
    picks = draw(
        st.lists(
            st.integers(0, len(FIELDS) - 1),
            min_size=1,
            max_size=8,
            unique_by=lambda i: FIELDS[i][0],
        )
    )
    names, strategies = [], []
    for i in picks:
        ie, lengths, values = FIELDS[i]
        n = draw(st.sampled_from(lengths))
        names.append(ie if n is None else f"{ie}[{n}]")
        strategies.append(values(n))
    records = draw(st.lists(st.tuples(*strategies), max_size=40))
    return names, records


@settings(max_examples=150, deadline=None)
@given(template_and_records(), st.sampled_from([200, 1500, 65535]))
def test_records_read_back_as_written(case: Any, mtu: int) -> None:
    names, records = case
    w = ff.Writer(mtu=mtu, export_time=1_700_000_000, specs=SPECS)
    tid = w.add_template(names)
    written = 0
    for r in records:
        try:
            w.write(tid, r)
            written += 1
        except ff.EncodeError as e:
            # Only a record longer than a small MTU may be refused.
            assert "does not fit a message" in str(e) and mtu == 200
            break
    data = w.close()
    assert data is not None
    back = list(ff.iter_records(data, as_="tuple", columns=w.fields(tid), specs=SPECS))
    assert back == [tuple(r) for r in records[:written]]


def _messages(data: bytes) -> list[tuple[int, int, int, int, list[int]]]:
    """(length, export time, sequence, domain, set ids) of each message."""
    out, at = [], 0
    while at < len(data):
        _v, length, export, seq, odid = struct.unpack_from("!HHIII", data, at)
        sets, s = [], at + 16
        while s < at + length:
            sid, slen = struct.unpack_from("!HH", data, s)
            sets.append(sid)
            s += slen
        out.append((length, export, seq, odid, sets))
        at += length
    return out


def test_message_layer_follows_rfc7011() -> None:
    with ff.Writer(mtu=100, export_time=1234) as w:
        t1 = w.add_template(["octetDeltaCount", "packetDeltaCount"], observation_domain_id=1)
        t2 = w.add_template(["octetDeltaCount"], observation_domain_id=2)
        w.write_records(t1, [(i, i) for i in range(10)], observation_domain_id=1)
        w.write(t2, (7,), observation_domain_id=2)
        w.write(t1, {"octetDeltaCount": 1, "packetDeltaCount": 2}, observation_domain_id=1)
    data = w.close()
    assert data is not None
    msgs = _messages(data)
    assert all(length <= 100 and export == 1234 for length, export, *_ in msgs)
    # Per domain, the sequence number counts the data records sent before
    # the message (RFC 7011 §3.1); 16-octet records, 5 per 100-octet message.
    assert [(odid, seq) for _l, _e, seq, odid, _s in msgs] == [
        (1, 0),
        (2, 0),
        (1, 0),
        (1, 5),
        (2, 0),
        (1, 10),
    ]
    recs = list(ff.iter_records(data, meta=True))
    assert len(recs) == 12
    r = ff.Reader(data)
    list(r)
    # The reader's own sequence accounting finds no gap and no loss.
    seq = r.health.sequence
    assert {o: (s.records, s.gaps, s.lost_records) for o, s in seq.items()} == {
        1: (11, 0, 0),
        2: (1, 0, 0),
    }


def test_withdrawal_and_redefinition_keep_reader_and_writer_in_step() -> None:
    with ff.Writer(export_time=0) as w:
        tid = w.add_template(["octetDeltaCount"])
        w.write(tid, (1,))
        w.withdraw(tid)
        with pytest.raises(ff.EncodeError, match="no template 256"):
            w.write(tid, (2,))
        w.add_template(["sourceIPv4Address", "octetDeltaCount[4]"], template_id=tid)
        w.write(tid, ("10.0.0.1", 3))
        opt = w.add_template(["observationDomainId", "exportedMessageTotalCount"], scope=1)
        w.write(opt, (0, 9))
        w.withdraw_all()
    data = w.close()
    assert data is not None
    assert list(ff.iter_records(data, records="data")) == [
        {"octetDeltaCount": 1},
        {"sourceIPv4Address": ipaddress.IPv4Address("10.0.0.1"), "octetDeltaCount": 3},
    ]
    assert list(ff.iter_records(data, records="options")) == [
        {"observationDomainId": 0, "exportedMessageTotalCount": 9}
    ]
    r = ff.Reader(data)
    list(r)
    assert r.health.problems_skipped == 0
    # Options templates go in sets of id 3; withdrawals of all templates of
    # both kinds close the stream (RFC 7011 §8.1).
    sets = [s for *_x, sets in _messages(data) for s in sets]
    assert 3 in sets and sets[-2:] == [2, 3]


def test_template_refresh_resends_templates() -> None:
    with ff.Writer(mtu=16 + 4 + 8 + 4 + 8, export_time=0, template_refresh=2) as w:
        tid = w.add_template(["octetDeltaCount"])
        w.write_records(tid, [(i,) for i in range(4)])
    data = w.close()
    assert data is not None
    # Room for a template and a record, or two records: message 3 starts
    # the second refresh period with the template again.
    assert [sets for *_x, sets in _messages(data)] == [[2, 256], [256], [2, 256]]
    assert [r["octetDeltaCount"] for r in ff.iter_records(data)] == [0, 1, 2, 3]


def test_compressed_and_file_destinations(tmp_path: Path) -> None:
    recs = [{"octetDeltaCount": i, "interfaceName": f"if{i}"} for i in range(1000)]
    plain = ff.write_ipfix(recs, export_time=5)
    assert plain is not None
    for name, unpack in [
        ("f.ipfix", lambda b: b),
        ("f.ipfix.gz", gzip.decompress),
        ("f.ipfix.zst", lambda b: pytest.importorskip("zstandard").decompress(b, 1 << 24)),
    ]:
        path = tmp_path / name
        assert ff.write_ipfix(recs, path, export_time=5) is None
        # Python's own decompressors give back the plain stream.
        assert unpack(path.read_bytes()) == plain
        assert list(ff.iter_records(path)) == recs
    with (tmp_path / "obj.ipfix").open("wb") as f:
        ff.write_ipfix(recs, f, export_time=5)
    assert (tmp_path / "obj.ipfix").read_bytes() == plain


def test_large_zstd_output_is_written_as_frames(tmp_path: Path) -> None:
    """zstd output is written a frame at a time (4 MiB of messages each),
    not held whole until close: several frames that the zstd tool and the
    zstandard module (reading across frames) give back as the plain
    stream."""
    zstandard = pytest.importorskip("zstandard")
    recs = [{"octetDeltaCount": i, "interfaceName": f"interface {i:08d}"} for i in range(400_000)]
    plain = ff.write_ipfix(recs, export_time=5)
    assert plain is not None and len(plain) > 2 * (4 << 20)
    path = tmp_path / "big.ipfix.zst"
    assert ff.write_ipfix(recs, path, export_time=5) is None
    with path.open("rb") as f:
        reader = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
        assert reader.read() == plain
    data, frames = path.read_bytes(), 0
    while data:  # a decompressobj stops at its frame's end
        d = zstandard.ZstdDecompressor().decompressobj()
        d.decompress(data)
        data, frames = d.unused_data, frames + 1
    assert frames >= 2, frames
    if shutil.which("zstd"):
        out = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
        assert out == plain
    assert sum(1 for _ in ff.iter_records(path)) == len(recs)


def test_refusals_name_the_field_and_leave_only_whole_messages() -> None:
    w = ff.Writer(export_time=0)
    tid = w.add_template(["protocolIdentifier", "octetDeltaCount[2]", "interfaceName[4]"])
    w.write(tid, (6, 1, "eth0"))
    cases = [
        ((6, 70_000, "eth0"), "octetDeltaCount: 70000 does not fit 2 octets"),
        ((256, 1, "eth0"), "protocolIdentifier: 256 does not fit 1 octets"),
        ((-1, 1, "eth0"), "protocolIdentifier: -1"),
        ((6, 1, "eth0.100"), "interfaceName: 8 octets do not fit a 4-octet field"),
        ((6, "x", "eth0"), "octetDeltaCount: expected an int, not str"),
        ((6, None, "eth0"), "octetDeltaCount: None"),
        ((6, 1), "has 3 fields, the record has 2 values"),
    ]
    for rec, msg in cases:
        with pytest.raises(ff.EncodeError, match=msg):
            w.write(tid, rec)
    with pytest.raises(ff.EncodeError, match="record 1: octetDeltaCount"):
        w.write_records(tid, [(6, 2, "eth1"), (6, -5, "eth2"), (6, 3, "eth3")])
    with pytest.raises(ff.SpecError):
        w.add_template(["noSuchElement"])
    with pytest.raises(ff.EncodeError, match="cannot be encoded in 9 octets"):
        w.add_template(["octetDeltaCount[9]"])
    big = w.add_template(["interfaceName"])
    small = ff.Writer(mtu=100, export_time=0)
    sid = small.add_template(["interfaceName"])
    with pytest.raises(ff.EncodeError, match="does not fit a message of at most 100 octets"):
        small.write(sid, ("x" * 200,))
    w.write(big, ("ok",))
    data = w.close()
    assert data is not None
    # Every refused record left nothing: the stream holds exactly the
    # records accepted, in whole messages.
    assert [r["interfaceName"] for r in ff.iter_records(data)] == ["eth0", "eth1", "ok"]
    assert sum(length for length, *_ in _messages(data)) == len(data)


def test_values_in_reader_types_and_alternatives() -> None:
    fields = [
        "sourceIPv4Address",
        "sourceIPv6Address",
        "sourceMacAddress",
        "flowStartMilliseconds",
        "flowStartNanoseconds",
    ]
    t = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    plus2 = t.astimezone(__import__("datetime").timezone(timedelta(hours=2)))
    rows = [
        (
            ipaddress.ip_address("10.1.2.3"),
            ipaddress.ip_address("2001:db8::1"),
            "00:11:22:aa:bb:cc",
            t,
            t,
        ),
        ("10.1.2.3", "2001:db8::1", bytes.fromhex("001122aabbcc"), plus2, t.replace(tzinfo=None)),
        (0x0A010203, int(ipaddress.ip_address("2001:db8::1")), "00-11-22-AA-BB-CC", t, t),
    ]
    data = ff.write_ipfix(rows, template=fields, export_time=0)
    assert data is not None
    back = list(ff.iter_records(data, as_="tuple", columns=fields))
    assert back == [rows[0]] * 3


# -- tables (pandas, pyarrow, polars) -------------------------------------------

DATA = Path(__file__).resolve().parents[1] / "data" / "ipfix"


@pytest.mark.parametrize(
    "name", ["ipfixcol2__example_flows.ipfix", "ipfixcol__04-odid256_512.ipfix"]
)
def test_a_dataframe_read_and_written_back_gives_the_same_records(name: str) -> None:
    pytest.importorskip("pandas")
    df = ff.read_ipfix(DATA / name)
    data = ff.write_ipfix(df, export_time=0)
    assert data is not None
    back = ff.read_ipfix(data)
    # Rows with nulls went under templates of their set columns, so the
    # union of columns comes back in another order: compare by IE name.
    assert sorted(back.columns) == sorted(df.columns)
    assert back[df.columns].equals(df)
    # The same values through the record path: every set field of every
    # original record, in order.
    want = [{k: v for k, v in r.items() if v is not None} for r in ff.iter_records(DATA / name)]
    assert list(ff.iter_records(data)) == want


def test_arrow_types_units_and_mapping() -> None:
    pa = pytest.importorskip("pyarrow")
    t = pa.table(
        {
            "bytes": pa.array([1, 2**32 - 1], pa.int64()),
            "src": pa.array(["10.0.0.1", "192.168.1.2"]),
            "dst": pa.array([0x0A000002, 0x0A000003], pa.uint32()),
            "mac": pa.array([bytes.fromhex("001122334455"), bytes.fromhex("66778899aabb")]),
            "start": pa.array([1_700_000_000_123_456_789, 5], pa.timestamp("ns")),
            "end": pa.array([1_700_000_001, 7], pa.timestamp("s", tz="Europe/Paris")),
            "flowStartMicroseconds": pa.array(
                [1_700_000_000_123_456, 0], pa.timestamp("us", tz="UTC")
            ),
            "proto": pa.array(["tcp", "udp"]).dictionary_encode(),
        }
    )
    mapping = {
        "bytes": "octetDeltaCount[4]",
        "src": "sourceIPv4Address",
        "dst": "destinationIPv4Address",
        "mac": "sourceMacAddress",
        "start": "flowStartNanoseconds",
        "end": "flowEndSeconds",
        "proto": "applicationName",
    }
    data = ff.write_ipfix(t, columns=mapping, export_time=0)
    assert data is not None
    got = list(ff.iter_records(data))
    assert got[0] == {
        "octetDeltaCount": 1,
        "sourceIPv4Address": ipaddress.IPv4Address("10.0.0.1"),
        "destinationIPv4Address": ipaddress.IPv4Address("10.0.0.2"),
        "sourceMacAddress": "00:11:22:33:44:55",
        # Nanoseconds go on the wire (the reader's datetime shows microseconds).
        "flowStartNanoseconds": datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC),
        "flowEndSeconds": datetime(2023, 11, 14, 22, 13, 21, tzinfo=UTC),
        "flowStartMicroseconds": datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC),
        "applicationName": "tcp",
    }
    ns = ff.scan_ipfix(data).to_arrow().column("flowStartNanoseconds")
    assert ns.cast(pa.int64()).to_pylist() == [1_700_000_000_123_456_789, 5]
    assert got[1]["octetDeltaCount"] == 2**32 - 1


def test_table_refusals_name_the_column_and_row() -> None:
    pa = pytest.importorskip("pyarrow")
    cases = [
        (
            pa.table({"octetDeltaCount": pa.array([1.5])}),
            r"column \"octetDeltaCount\" \(octetDeltaCount\), row 0: 1.5 is not a whole number",
        ),
        (
            pa.table({"protocolIdentifier": pa.array([6, 300], pa.int32())}),
            r"column \"protocolIdentifier\" \(protocolIdentifier\), row 1: 300 does not fit 1",
        ),
        (
            pa.table({"bytesSent": pa.array([1])}),
            r"column \"bytesSent\": .*unknown Information Element",
        ),
        (
            pa.table({"sourceIPv4Address": pa.array(["10.0.0.1", "not an address"])}),
            r"row 1: \"not an address\" is not an IPv4 address",
        ),
    ]
    for table, msg in cases:
        with pytest.raises(ff.EncodeError, match=msg):
            ff.write_ipfix(table, export_time=0)
    with pytest.raises(ff.EncodeError, match='names "nope", which the data lacks'):
        ff.write_ipfix(pa.table({"octetDeltaCount": [1]}), columns={"nope": "packetDeltaCount"})
    nulls = pa.table({"octetDeltaCount": [1, None, 3], "packetDeltaCount": [1, 2, None]})
    with pytest.raises(ff.EncodeError, match=r"column \"octetDeltaCount\", row 1: null"):
        ff.write_ipfix(nulls, nulls="error")
    # The rows before a refused value are written, in whole messages.
    w = ff.Writer(export_time=0)
    with pytest.raises(ff.EncodeError, match="row 2"):
        w.write_table(pa.table({"protocolIdentifier": pa.array([6, 17, 999, 1], pa.int32())}))
    data = w.close()
    assert data is not None
    assert [r["protocolIdentifier"] for r in ff.iter_records(data)] == [6, 17]


def test_null_patterns_get_their_own_templates() -> None:
    pa = pytest.importorskip("pyarrow")
    t = pa.table(
        {
            "octetDeltaCount": [1, None, 3, None],
            "packetDeltaCount": [10, 20, None, 40],
            "interfaceName": ["a", "b", "c", "d"],
        }
    )
    data = ff.write_ipfix(t, export_time=0)
    assert data is not None
    recs = list(ff.iter_records(data, meta=True))
    assert [r for _, r in recs] == [
        {"octetDeltaCount": 1, "packetDeltaCount": 10, "interfaceName": "a"},
        {"packetDeltaCount": 20, "interfaceName": "b"},
        {"octetDeltaCount": 3, "interfaceName": "c"},
        {"packetDeltaCount": 40, "interfaceName": "d"},
    ]
    # Three patterns, three templates; rows 2 and 4 share one.
    assert [m.template_id for m, _ in recs] == [256, 257, 258, 257]


def test_polars_frames_are_written_too() -> None:
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"octetDeltaCount": [1, 2], "sourceIPv4Address": ["10.0.0.1", "10.0.0.2"]})
    data = ff.write_ipfix(df, export_time=0)
    assert data is not None
    assert ff.read_ipfix(data, addresses="int")["sourceIPv4Address"].tolist() == [
        0x0A000001,
        0x0A000002,
    ]


@st.composite
def sub_records(draw: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    """A sub-template (one field per IE) and some of its records."""
    picks = draw(
        st.lists(
            st.integers(0, len(FIELDS) - 1),
            min_size=1,
            max_size=4,
            unique_by=lambda i: FIELDS[i][0],
        )
    )
    # IE names only: list elements take each IE's own length.
    names = [FIELDS[i][0] for i in picks if None in FIELDS[i][1] or len(FIELDS[i][1]) == 1]
    if not names:
        names = ["octetDeltaCount"]
    strategies = []
    for name in names:
        _ie, lengths, values = next(f for f in FIELDS if f[0] == name)
        n = None if None in lengths else max(x for x in lengths if x is not None)
        strategies.append(values(n))
    return names, draw(st.lists(st.tuples(*strategies), min_size=1, max_size=5))


@settings(max_examples=60, deadline=None)
@given(st.lists(sub_records(), min_size=1, max_size=3), st.booleans())
def test_lists_of_records_read_back_as_written(blocks: Any, multi: bool) -> None:
    """RFC 6313 subTemplateList / subTemplateMultiList fields from random
    sub-templates and records, written from Python and read back."""
    dicts = [[dict(zip(names, r, strict=True)) for r in recs] for names, recs in blocks]
    if not multi:
        dicts = dicts[:1]
    field = "subTemplateMultiList" if multi else "subTemplateList"
    with ff.Writer(export_time=0, specs=SPECS) as w:
        t = w.add_template([field, "octetDeltaCount"])
        w.write(t, (dicts if multi else dicts[0], 1))
    data = w.close()
    assert data is not None
    (rec,) = ff.iter_records(data, records="data", specs=SPECS)
    # Given blocks stay blocks (RFC 6313 §4.5.3), even of one template.
    assert rec[field] == (dicts if multi else dicts[0])


@settings(max_examples=100, deadline=None)
@given(
    st.data(),
    st.integers(0, len(FIELDS) - 1),
    st.sampled_from(["noneOf", "exactlyOneOf", "oneOrMoreOf", "allOf", "ordered", "undefined"]),
    st.sampled_from(["basicList", "basicList[300]"]),
)
def test_basic_lists_read_back_as_written(data: Any, pick: int, semantic: str, field: str) -> None:
    """RFC 6313 basicList fields of every item type and width (reduced sizes
    and variable length included) and every semantic, from ``BasicList``
    values; the reader gives back ``BasicList``s naming the item IE. A fixed
    ``basicList[300]`` field takes only lists of exactly 300 octets."""
    ie, lengths, values = FIELDS[pick]
    n = data.draw(st.sampled_from(lengths))
    spec = ie if n is None else f"{ie}[{n}]"
    items = data.draw(st.lists(values(n), max_size=10))
    value = ff.BasicList(spec, items, semantic)
    with ff.Writer(export_time=0, specs=SPECS) as w:
        t = w.add_template([field, "octetDeltaCount"])
        try:
            w.write(t, (value, 7))
        except ff.EncodeError as e:
            assert field == "basicList[300]" and "for a 300-octet field" in str(e)
            return
    out = w.close()
    assert out is not None
    (rec,) = ff.iter_records(out, records="data", specs=SPECS)
    back = rec["basicList"]
    assert isinstance(back, ff.BasicList)
    assert (back, back.ie, back.semantic) == (items, ie, semantic)
