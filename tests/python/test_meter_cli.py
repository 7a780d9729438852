"""``ferrofix meter`` as a shell user meets it: --help, outputs by
extension, a pipe, clean one-line errors with a non-zero exit, and no
progress bar when stderr is not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd

import ferrofix as ff

DATA = Path(__file__).resolve().parents[1] / "data" / "pcap"
CAPTURE = DATA / "nfstream__iphone.pcap"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "ferrofix", "meter", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_help() -> None:
    r = run("--help")
    assert r.returncode == 0
    assert b"--idle-timeout" in r.stdout and b"--export" in r.stdout


def test_outputs_by_extension(tmp_path: Path) -> None:
    expected = ff.meter(CAPTURE)
    r = run(str(CAPTURE), "-o", str(tmp_path / "f.ipfix"))
    assert r.returncode == 0, r.stderr
    pd.testing.assert_frame_equal(ff.read_ipfix(tmp_path / "f.ipfix"), expected)
    # Progress bars only on a terminal: here stderr is a pipe.
    assert b"\r" not in r.stderr
    assert r.stderr.decode().startswith("ferrofix meter: 500 packets, 486 in ")
    assert run(str(CAPTURE), "-o", str(tmp_path / "f.parquet")).returncode == 0
    assert len(pd.read_parquet(tmp_path / "f.parquet")) == len(expected)
    assert run(str(CAPTURE), "-o", str(tmp_path / "f.csv")).returncode == 0
    csv = pd.read_csv(tmp_path / "f.csv")
    assert len(csv) == len(expected)
    assert csv.octetDeltaCount.sum() == expected.octetDeltaCount.sum()
    # The RTT histograms (lists) as their bins joined by ";".
    tcp = csv[csv.tcpRttSampleTotalCount > 0]
    assert len(tcp) > 0
    for text, n in zip(tcp.tcpRttHistogram, tcp.tcpRttSampleTotalCount, strict=True):
        bins = [int(x) for x in text.split(";")]
        assert len(bins) == 22 and sum(bins) == n


def test_a_pipe_is_metered(tmp_path: Path) -> None:
    r = run("-", "-o", str(tmp_path / "p.ipfix"), stdin=CAPTURE.read_bytes())
    assert r.returncode == 0, r.stderr
    pd.testing.assert_frame_equal(ff.read_ipfix(tmp_path / "p.ipfix"), ff.meter(CAPTURE))


def test_a_named_pipe_path_is_metered(tmp_path: Path) -> None:
    """A path that is a FIFO (or /dev/stdin) is read as it comes, never
    sought back: the same records as the file."""
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    data = CAPTURE.read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        df = ff.meter(fifo)
    finally:
        writer.join(timeout=60)
    pd.testing.assert_frame_equal(df, ff.meter(CAPTURE))


def test_summary_on_stdout() -> None:
    r = run(str(CAPTURE), "--top", "3")
    assert r.returncode == 0
    out = r.stdout.decode()
    assert out.startswith(f"{len(ff.meter(CAPTURE))} flow records, 486 packets")
    assert out.count("\n") >= 3 + 3


def test_errors_are_one_line_and_non_zero(tmp_path: Path) -> None:
    text = tmp_path / "notes.pcap"
    text.write_text("not a capture\n")
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(CAPTURE.read_bytes()[:30000])
    for path, words in [
        (tmp_path / "missing.pcap", "No such file"),
        (text, "not a packet capture"),
        (cut, "cut short after packet"),
    ]:
        r = run(str(path))
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert "Traceback" not in err
        assert err.count("\n") == 1 and str(path) in err and words in err, err


def _one_line_error(r: subprocess.CompletedProcess[bytes], status: int) -> str:
    """The run failed with ``status`` and one line on stderr, no traceback."""
    err = r.stderr.decode()
    assert r.returncode == status, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_the_output_is_never_one_of_the_inputs(tmp_path: Path) -> None:
    """Writing over the capture being read would destroy it: refused
    before anything is opened for writing, by name and through a link."""
    cap = tmp_path / "same.pcap"
    cap.write_bytes(CAPTURE.read_bytes())
    link = tmp_path / "link.ipfix"
    link.symlink_to(cap)
    for out, extra in ((cap, ["--format", "ipfix"]), (link, [])):
        err = _one_line_error(run(str(cap), "-o", str(out), *extra), 1)
        assert f"the output {out} is the input {cap}" in err
        assert cap.read_bytes() == CAPTURE.read_bytes()
    with_convert = subprocess.run(
        [sys.executable, "-m", "ferrofix", "convert", str(cap), "-o", str(cap), "--format", "csv"],
        capture_output=True,
        check=False,
    )
    assert "is the input" in _one_line_error(with_convert, 1)
    assert cap.read_bytes() == CAPTURE.read_bytes()
    # The Python API refuses it too.
    try:
        ff.Meter(cap).write_ipfix(link)
    except ValueError as e:
        assert "is the input" in str(e)
    else:
        raise AssertionError("write_ipfix wrote over its capture")
    assert cap.read_bytes() == CAPTURE.read_bytes()


def test_an_extension_naming_no_format_is_an_error(tmp_path: Path) -> None:
    """Only the extensions --help names choose a format; anything else is
    refused (nothing written) rather than silently written as IPFIX."""
    for name in ("flows.txt", "flows", "flows.pcap", "flows.parquett"):
        out = tmp_path / name
        err = _one_line_error(run(str(CAPTURE), "-o", str(out)), 1)
        assert f"{out}: cannot tell the format from the extension" in err
        assert not out.exists()
    err = _one_line_error(run(str(CAPTURE), "-o", str(tmp_path / "f.parquet.gz")), 1)
    assert "Parquet compresses its own columns" in err
    # Not a regular file (as /dev/null): the default, IPFIX.
    assert run(str(CAPTURE), "-o", os.devnull).returncode == 0


def test_tables_compressed_by_their_extension(tmp_path: Path) -> None:
    """``.csv.gz`` and ``.jsonl.zst`` are the plain table, compressed (read
    back with Python's gzip and the zstandard package)."""
    import gzip

    import zstandard

    for name in ("f.csv", "f.csv.gz", "f.jsonl", "f.jsonl.zst"):
        r = run(str(CAPTURE), "-o", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
    plain_csv = (tmp_path / "f.csv").read_bytes()
    assert gzip.decompress((tmp_path / "f.csv.gz").read_bytes()) == plain_csv
    with (tmp_path / "f.jsonl.zst").open("rb") as f:
        unpacked = zstandard.ZstdDecompressor().stream_reader(f).read()
    assert unpacked == (tmp_path / "f.jsonl").read_bytes()
    # --format over the name, still compressed as the name says.
    r = run(str(CAPTURE), "--format", "csv", "-o", str(tmp_path / "g.gz"))
    assert r.returncode == 0, r.stderr
    assert gzip.decompress((tmp_path / "g.gz").read_bytes()) == plain_csv


def test_options_that_do_not_go_together_are_usage_errors(tmp_path: Path) -> None:
    out = tmp_path / "both.csv"
    err = _one_line_error(run(str(CAPTURE), "-o", str(out), "--export", "udp://127.0.0.1:9"), 2)
    assert "give -o or --export, not both" in err and not out.exists()
    err = _one_line_error(run(str(CAPTURE), "--format", "csv"), 2)
    assert "--format needs -o" in err


def test_option_values_out_of_range_are_usage_errors() -> None:
    """argparse's own usage error (exit 2) naming the option, before any
    work, for values the meter cannot take."""
    for option, value, said in (
        ("--idle-timeout", "-5", "must be at least 0"),
        ("--active-timeout", "nan", "a number of seconds expected"),
        ("--workers", "0", "must be at least 1"),
        ("--workers", "257", "must be at most 256"),
        ("--max-flows", "0", "must be at least 1"),
        ("--enterprise", "-1", "must be at least 1"),
        ("--top", "-3", "must be at least 0"),
    ):
        r = run(str(CAPTURE), f"{option}={value}")
        err = r.stderr.decode()
        assert r.returncode == 2, (option, err)
        assert f"argument {option}: {said}" in err and "Traceback" not in err


def test_a_failure_writing_names_the_output() -> None:
    if not os.path.exists("/dev/full"):
        import pytest

        pytest.skip("no /dev/full here")
    err = _one_line_error(run(str(CAPTURE), "-o", "/dev/full"), 1)
    assert err.startswith("ferrofix meter: /dev/full: No space left on device")


def test_ipfix_into_a_closed_pipe_exits_quietly() -> None:
    """``ferrofix meter CAPTURE -o - | head -c 0``: 141 and nothing on
    stderr, as for the table formats (and ``yes | head``). The reader
    closes the pipe before reading, so the meter's first write finds it
    closed (reading some first would race the meter writing all of its
    output into the pipe's buffer)."""
    p = subprocess.Popen(
        [sys.executable, "-m", "ferrofix", "meter", str(DATA / "nfstream__1kxun.pcap"), "-o", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()
    err = p.stderr.read()
    p.stderr.close()
    assert p.wait(timeout=120) == 141, err
    assert err == b""


def test_an_endpoint_with_an_ipv6_address_is_bracketed() -> None:
    """The summary writes [address]:port for IPv6 (RFC 3986's form), so
    the port cannot be read as the address's last group; the ports are
    the capture's UDP ports as tshark reads them."""
    import ipaddress
    import re

    capture = DATA / "zeek__ipv6-fragmented-dns.pcap"
    r = run(str(capture), "--top", "5")
    assert r.returncode == 0, r.stderr
    shown = re.findall(r"\[([0-9a-f:]+)\]:(\d+)", r.stdout.decode())
    assert len(shown) >= 2
    for address, _ in shown:
        assert ipaddress.ip_address(address).version == 6
    # tshark's endpoints of the capture (committed with the meter's
    # oracle outputs), a later fragment's ports as 0 as the meter has them.
    from meter_oracle import load_packets, packet_key

    keys = [k for k in map(packet_key, load_packets(capture.name)) if k is not None]
    endpoints = {(k.src, k.sport) for k in keys} | {(k.dst, k.dport) for k in keys}
    for address, port in shown:
        assert (str(ipaddress.ip_address(address)), int(port)) in {
            (str(ipaddress.ip_address(a)), p) for a, p in endpoints
        }


def test_a_warning_names_its_file_once(tmp_path: Path) -> None:
    """Under --on-bad-records warn, the line names the capture at fault
    (not the first capture given as well), and the run exits 1."""
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(CAPTURE.read_bytes()[:5000])
    r = run(str(CAPTURE), str(cut), "--on-bad-records", "warn", "-o", str(tmp_path / "f.csv"))
    assert r.returncode == 1, r.stderr
    warned = [x for x in r.stderr.decode().splitlines() if "warning" in x]
    assert len(warned) == 1
    assert warned[0].startswith(f"ferrofix meter: warning: {cut}: bad capture: ")
    assert str(CAPTURE) not in warned[0]


def test_messages_lost_over_udp_are_one_warning_naming_the_collector() -> None:
    """An export to a port nobody listens on: the run goes to its end,
    says the messages lost in one warning line that names the collector
    (not the capture, which is not at fault), and exits 1."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        url = f"udp://127.0.0.1:{s.getsockname()[1]}"
    r = run(str(CAPTURE), "--export", url, "--no-progress")
    err = r.stderr.decode()
    assert r.returncode == 1, err
    warned = [line for line in err.splitlines() if "warning:" in line]
    assert len(warned) == 1, err
    assert warned[0].startswith(f"ferrofix meter: warning: export to {url}: "), err
    assert "messages lost" in warned[0] and str(CAPTURE) not in warned[0]
    assert "Traceback" not in err
