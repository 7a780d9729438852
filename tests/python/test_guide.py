"""docs/guide.md's type table, row by row, against what ferrofix does: for
each IPFIX type, a one-record message of the row's IE (built from RFC 7011's
encoding of the type, ipfixmsg.py) read as a record, an Arrow column (both
address forms) and a pandas column."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

import ferrofix as ff
import ipfixmsg as im

pa = pytest.importorskip("pyarrow")
pytest.importorskip("pandas")
np = pytest.importorskip("numpy")

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide.md"

# A value of each type, encoded as RFC 7011 §6.1 says.
VALUES = {
    "unsigned8": im.uint(6, 1),
    "unsigned16": im.uint(80, 2),
    "unsigned32": im.uint(3, 4),
    "unsigned64": im.uint(1500, 8),
    "signed32": im.sint(-5, 4),
    "float64": struct.pack("!d", 0.5),
    "boolean": b"\x01",  # RFC 7011 §6.1.5: 1 is true
    "macAddress": bytes([0, 0x11, 0x22, 0x33, 0x44, 0x55]),
    "octetArray": b"\x01\x02",
    "string": b"eth0",
    "dateTimeSeconds": im.uint(1_700_000_000, 4),
    "dateTimeMilliseconds": im.uint(1_700_000_000_123, 8),
    "dateTimeMicroseconds": im.uint(0xE8B6_1B00 << 32, 8),
    "dateTimeNanoseconds": im.uint(0xE8B6_1B00 << 32, 8),
    "ipv4Address": bytes([192, 0, 2, 1]),
    "ipv6Address": bytes(15) + b"\x01",
}
VARIABLE = {"octetArray", "string"}


def _rows() -> list[list[str]]:
    text = GUIDE.read_text()
    table = text.split("<!-- types-table -->")[1].split("<!-- /types-table -->")[0]
    lines = [ln for ln in table.strip().splitlines()[2:] if ln.startswith("|")]
    return [[c.strip().strip("`") for c in ln.strip("|").split("|")] for ln in lines]


def test_the_table_covers_every_value_built_here() -> None:
    assert [r[0] for r in _rows()] == list(VALUES)


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r[0])
def test_a_row_of_the_type_table(row: list[str]) -> None:
    ipfix_type, name, python, arrow, arrow_int, pandas_dtype = row
    (ie,) = ff.describe(name)
    assert (ie.pen, ie.type) == (0, ipfix_type)
    value = VALUES[ipfix_type]
    if ipfix_type in VARIABLE:
        fields, body = [im.field(ie.id, im.VARLEN)], im.varlen(value)
    else:
        fields, body = [im.field(ie.id, len(value))], value
    msg = im.message([im.template_set(im.template_record(256, fields)), im.set_(256, body)])
    (rec,) = list(ff.iter_records(msg))
    assert type(rec[name]).__name__ == python
    got = pa.table(ff.scan_ipfix(msg)).schema.field(name).type
    assert str(got) == arrow
    got_int = pa.table(ff.scan_ipfix(msg, addresses="int")).schema.field(name).type
    assert str(got_int) == arrow_int
    df = ff.read_ipfix(msg)
    assert str(df[name].dtype) == pandas_dtype


def _readme_quickstart() -> str:
    readme = (GUIDE.parents[1] / "README.md").read_text()
    use = readme.split("## Use", 1)[1]
    return use.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_quickstart_is_the_figure_scripts_code() -> None:
    """The figure the README shows is what its code draws: the script's
    block between its README markers, dedented, is the README's block."""
    import textwrap

    script = (GUIDE.parents[1] / "scripts" / "quickstart_figure.py").read_text()
    block = script.split("# README begin\n", 1)[1].split("# README end", 1)[0]
    block = textwrap.dedent(block.rstrip(" "))
    assert block == _readme_quickstart()


def test_the_readme_figure_script_draws_its_two_plots(tmp_path: Path) -> None:
    """scripts/quickstart_figure.py (the README's first code) runs and
    writes a PNG; its RTT line has one point per TCP flow that has a
    handshake RTT."""
    pytest.importorskip("matplotlib")
    import importlib.util

    script = GUIDE.parents[1] / "scripts" / "quickstart_figure.py"
    spec = importlib.util.spec_from_file_location("quickstart_figure", script)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "q.png"
    got = mod.figure(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    flows = ff.meter(mod.CAPTURE)
    tcp = flows[flows.protocolIdentifier == 6]
    assert got["flows"] == len(flows)
    assert 0 < got["rtt_samples"] <= tcp.tcpHandshakeRttMicroseconds.notna().sum()
    # the README's code, run here as a user would (from the repository's
    # root): the left axis says milliseconds, its line is the RTTs / 1000
    import contextlib

    import matplotlib.pyplot as plt

    scope: dict[str, Any] = {}
    with contextlib.chdir(GUIDE.parents[1]):
        exec(_readme_quickstart(), scope)  # the README's own code
    a = scope["a"]
    assert a.get_xlabel() == "handshake RTT (ms)" and a.get_xscale() == "log"
    lossless = tcp[~tcp.flows.lossy()]
    rtt_ms = np.sort(lossless.tcpHandshakeRttMicroseconds.dropna().to_numpy(dtype=float)) / 1000
    np.testing.assert_allclose(a.get_lines()[0].get_xdata(), rtt_ms)
    plt.close(scope["fig"])
