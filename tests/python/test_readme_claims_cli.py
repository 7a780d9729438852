"""README claims about the command line, the install and ferrofix.compat
that no other test held (each test names its claim); the rest are in
test_readme_claims.py. Expected values come from the inputs themselves,
from python-ipfix 0.9.7 run beside ferrofix, or from the same data read
another way; never from ferrofix's output pasted back."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from test_readme_captures import messages
from test_readme_claims import _pcap_frames

import ferrofix as ff

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
FLOWS = DATA / "ipfix" / "ipfixcol2__example_flows.ipfix"


# -- The command line, install, compat -------------------------------------------


def test_pyproject_asks_for_python_311_and_has_the_pandas_extra() -> None:
    """README: "Python 3.11+"; `pip install './ferrofix[pandas]'`: "[pandas]
    adds pandas and pyarrow"."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"].replace(" ", "") == ">=3.11"
    extra = {
        r.split(">")[0].split("=")[0].split("<")[0].strip()
        for r in project["optional-dependencies"]["pandas"]
    }
    assert {"pandas", "pyarrow"} <= extra


def test_meter_command_of_several_captures_to_csv(tmp_path: Path) -> None:
    """README: `ferrofix meter a.pcap b.pcap -o flows.parquet  # or .ipfix /
    .csv`: the CSV holds the flows of both captures, their packets adding
    up to the captures' frames (counted here from the pcap record headers;
    every frame of these two captures is IPv4, as tshark shows them)."""
    caps = [
        DATA / "pcap" / "zeek__http-vlan-0.pcap",
        DATA / "pcap" / "tcpdump__LINKTYPE_RAW_ipv4.pcap",
    ]
    out = tmp_path / "flows.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "ferrofix", "meter", *map(str, caps), "-o", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out)
    frames = sum(len(_pcap_frames(c.read_bytes())[1]) for c in caps)
    assert frames == 15
    counted = int(table.packetDeltaCount.sum() + table.reversePacketDeltaCount.fillna(0).sum())
    assert counted == frames
    assert {"sourceIPv4Address", "octetDeltaCount"} <= set(table.columns)


def test_compat_hooks_on_msg_read_message_by_message() -> None:
    """README: "hooks set on `reader.msg` switch to python-ipfix's
    message-by-message path": a message_header_hook sees every message of
    the file (length and sequence number, RFC 7011 §3.1) and a
    template_record_hook every template record, in order, as a walk of the
    file's bytes finds them."""
    from ferrofix.compat import ie, reader

    ie.use_iana_default()
    data = FLOWS.read_bytes()
    heads: list[tuple[int, int]] = []
    tids: list[int] = []
    with FLOWS.open("rb") as f:
        r = reader.from_stream(f)
        r.msg.message_header_hook = lambda m: heads.append((m.length, m.sequence))
        r.msg.template_record_hook = lambda m, t: tids.append(t.tid)
        n = sum(1 for _ in r.namedict_iterator())
    want_heads, want_tids = [], []
    for msg in messages(data):
        length, _, seq = struct.unpack_from("!HII", msg, 2)
        want_heads.append((length, seq))
        at = 16
        while at + 4 <= len(msg):
            set_id, set_len = struct.unpack_from("!HH", msg, at)
            p = at + 4
            while set_id == 2 and p + 4 <= at + set_len:
                tid, count = struct.unpack_from("!HH", msg, p)
                want_tids.append(tid)
                p += 4
                for _ in range(count):
                    p += 8 if struct.unpack_from("!H", msg, p)[0] & 0x8000 else 4
            at += set_len
    assert heads == want_heads and len(heads) > 1
    assert tids == want_tids and tids
    assert n == len(ff.read_ipfix(str(FLOWS)))


def test_iana_xml_to_iespec_reads_a_local_file_not_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """README: "`ieutils.iana_xml_to_iespec` reads a local file, not the
    network". On the vendored registry it gives every IESpec python-ipfix's
    own function gives (read through a file: URL), and more only of types
    python-ipfix lacks; a network URL is refused without a connection."""
    pie = pytest.importorskip("ipfix.ieutils")
    ptypes = pytest.importorskip("ipfix.types")
    from ferrofix.compat import ieutils

    xml = REPO / "data" / "iana" / "ipfix.xml"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pie.iana_xml_to_iespec(xml.as_uri())
    ours = ieutils.iana_xml_to_iespec(str(xml))
    assert ieutils.iana_xml_to_iespec(xml.as_uri()) == ours
    assert set(theirs) <= set(ours) and len(theirs) > 400
    for spec in set(ours) - set(theirs):
        typename = spec.split("<")[1].split(">")[0]
        with pytest.raises(Exception):  # noqa: B017 (python-ipfix's own refusal)
            ptypes.for_name(typename)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("iana_xml_to_iespec opened a connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(ValueError, match="local file"):
        ieutils.iana_xml_to_iespec("https://www.iana.org/assignments/ipfix/ipfix.xml")


def test_use_iana_default_has_about_a_hundred_ies_more_than_python_ipfix() -> None:
    """README: `use_iana_default()` loads "about a hundred IEs more than
    python-ipfix's 2014 file" (python-ipfix 0.9.7's own model is the
    count to compare with)."""
    real = pytest.importorskip("ipfix.ie")
    from ferrofix.compat import ie as ours

    real.use_iana_default()
    ours.use_iana_default()
    theirs = len([e for e in real.dump_infomodel() if e.pen == 0])
    mine = len([e for e in ours.dump_infomodel() if e.pen == 0])
    assert 75 <= mine - theirs <= 125, (mine, theirs)


def test_python_ipfix_has_91_doctest_examples() -> None:
    """README: "python-ipfix's own 91 doctest examples run on it" (that
    they pass is test_compat_doctests.py; the number is python-ipfix's,
    counted here with the doctest module in a fresh interpreter, so that
    no ``ferrofix.compat.install()`` stands in for the package)."""
    pytest.importorskip("ipfix")
    code = (
        "import doctest, importlib\n"
        "n = 0\n"
        "for m in ('ie', 'message', 'types', 'template', 'reader', 'writer', 'v9pdu', 'ieutils'):\n"
        "    mod = importlib.import_module('ipfix.' + m)\n"
        "    n += sum(len(t.examples) for t in doctest.DocTestFinder().find(mod))\n"
        "print(n)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == 91
