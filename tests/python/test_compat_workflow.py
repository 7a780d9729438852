"""QoF's analysis workflow on ferrofix.compat: the python-ipfix calls QoF's
tools make (use_iana_default, use_5103_default, a spec file of QoF's PEN
35566 IEs, spec_list of about twenty IEs, reader.from_stream(...)
.tuple_iterator(...) into ``pandas.DataFrame.from_records``) give the
DataFrame ferrofix's native ``read_ipfix(..., columns=..., require="all")``
gives on the same real file, row for row and value for value (the native
frame's timezone-aware times and address text compared as python-ipfix's
naive UTC datetimes and ``ipaddress`` objects); and files written through
ferrofix.compat.writer read back the same in python-ipfix itself and in
libfixbuf's ipfixDump.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import shutil
import subprocess
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import ferrofix as ff
from ferrofix.compat import ie, reader, template, writer

TESTS = Path(__file__).resolve().parents[1]
FILE = TESTS / "data" / "ipfix" / "ipfixcol2__example_flows.ipfix"
QOF_SPECS = Path(ff.spec_file("qof"))

IES = [
    "flowStartMilliseconds",
    "flowEndMilliseconds",
    "sourceIPv4Address",
    "destinationIPv4Address",
    "sourceTransportPort",
    "destinationTransportPort",
    "protocolIdentifier",
    "ipClassOfService",
    "ipTTL",
    "ipVersion",
    "tcpControlBits",
    "octetDeltaCount",
    "packetDeltaCount",
    "ingressInterface",
    "egressInterface",
    "samplingInterval",
    "samplingAlgorithm",
]


@pytest.fixture(autouse=True)
def _model() -> Any:
    ie.clear_infomodel()
    ie.use_iana_default()
    ie.use_5103_default()
    ie.use_specfile(str(QOF_SPECS))
    yield
    ie.clear_infomodel()


def _python_ipfix_form(v: Any) -> Any:
    """A native DataFrame value as python-ipfix gives it."""
    if isinstance(v, datetime):
        return v.replace(tzinfo=None)
    if isinstance(v, str):
        try:
            return ipaddress.ip_address(v)
        except ValueError:
            return v
    return v.item() if hasattr(v, "item") else v


def test_qof_workflow_gives_the_native_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    # QoF's IEs come from the spec file, reverse IEs from RFC 5103.
    assert ie.for_spec("tcpSequenceCount").pen == 35566
    assert ie.for_spec("reverseOctetDeltaCount").pen == 29305
    names = list(IES)
    ielist = ie.spec_list(names)
    with FILE.open("rb") as f, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = list(reader.from_stream(f).tuple_iterator(ielist))
    compat = pd.DataFrame.from_records(rows, columns=names)
    native = ff.read_ipfix(FILE, columns=names, require="all")
    assert len(compat) == len(native) > 1000
    assert list(compat.columns) == list(native.columns)
    for name in names:
        theirs = [_python_ipfix_form(v) for v in native[name].tolist()]
        assert compat[name].tolist() == theirs, name
    # The records left out (ICMP flows without ports, ...) are counted.
    total = len(list(ff.iter_records(FILE, records="data")))
    dropped = [w for w in caught if "left out" in str(w.message)]
    assert len(dropped) == 1
    assert f"left out {total - len(compat)} records" in str(dropped[0].message)
    # Values are python-ipfix's types.
    first = rows[0]
    assert isinstance(first[0], datetime) and first[0].tzinfo is None
    assert isinstance(first[2], ipaddress.IPv4Address)


def test_namedicts_are_the_native_records() -> None:
    with FILE.open("rb") as f:
        compat = list(reader.from_stream(f).namedict_iterator())
    native = list(ff.iter_records(FILE))
    assert len(compat) == len(native) == 3979
    for a, b in zip(compat, native, strict=True):
        assert a == {k: _python_ipfix_form(v) for k, v in b.items()}


def _write_with_compat(path: Path) -> list[tuple[Any, ...]]:
    names = [
        "flowStartMilliseconds",
        "sourceIPv4Address",
        "destinationIPv4Address",
        "octetDeltaCount",
        "tcpSequenceCount",
    ]
    tmpl = template.from_ielist(256, ie.spec_list(names))
    recs = [
        (
            datetime(2013, 6, 21, 14, 0, i % 60, (i * 1000) % 1_000_000),
            ipaddress.ip_address(f"10.0.{i // 256 % 256}.{i % 256}"),
            ipaddress.ip_address("192.0.2.1"),
            i * 40,
            i * 7,
        )
        for i in range(3000)
    ]
    with path.open("wb") as f:
        w = writer.to_stream(f, mtu=1400)
        w.set_domain(42)
        w.add_template(tmpl)
        w.set_export_template(256)
        for r in recs[:1500]:
            w.export_tuple(r)
        for r in recs[1500:]:
            w.export_namedict(dict(zip(names, r, strict=True)))
        w.flush()
    return recs


# python-ipfix (the oracle here) calls datetime.utcfromtimestamp, deprecated
# from 3.12: its warning, and only its, is not an error.
@pytest.mark.filterwarnings("ignore:datetime.datetime.utc:DeprecationWarning:ipfix.types")
def test_written_files_read_back_in_python_ipfix(tmp_path: Path) -> None:
    if importlib.util.find_spec("ipfix") is None:
        pytest.skip("python-ipfix 0.9.7 is not installed")
    import ipfix.ie as real_ie
    import ipfix.reader as real_reader

    path = tmp_path / "w.ipfix"
    recs = _write_with_compat(path)
    real_ie.clear_infomodel()
    real_ie.use_iana_default()
    real_ie.for_spec("tcpSequenceCount(35566/1024)<unsigned64>")
    names = ["flowStartMilliseconds", "sourceIPv4Address", "destinationIPv4Address"]
    names += ["octetDeltaCount", "tcpSequenceCount"]
    with path.open("rb") as f:
        got = list(real_reader.from_stream(f).tuple_iterator(real_ie.spec_list(names)))
    assert got == recs
    real_ie.clear_infomodel()


@pytest.mark.skipif(shutil.which("ipfixDump") is None, reason="libfixbuf-tools not installed")
def test_written_files_read_back_in_libfixbuf(tmp_path: Path) -> None:
    import oracle_dump as od

    path = tmp_path / "w.ipfix"
    recs = _write_with_compat(path)
    proc = subprocess.run(["ipfixDump", "-y"], input=path.read_bytes(), capture_output=True)
    assert proc.returncode == 0, proc.stderr
    dump = od.parse_ipfixdump(proc.stdout, proc.stderr.decode(errors="replace"))
    assert len(dump.records) == len(recs)
    for r, want in zip(dump.records, recs, strict=True):
        got = {(f.pen, f.id): f.text for f in r.fields}
        assert r.odid == 42
        assert got[(0, 1)] == str(want[3])
        assert got[(0, 8)] == str(want[1])
        # QoF's IE is unknown to libfixbuf: it prints the 8 octets as a
        # host-order (little-endian) integer; the octets must be ours.
        assert int(got[(35566, 1024)]).to_bytes(8, "little") == want[4].to_bytes(8, "big")


# Files python-ipfix 0.9.7 itself reads to the end (it rejects 16-octet
# messages, aborts on several others and loops for ever on a zero-length
# set: those are left out here, the bugs are tested elsewhere).
DIFFERENTIAL = [
    "ipfixcol__02-odid4.ipfix",
    "ipfixcol__03-odid0-a.ipfix",
    "ipfixcol__04-odid256_512.ipfix",
    "ipfixcol__enterprise-from-nfv9.ipfix",
    "ipfixcol__missing-template-258.ipfix",
    "logstash-codec-netflow__ipfix.dat",
    "logstash-codec-netflow__ipfix_test_ixia_tpldata256.dat",
    "logstash-codec-netflow__ipfix_test_ixia_tpldata271.dat",
]


@pytest.mark.parametrize("name", DIFFERENTIAL)
def test_records_as_python_ipfix_reads_them(name: str) -> None:
    """python-ipfix itself is the oracle: its namedict and tuple iterators
    against compat's on the same file, record for record (an IE repeated in
    a template: the last occurrence in a dict, the first in a tuple, as
    python-ipfix does)."""
    if importlib.util.find_spec("ipfix") is None:
        pytest.skip("python-ipfix 0.9.7 is not installed")
    import ipfix.ie as real_ie
    import ipfix.reader as real_reader

    path = TESTS / "data" / "ipfix" / name
    real_ie.clear_infomodel()
    real_ie.use_iana_default()
    real_ie.use_5103_default()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with path.open("rb") as f:
            want = list(real_reader.from_stream(f).namedict_iterator())
        with path.open("rb") as f:
            got = list(reader.from_stream(f).namedict_iterator())
        assert got == want
        assert [list(r) for r in got] == [list(r) for r in want]
        names = [n for n in ("sourceIPv4Address", "octetDeltaCount") if any(n in r for r in want)]
        if names:
            with path.open("rb") as f:
                want_t = list(real_reader.from_stream(f).tuple_iterator(real_ie.spec_list(names)))
            with path.open("rb") as f:
                got_t = list(reader.from_stream(f).tuple_iterator(ie.spec_list(names)))
            assert got_t == want_t
    real_ie.clear_infomodel()
