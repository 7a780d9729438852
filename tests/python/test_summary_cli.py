"""``ferrofix summary`` (README: a stream's templates, record counts per
template, the first records and the transport-health counters) against
ipfixDump's reading of the same files, and ``--spec-file`` adding to the
bundled spec files as its help says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import ferrofix as ff

DATA = Path(__file__).resolve().parents[1] / "data" / "ipfix"
FILES = [
    "ipfixcol2__example_flows.ipfix",
    "ipfixcol__02-odid4.ipfix",
    "logstash-codec-netflow__ipfix_test_juniper_mx240_junos151r6s3_opttpl512.dat",
]


def summary(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "ferrofix", "summary", *args],
        capture_output=True,
        check=True,
    )
    return out.stdout.decode()


def section(text: str, title: str) -> list[str]:
    lines = text.split("\n\n")
    block = next(b for b in lines if b.startswith(title))
    return [ln.strip() for ln in block.splitlines()[1:]]


@pytest.mark.skipif(shutil.which("ipfixDump") is None, reason="ipfixDump is not installed")
@pytest.mark.parametrize("name", FILES)
def test_templates_and_counts_are_ipfixdumps(name: str) -> None:
    path = DATA / name
    if not path.exists():
        pytest.fail(f"fixture {name} is missing")
    dump = subprocess.run(
        ["ipfixDump", "--in", str(path)], capture_output=True, check=True
    ).stdout.decode()
    # ipfixDump: each data record's "count: N tid: T" line; each template's
    # "tid: T field count: N" line.
    want_records = Counter(int(t) for t in re.findall(r"^\tcount: +\d+ +tid: +(\d+)", dump, re.M))
    want_fields = {
        int(t): int(n) for t, n in re.findall(r"^\ttid: +(\d+) .*field count: +(\d+)", dump, re.M)
    }
    total = int(re.search(r"File Stats: \d+ Messages, (\d+) Data Records", dump).group(1))  # type: ignore[union-attr]
    text = summary(str(path), "-n", "2")
    got_records = Counter[int]()
    for line in section(text, "records per template"):
        key, count = line.split(": ")
        got_records[int(key.split("/")[1])] += int(count)
    got_fields = {}
    for line in section(text, "templates"):
        key, fields = line.split(": ", 1)
        got_fields[int(key.split()[0].split("/")[1])] = len(fields.split(", "))
    assert got_records == want_records
    assert got_fields == want_fields
    assert sum(got_records.values()) == total
    health = section(text, "transport health")[0]
    assert f"{total} data records" in health
    if total:
        assert len(section(text, "first 2 records")) == min(2, total)


def test_spec_file_adds_to_the_bundled_ones(tmp_path: Path) -> None:
    """A file with one of QoF's IEs (a bundled spec file names it) and one
    of a spec file given on the command line: both are named."""
    mine = "myProbeCounter(99991/7)<unsigned32>"
    w = ff.Writer(None, specs=[mine], export_time=0)
    tid = w.add_template(["tcpSequenceCount", "myProbeCounter"])
    w.write(tid, (5, 6))
    path = tmp_path / "two.ipfix"
    path.write_bytes(w.close() or b"")
    extra = tmp_path / "mine.iespec"
    extra.write_text(mine + "\n")
    plain = section(summary(str(path)), "templates")
    assert "tcpSequenceCount" in plain[0] and "myProbeCounter" not in plain[0]
    both = section(summary(str(path), "--spec-file", str(extra)), "templates")
    assert "tcpSequenceCount" in both[0] and "myProbeCounter" in both[0]
