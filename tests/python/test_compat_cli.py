"""``ferrofix csv`` and ``ferrofix stat`` against python-ipfix's own
``ipfix2csv`` and ``ipfixstat`` scripts (installed with ipfix==0.9.7 by
``make test``; skipped where they are not), on the real files python-ipfix
reads to the end: the same output, byte for byte."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FILES = [
    "ipfixcol__02-odid4.ipfix",
    "ipfixcol__03-odid0-a.ipfix",
    "ipfixcol__04-odid256_512.ipfix",
    "ipfixcol__missing-template-258.ipfix",
    "logstash-codec-netflow__ipfix.dat",
]
COLUMNS = [
    "sourceIPv4Address",
    "destinationIPv4Address",
    "octetDeltaCount",
    "flowStartMilliseconds",
]


def _script(name: str) -> str:
    path = BIN / name
    if not path.exists() and shutil.which(name) is None:
        pytest.skip(f"python-ipfix's {name} is not installed")
    return str(path if path.exists() else shutil.which(name))


def _run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.mark.parametrize("name", FILES)
def test_csv_as_ipfix2csv(name: str) -> None:
    path = str(TESTS / "data" / "ipfix" / name)
    theirs = _run([sys.executable, _script("ipfix2csv"), "-f", path, *COLUMNS])
    ours = _run([sys.executable, "-m", "ferrofix", "csv", "-f", path, *COLUMNS])
    assert ours == theirs
    assert ours.count("\n") >= 1


@pytest.mark.parametrize("name", FILES)
def test_stat_as_ipfixstat(name: str) -> None:
    path = str(TESTS / "data" / "ipfix" / name)
    theirs = _run([sys.executable, _script("ipfixstat"), "-f", path])
    ours = _run([sys.executable, "-m", "ferrofix", "stat", "-f", path])
    assert ours == theirs
    assert "templates" in ours


def test_csv_reads_gzip_and_netflow(tmp_path: Path) -> None:
    """Beyond python-ipfix: gzip recognised by itself, NetFlow v9 too."""
    import gzip

    src = (TESTS / "data" / "ipfix" / "ipfixcol__02-odid4.ipfix").read_bytes()
    gz = tmp_path / "x.ipfix.gz"
    gz.write_bytes(gzip.compress(src))
    plain = _run(
        [
            sys.executable,
            "-m",
            "ferrofix",
            "csv",
            "-f",
            str(TESTS / "data" / "ipfix" / "ipfixcol__02-odid4.ipfix"),
            *COLUMNS,
        ]
    )
    assert _run([sys.executable, "-m", "ferrofix", "csv", "-f", str(gz), *COLUMNS]) == plain
    assert _run([sys.executable, "-m", "ferrofix", "csv", "-z", "-f", str(gz), *COLUMNS]) == plain
    nf = TESTS / "data" / "netflow"
    v9 = tmp_path / "v9.bin"
    pre = "logstash-codec-netflow__netflow9_test_cisco_asr9k_"
    v9.write_bytes(
        (nf / (pre + "tpl260.dat")).read_bytes() + (nf / (pre + "data260.dat")).read_bytes()
    )
    out = _run([sys.executable, "-m", "ferrofix", "csv", "-9", "-f", str(v9), "octetDeltaCount"])
    assert out.splitlines()[0] == '"octetDeltaCount"' and len(out.splitlines()) == 22


def test_stat_reads_gzip_and_refuses_netflow_clearly(tmp_path: Path) -> None:
    """stat recognises gzip by itself (as ipfixstat with -z reads it), and
    names the file and why for NetFlow v9 instead of a traceback."""
    import gzip

    path = TESTS / "data" / "ipfix" / "ipfixcol__02-odid4.ipfix"
    gz = tmp_path / "x.ipfix.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    theirs = _run([sys.executable, _script("ipfixstat"), "-z", "-f", str(gz)])
    assert _run([sys.executable, "-m", "ferrofix", "stat", "-f", str(gz)]) == theirs
    v9 = TESTS / "data" / "netflow" / "fluent-plugin-netflow__netflow.v9.template.dump"
    r = subprocess.run(
        [sys.executable, "-m", "ferrofix", "stat", "-f", str(v9)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert "reads IPFIX" in r.stderr and str(v9) in r.stderr
    assert "Traceback" not in r.stderr
