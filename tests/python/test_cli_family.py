"""The ``ferrofix`` subcommands as one family, run as a shell user runs them
(``python -m ferrofix`` and the installed ``ferrofix`` script): ``--help``
with examples; each on the bundled data, its output held to an independent
source (tshark's and ipfixDump's committed decodes, tshark's per-packet
table of a capture, python-ipfix-free arithmetic on the input); the three
failures a user meets (a missing file, a file of something else, a file
cut short) as one line on stderr naming the file, a non-zero exit and no
traceback; ``-`` as standard input; ``| head`` closing the pipe early; and
Ctrl-C. Kept apart: ``--help`` of every command and the failure table are
generated from ``COMMANDS`` so a new subcommand gets them by one entry."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ferrofix as ff

TESTS = Path(__file__).resolve().parents[1]
IPFIX = TESTS / "data" / "ipfix" / "ipfixcol__02-odid4.ipfix"
BIG = TESTS / "data" / "ipfix" / "ipfixcol2__example_flows.ipfix"
NETFLOW = TESTS / "data" / "netflow" / "logstash-codec-netflow__netflow9_test_valid01.dat"
EXPORT_PCAP = TESTS / "data" / "pcap" / "pmacct__100-IPFIXv10-CISCO--traffic-00.pcap"
CAPTURE = TESTS / "data" / "pcap" / "nfstream__iphone.pcap"
ORACLE = TESTS / "data" / "oracle"
SCRIPT = Path(sys.executable).parent / "ferrofix"
RUNNERS = {"module": [sys.executable, "-m", "ferrofix"], "script": [str(SCRIPT)]}


def run(
    *args: str, stdin: bytes | None = None, runner: str = "module"
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*RUNNERS[runner], *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def ok(*args: str, stdin: bytes | None = None) -> bytes:
    r = run(*args, stdin=stdin)
    assert r.returncode == 0, r.stderr.decode()
    assert b"Traceback" not in r.stderr and b"\r" not in r.stderr  # no bar into a pipe
    return r.stdout


def tshark_records(path: Path) -> list[dict[int, str]]:
    """tshark's decode of a fixture (committed, see tests/data/oracle):
    each data record as {IE id: tshark's display text}."""
    name = path.name + ".tshark.json"
    oracle = ORACLE / ("pcap" if path.suffix == ".pcap" else "") / name
    recs = json.loads(oracle.read_text())["records"]
    return [{f[1]: f[2] for f in r["fields"] if f[0] == 0} for r in recs]


# IE name -> IANA id, for the columns the tests select.
IDS = {
    "sourceIPv4Address": 8,
    "destinationIPv4Address": 12,
    "sourceTransportPort": 7,
    "destinationTransportPort": 11,
    "protocolIdentifier": 4,
    "octetDeltaCount": 1,
    "packetDeltaCount": 2,
}
COLUMNS = list(IDS)

# One entry per subcommand: how it is given a file (and what else it needs).
COMMANDS: dict[str, Callable[[str, Path], list[str]]] = {
    "summary": lambda f, tmp: ["summary", f],
    "stat": lambda f, tmp: ["stat", "-f", f],
    "convert": lambda f, tmp: ["convert", f, "-o", str(tmp / "out.csv")],
    "csv": lambda f, tmp: ["csv", "-f", f, "octetDeltaCount"],
    "meter": lambda f, tmp: ["meter", f, "-o", str(tmp / "flows.ipfix")],
    "collect": lambda f, tmp: ["collect", f, "-o", str(tmp / "dir")],
}


@pytest.mark.parametrize("runner", list(RUNNERS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_help(command: str, runner: str) -> None:
    r = run(command, "--help", runner=runner)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out.startswith(f"usage: ferrofix {command} ")
    assert "examples:" in out and "--no-progress" in out


def test_top_level_help_lists_the_family() -> None:
    out = ok("--help").decode()
    for command in COMMANDS:
        assert re.search(rf"^    {command} ", out, re.M), command
    assert "130" in out and "141" in out  # the exit statuses


def failures(tmp: Path, good: Path) -> list[tuple[Path, str]]:
    """A missing file, a file of text, and ``good`` cut in the middle."""
    text = tmp / "notes.txt"
    text.write_text("these are notes, not flow records\n" * 20)
    cut = tmp / f"cut{good.suffix}"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2 + 7])
    return [(tmp / "missing.ipfix", "No such file"), (text, ""), (cut, "")]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_failures_are_one_line(command: str, tmp_path: Path) -> None:
    good = CAPTURE if command == "meter" else BIG
    for path, words in failures(tmp_path, good):
        r = run(*COMMANDS[command](str(path), tmp_path))
        err = r.stderr.decode()
        assert r.returncode not in (0, 2), (path, err)
        assert "Traceback" not in err, err
        assert err.count("\n") == 1, err
        assert err.startswith(f"ferrofix {command}: ") and str(path) in err, err
        assert words in err, err


def tshark_rows(path: Path) -> list[list[str]]:
    """The ``COLUMNS`` of tshark's records as text ('' where a template lacks one)."""
    return [[t.get(IDS[c], "") for c in COLUMNS] for t in tshark_records(path)]


def tshark_time(text: str) -> datetime:
    """tshark's 'Jul 21, 2014 11:18:51.012000000 UTC' (to the microsecond)."""
    return datetime.strptime(text.removesuffix(" UTC")[:-3], "%b %d, %Y %H:%M:%S.%f").replace(
        tzinfo=UTC
    )


def test_convert_csv_is_tsharks_decode(tmp_path: Path) -> None:
    start = "flowStartMilliseconds"
    cols = [*COLUMNS, start]
    out = ok("convert", str(IPFIX), "-c", ",".join(cols[:4]), "-c", ",".join(cols[4:]))
    rows = list(csv.reader(io.StringIO(out.decode())))
    assert rows[0] == cols
    want = tshark_rows(IPFIX)
    assert [r[:-1] for r in rows[1:]] == want and len(want) == 117
    times = [tshark_time(t[152]) for t in tshark_records(IPFIX)]
    assert [datetime.fromisoformat(r[-1]) for r in rows[1:]] == times
    # The same to a file, by extension, and as JSON lines from standard input.
    ok("convert", str(IPFIX), "-c", ",".join(cols), "-o", str(tmp_path / "x.csv"))
    assert (tmp_path / "x.csv").read_bytes() == out
    lines = ok(
        "convert", "-", "-c", ",".join(COLUMNS), "--format", "jsonl", stdin=IPFIX.read_bytes()
    )
    got = [json.loads(ln) for ln in lines.splitlines()]
    assert [[str(g.get(c, "")) for c in COLUMNS] for g in got] == want


def test_convert_jsonl_of_a_capture_is_tsharks(tmp_path: Path) -> None:
    """A capture of export traffic (IPFIX over UDP) to JSON lines: every
    record tshark decoded, with every IE it showed as a number or address."""
    out = tmp_path / "r.jsonl"
    ok("convert", str(EXPORT_PCAP), "-o", str(out))
    got = [json.loads(ln) for ln in out.read_text().splitlines()]
    want = tshark_records(EXPORT_PCAP)
    assert len(got) == len(want) == 12
    for g, w in zip(got, want, strict=True):
        assert str(g["octetDeltaCount"]) == w[1] and str(g["packetDeltaCount"]) == w[2]
        addr = g.get("sourceIPv4Address", g.get("sourceIPv6Address"))
        assert addr == w.get(8, w.get(27))
    # Standard input: the same records.
    again = ok("convert", "-", "--format", "jsonl", stdin=EXPORT_PCAP.read_bytes())
    assert [json.loads(ln) for ln in again.splitlines()] == got


def test_convert_parquet_is_read_ipfix(tmp_path: Path) -> None:
    """NetFlow v9 to Parquet, read back with pyarrow: read_ipfix's table;
    options records apart with --records options."""
    out = tmp_path / "nf.parquet"
    ok("convert", str(NETFLOW), "-o", str(out))
    table = pq.read_table(out)
    assert table.num_rows > 0
    assert table.equals(pa.table(ff.scan_ipfix(NETFLOW)))
    ok("convert", str(NETFLOW), "--records", "all", "-o", str(tmp_path / "all.parquet"))
    assert pq.read_table(tmp_path / "all.parquet").num_rows == len(
        ff.read_ipfix(NETFLOW, records="all")
    )
    r = run("convert", str(NETFLOW), "-o", "-", "--format", "parquet")
    assert r.returncode == 1 and b"-o FILE.parquet" in r.stderr


def test_summary_and_stat_count_what_ipfixdump_counts() -> None:
    dump = (ORACLE / (IPFIX.name + ".ipfixdump.txt")).read_text()
    records = len(re.findall(r"^\tcount: +\d+ +tid: +\d+", dump, re.M))
    templates = set(re.findall(r"^\ttid: +(\d+) .*field count", dump, re.M))
    text = ok("summary", "-", stdin=IPFIX.read_bytes()).decode()
    assert text.startswith("<stdin>\n")
    assert f", {records} data records," in text
    stat = ok("stat", "-f", str(IPFIX)).decode()
    assert stat == ok("stat", stdin=IPFIX.read_bytes()).decode()
    assert stat.startswith(f"#\n# {len(templates)} templates, ")
    # A capture of export traffic: its records are tshark's.
    cap = ok("summary", str(EXPORT_PCAP)).decode()
    assert f", {len(tshark_records(EXPORT_PCAP))} data records," in cap


def test_csv_is_tsharks_decode() -> None:
    out = ok("csv", "-f", "-", *COLUMNS, stdin=IPFIX.read_bytes()).decode()
    rows = list(csv.reader(io.StringIO(out)))
    # python-ipfix's ipfix2csv keeps only the records holding every IE.
    assert rows[1:] == [r for r in tshark_rows(IPFIX) if "" not in r]


def ip_packets(capture: Path) -> tuple[int, int]:
    """IP packets and their IP-header octets, from tshark's per-packet table."""
    table = TESTS / "data" / "meter-oracle" / (capture.name + ".packets.tsv")
    rows = list(csv.DictReader(io.StringIO(table.read_text()), delimiter="\t"))
    # The outer header's (an ICMP error quotes another: "4,4").
    v4 = [int(r["ip.len"].split(",")[0]) for r in rows if r["ip.version"].startswith("4")]
    v6 = [int(r["ipv6.plen"].split(",")[0]) + 40 for r in rows if r["ip.version"].startswith("6")]
    return len(v4) + len(v6), sum(v4) + sum(v6)


def test_meter_counts_tsharks_packets(tmp_path: Path) -> None:
    packets, octets = ip_packets(CAPTURE)
    out = ok("meter", "-", "-o", "-", "--format", "jsonl", stdin=CAPTURE.read_bytes())
    flows = [json.loads(ln) for ln in out.splitlines()]
    got = sum(f["packetDeltaCount"] + f.get("reversePacketDeltaCount", 0) for f in flows)
    assert got == packets
    assert sum(f["octetDeltaCount"] + f.get("reverseOctetDeltaCount", 0) for f in flows) == octets
    ok("meter", str(CAPTURE), "-o", str(tmp_path / "f.parquet"))
    assert pq.read_table(tmp_path / "f.parquet").num_rows == len(flows)


def test_collect_replays_a_capture(tmp_path: Path) -> None:
    """collect FILE writes what listening would have: the capture's records."""
    out = ok("collect", str(EXPORT_PCAP), "-o", str(tmp_path), "--format", "parquet")
    files = out.decode().split()
    # A Hive-partitioned dataset (write_dataset's layout): a file per partition.
    assert files and all(
        re.search(r"/date=[\d-]+/hour=\d+/exporter=[^/]+/part-\w+-\d+\.parquet$", f) for f in files
    )
    got = [v for f in files for v in pq.read_table(f).column("octetDeltaCount").to_pylist()]
    want = tshark_records(EXPORT_PCAP)
    assert sorted(got) == sorted(int(w[1]) for w in want)
    out = ok("collect", "-", "-o", str(tmp_path / "in"), stdin=IPFIX.read_bytes())
    ipfix = next(f for f in out.decode().split() if f.endswith(".ipfix"))
    assert len(ff.read_ipfix(ipfix)) == 117


@pytest.mark.parametrize(
    "args",
    [
        ["convert", str(BIG)],
        ["csv", "-f", str(BIG), "octetDeltaCount", "packetDeltaCount"],
        ["summary", str(BIG), "-n", "3000"],
        ["meter", str(CAPTURE), "-o", "-", "--format", "csv"],
    ],
    ids=lambda a: a[0],
)
def test_head_closes_the_pipe_quietly(args: list[str]) -> None:
    p = subprocess.Popen(
        [*RUNNERS["script"], *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert p.stdout is not None and p.stderr is not None
    assert p.stdout.readline()
    p.stdout.close()
    with p.stderr:
        err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141, err
    # meter says what it metered on stderr; nothing else may be there.
    assert "Traceback" not in err and "Broken" not in err and "Exception" not in err, err


def test_ctrl_c_exits_130_quietly() -> None:
    p = subprocess.Popen(
        [*RUNNERS["module"], "convert", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert p.stdin is not None
    p.stdin.write(BIG.read_bytes()[:4096])  # a first message, then nothing more
    p.stdin.flush()
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert err == b""


def test_the_parser_leaves_compat_and_json_unimported() -> None:
    """Building the ``ferrofix`` parser (what every command does first)
    imports neither ``ferrofix.compat`` (its XML and socket modules) nor
    the JSON writer's modules: only ``csv``/``stat`` and JSON output load
    them, so the other commands start without their import time."""
    code = (
        "import sys\n"
        "from ferrofix.__main__ import parser\n"
        "parser().parse_args(['meter', 'x.pcap'])\n"
        "print(sorted(m for m in ('ferrofix.compat', 'socketserver', 'json', 'decimal')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_meter_command_starts_without_the_ipfix_readers_modules(tmp_path: Path) -> None:
    """``ferrofix meter`` writing IPFIX (the parser built for that command
    alone, and its run on a real capture) leaves out the other commands'
    modules, the IPFIX reader's and collector's Python classes, the
    information-model helpers, ``dataclasses`` (with ``inspect``), and
    ``typing``, ``pathlib``, ``datetime`` and the table writers, which
    together were most of the command's start; the public names still
    work, each imported when first used (PEP 562). The outputs are
    ``/dev/null`` (IPFIX, not a regular file) and a ``.ipfix`` file, which
    holds the capture's IP packets and octets as tshark counts them.
    Modules the interpreter's own ``argparse`` loads to build a parser are
    not ferrofix's doing and are left out of the second check: from 3.14
    its help formatter imports ``_colorize``, which imports
    ``dataclasses`` and with it ``inspect``."""
    heavy = (
        "ferrofix._summary_cli",
        "ferrofix._convert_cli",
        "ferrofix._collect_cli",
        "ferrofix._compat_cli",
        "ferrofix._reader",
        "ferrofix._model",
        "ferrofix._collect",
        "ferrofix._dataset",
        "ferrofix._writer",
        "ferrofix._arrow",
        "ferrofix._filter",
        "ferrofix._cli_output",
        "ferrofix._series",
        "dataclasses",
        "inspect",
        "typing",
        "pathlib",
        "datetime",
        "ipaddress",
    )
    outputs = [os.devnull, str(tmp_path / "flows.ipfix")]
    code = (
        "import sys\n"
        f"heavy = {heavy!r}\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "import argparse\n"
        "argparse.ArgumentParser(prog='p').add_argument('--x', type=int)\n"
        "stdlib = {m for m in heavy if m in sys.modules}\n"
        "from ferrofix.__main__ import main\n"
        f"for out in {outputs!r}:\n"
        f"    main(['meter', {str(CAPTURE)!r}, '-o', out, '--no-progress'])\n"
        "print(sorted(m for m in heavy if m in sys.modules and m not in stdlib))\n"
        "import ferrofix as ff\n"
        "print(ff.Reader.__module__, ff.read_ipfix.__module__, 'Meter' in dir(ff))\n"
        "print(ff.TcpSeries.__module__, ff.tcp_series.__module__)\n"
        "print(sorted(n for n in ff.__all__ if getattr(ff, n, None) is None))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [
        "[]",
        "[]",
        "ferrofix._reader ferrofix._arrow True",
        "ferrofix._series ferrofix._series",
        "[]",
    ]
    # The file holds every IP packet and octet tshark counts.
    packets, octets = ip_packets(CAPTURE)
    for path in outputs[1:]:
        got = ff.read_ipfix(path)
        assert got.packetDeltaCount.sum() + got.reversePacketDeltaCount.fillna(0).sum() == packets
        assert got.octetDeltaCount.sum() + got.reverseOctetDeltaCount.fillna(0).sum() == octets


@pytest.mark.parametrize(
    "argv",
    [
        ["meter", "a.pcap", "b.pcap", "-o", "x.parquet", "--workers", "2", "--no-tcp-metrics"],
        ["summary", "x.ipfix", "-n", "0"],
        ["convert", "x.ipfix", "-o", "y.csv"],
        ["collect", "--udp", "0.0.0.0:4739", "-o", "d"],
        ["csv", "sourceIPv4Address", "--file", "x.ipfix"],
        ["stat", "--file", "x.ipfix", "--netflow9"],
    ],
)
def test_a_command_s_own_parser_reads_its_line_as_the_whole_one(argv: list[str]) -> None:
    """The parser ``main`` builds for the command a line names (that
    command's alone) gives what the parser of every command gives."""
    from ferrofix.__main__ import parser

    assert vars(parser(argv[0]).parse_args(argv)) == vars(parser().parse_args(argv))


def test_a_capture_without_export_traffic_points_at_the_meter(tmp_path: Path) -> None:
    """``convert`` of an ordinary packet capture (no IPFIX or NetFlow in
    it: tshark decodes none in nfstream__iphone.pcap, its oracle
    table's protocol column) fails naming ``ferrofix meter``; ``summary``
    says the same and still reports; a capture of exports converts."""
    from meter_oracle import load_packets

    frames = load_packets(CAPTURE.name)
    assert not any("cflow" in r.get("frame.protocols", "") for r in frames)
    out = tmp_path / "c.csv"
    r = run("convert", str(CAPTURE), "-o", str(out))
    err = r.stderr.decode()
    assert r.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert f"ferrofix meter {CAPTURE}" in err and f"{len(frames):,} packets" in err
    said = ok("summary", str(CAPTURE)).decode()
    assert f"ferrofix meter {CAPTURE}" in said
    assert "ferrofix meter" not in ok("summary", str(EXPORT_PCAP), "-n", "0").decode()
    assert run("convert", str(EXPORT_PCAP), "-o", str(out)).returncode == 0
