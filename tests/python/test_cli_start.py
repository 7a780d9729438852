"""The ``ferrofix`` command's start, which every run pays: ``ferrofix
meter`` writing IPFIX, run as ``python -m ferrofix`` runs it, imports no
table library (pandas, pyarrow, numpy, polars) and not ``shutil``, which
argparse's default help formatter imports for the terminal's width; the
formatter given the width instead (``_cli.HelpFormatter``) gives argparse's
own help and usage text. No timings here: those are ``BENCHMARKS.md``'s."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from ferrofix import _cli
from ferrofix.__main__ import COMMANDS, parser

CAPTURE = Path(__file__).resolve().parents[1] / "data" / "pcap" / "nfstream__iphone.pcap"

#: Never imported by ``ferrofix meter -o FILE.ipfix``: the table
#: libraries, and what argparse's formatter imports for the terminal's
#: width, which help needs and a run does not.
HEAVY = ("pandas", "pyarrow", "numpy", "polars", "shutil")


def started(*args: str) -> list[str]:
    """The HEAVY modules (top-level names) loaded once ``python -m
    ferrofix ARGS`` has run, in a child interpreter (runpy, as ``-m``),
    as the line ``loaded: [...]`` it writes to stderr."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['ferrofix', *{list(args)!r}]\n"
        "try:\n"
        "    runpy.run_module('ferrofix', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "loaded = {m.partition('.')[0] for m in sys.modules}\n"
        f"print('loaded:', sorted(loaded & set({HEAVY!r})), file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, check=False)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    return [line for line in err.splitlines() if line.startswith("loaded:")]


def test_the_meter_writing_ipfix_imports_no_heavy_module(tmp_path: Path) -> None:
    out = tmp_path / "flows.ipfix"
    assert started("meter", str(CAPTURE), "-o", str(out), "--no-progress") == ["loaded: []"]
    assert out.stat().st_size > 0
    # IPFIX to standard output (the child's, a pipe here) too.
    assert started("meter", str(CAPTURE), "-o", "-", "--no-progress") == ["loaded: []"]


def _texts(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Every command's --help and a usage error, as the parser gives them."""
    texts = []
    for argv in [["--help"], ["meter"]] + [[name, "--help"] for name, _, _ in COMMANDS]:
        with pytest.raises(SystemExit):
            parser(argv[0]).parse_args(argv)
        got = capsys.readouterr()
        texts.append(got.out + got.err)
    return texts


@pytest.mark.parametrize("columns", ["30", "57", "100", "250"])
def test_help_reads_as_argparses_own_formatter_gives_it(
    columns: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setenv("NO_COLOR", "1")
    ours = _texts(capsys)
    monkeypatch.setattr(_cli, "HelpFormatter", argparse.RawDescriptionHelpFormatter)
    assert ours == _texts(capsys)
