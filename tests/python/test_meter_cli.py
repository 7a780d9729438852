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
