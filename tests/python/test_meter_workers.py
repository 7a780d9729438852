"""ff.meter(workers=n): the flow tables on n threads give the records of one
(flowIds aside: they are numbered per worker), on real captures."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import meter_oracle as mo
import pytest

import ferrofix as ff

DATA = Path(__file__).resolve().parent.parent / "data" / "pcap"
# The oracle captures kept in the repository: every link type,
# encapsulation, fragment and time case the meter is tested on.
IN_REPO = [name for name, where, _ in mo.cases() if where == "tests"]


def _rows(capture: Path, workers: int, **kw: object) -> tuple[list[tuple[object, ...]], int]:
    """The rows without flowId, sorted, and how many flowIds."""
    df = ff.meter(capture, workers=workers, **kw)  # type: ignore[arg-type]
    rows = df.drop(columns=["flowId"]).astype(str).itertuples(index=False, name=None)
    return sorted(rows), df["flowId"].nunique()


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("timeouts", [{}, {"idle_timeout": 1.0, "active_timeout": 5.0}])
def test_workers_give_the_records_of_one(workers: int, timeouts: dict[str, float]) -> None:
    capture = DATA / "nfstream__1kxun.pcap"
    one = _rows(capture, 1, **timeouts)
    assert len(one[0]) > 100
    assert _rows(capture, workers, **timeouts) == one


@pytest.mark.parametrize("name", IN_REPO)
def test_workers_on_every_capture(name: str) -> None:
    """Two workers take the frames apart between them and assign
    fragments in order: the same records and the same counters as one."""
    capture = DATA / name
    one, two = ff.Meter(capture, decapsulate=True), ff.Meter(capture, decapsulate=True, workers=2)
    rows = [
        sorted(
            m.to_pandas().drop(columns=["flowId"]).astype(str).itertuples(index=False, name=None)
        )
        for m in (one, two)
    ]
    assert rows[0] == rows[1]
    # peak_flows is each worker's peak summed (documented): at least one's.
    s1, s2 = one.stats, two.stats
    assert s2.pop("peak_flows") >= s1.pop("peak_flows")
    assert s1 == s2


def test_workers_stats_add_up() -> None:
    capture = DATA / "nfstream__1kxun.pcap"
    one, two = ff.Meter(capture), ff.Meter(capture, workers=2)
    n1 = sum(b.num_rows for b in one)
    n2 = sum(b.num_rows for b in two)
    assert n1 == n2
    for key in ("packets", "flows", "records"):
        assert one.stats[key] == two.stats[key]


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        ff.Meter(DATA / "nfstream__1kxun.pcap", workers=0)


def test_workers_handed_frames_give_the_records_of_one() -> None:
    """Bytes (not a file the workers can read themselves) are read by the
    calling thread and handed to the workers frame by frame: the same
    records as one worker reading the file."""
    capture = DATA / "nfstream__1kxun.pcap"
    one = _rows(capture, 1, idle_timeout=1.0)
    df = ff.meter(capture.read_bytes(), workers=2, idle_timeout=1.0)
    rows = df.drop(columns=["flowId"]).astype(str).itertuples(index=False, name=None)
    assert sorted(rows) == one[0]


def test_workers_walk_a_gzipped_capture(tmp_path: Path) -> None:
    """A gzipped capture file is decompressed once and walked by the
    workers (not handed over by the calling thread): the records of one
    worker reading the plain file."""
    capture = DATA / "nfstream__1kxun.pcap"
    gz = tmp_path / "1kxun.pcap.gz"
    gz.write_bytes(gzip.compress(capture.read_bytes(), compresslevel=1))
    one = _rows(capture, 1, idle_timeout=1.0)
    assert _rows(gz, 2, idle_timeout=1.0) == one
    assert _rows(gz, 3) == _rows(capture, 1)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes (POSIX)")
def test_workers_meter_a_named_pipe(tmp_path: Path) -> None:
    """A named pipe given by path is read once, from its first byte, and
    its frames handed to the workers (opening it to check it, then again
    to read it, would lose what the check read)."""
    capture = DATA / "nfstream__1kxun.pcap"
    fifo = tmp_path / "live.pcap"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("wb") as f:
            f.write(capture.read_bytes())

    writer = threading.Thread(target=write)
    writer.start()
    try:
        rows = _rows(fifo, 2)
    finally:
        writer.join(timeout=60)
    assert rows == _rows(capture, 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_cut_capture_read_by_workers_keeps_its_flows(tmp_path: Path, workers: int) -> None:
    """Workers reading a cut capture themselves meet the cut as one reader
    does: the error names the file and the byte offset, after the flows;
    warn and skip keep the flows up to it."""
    raw = (DATA / "nfstream__iphone.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[: len(raw) // 2 + 7])
    with pytest.raises(ff.DecodeError, match=r"cut\.pcap.*byte offset") as e:
        ff.meter(cut, workers=workers)
    assert e.value.offset is not None and 0 < e.value.offset < len(raw) // 2 + 7
    rows = 0
    with pytest.raises(ff.DecodeError):
        for b in ff.Meter(cut, workers=workers):
            rows += b.num_rows
    with pytest.warns(ff.FerrofixWarning, match=r"cut\.pcap"):
        part = ff.meter(cut, on_bad_records="warn", workers=workers)
    m = ff.Meter(cut, on_bad_records="skip", workers=workers)
    assert len(m.to_pandas()) == len(part) == rows > 0
    assert m.stats["failed_captures"] == 1
    one = ff.meter(cut, on_bad_records="skip")
    assert sorted(part["packetDeltaCount"]) == sorted(one["packetDeltaCount"])


def _repeated(capture: Path, times: int, out: Path, snaplen: int = 1 << 30) -> Path:
    """``capture`` (classic pcap, little-endian, microseconds) written
    ``times`` over, each copy an hour after the one before, each packet cut
    to ``snaplen`` octets (its original length kept)."""
    raw = capture.read_bytes()
    assert raw[:4] == bytes.fromhex("d4c3b2a1")
    head, body = raw[:24], raw[24:]
    records = []
    at = 0
    while at + 16 <= len(body):
        sec, usec, incl, orig = struct.unpack_from("<IIII", body, at)
        cut = min(incl, snaplen)
        records.append((sec, usec, cut, orig, body[at + 16 : at + 16 + cut]))
        at += 16 + incl
    with out.open("wb") as f:
        f.write(head)
        for k in range(times):
            for sec, usec, incl, orig, data in records:
                f.write(struct.pack("<IIII", sec + 3600 * k, usec, incl, orig) + data)
    return out


LEFT_PART_WAY = """
import sys
import time
from pathlib import Path
import ferrofix as ff

tasks = Path("/proc/self/task")
ff.meter(sys.argv[2])  # any thread pools started
before = len(list(tasks.iterdir()))
m = ff.Meter(sys.argv[1], workers=2, batch_size=10)
first = m._s.next_batch()
print(first is not None, len(list(tasks.iterdir())) - before, m.bytes_read)
del m, first
# A thread busy with a block (decompressing it) ends once it is done.
until = time.monotonic() + 10
while len(list(tasks.iterdir())) > before and time.monotonic() < until:
    time.sleep(0.01)
print(len(list(tasks.iterdir())) - before)
"""


@pytest.mark.parametrize(
    ("snaplen", "gzipped", "threads"),
    # Whole packets (459 octets a record on average) are read in blocks by
    # the workers' walk; cut to 96 octets, the file is mapped: either way
    # the workers are the only threads. Gzipped, a thread decompresses it
    # ahead of them (docs/meter.md).
    [(1 << 30, False, 2), (96, False, 2), (1 << 30, True, 3)],
)
def test_a_meter_left_part_way_stops_its_workers(
    tmp_path: Path, snaplen: int, gzipped: bool, threads: int
) -> None:
    """A consumer that takes one batch and drops the meter while the
    workers read the file ahead (waiting for room to answer): they stop
    with it, and so does a thread decompressing the file for them: no
    thread left and no hang (run in a child process, so that a hang fails
    the test instead of stopping the suite)."""
    if not Path("/proc/self/task").is_dir():
        pytest.skip("counts the process's threads in /proc (Linux)")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if threads == 3 and (cpus or 1) < 2:
        pytest.skip("a file is decompressed ahead by a thread only on more than one CPU")
    # 400 x 500 frames: more than the rounds the workers may run ahead.
    big = _repeated(DATA / "nfstream__iphone.pcap", 400, tmp_path / "big.pcap", snaplen)
    if gzipped:
        gz = tmp_path / "big.pcap.gz"
        gz.write_bytes(gzip.compress(big.read_bytes(), compresslevel=1))
        big = gz
    r = subprocess.run(
        [sys.executable, "-c", LEFT_PART_WAY, str(big), str(DATA / "nfstream__iphone.pcap")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    first, after = r.stdout.splitlines()
    got, alive, read = first.split()
    # The two workers (and the thread decompressing) were alive, part of
    # the way in...
    assert got == "True" and int(alive) == threads and int(read) < big.stat().st_size
    # ...and stopped with the meter.
    assert int(after) == 0


def test_workers_write_the_same_ipfix_as_one(tmp_path: Path) -> None:
    """The command line's path (write_ipfix with the workers reading the
    file): read back, the records of one worker."""
    capture = DATA / "nfstream__1kxun.pcap"
    out = tmp_path / "two.ipfix"
    ff.Meter(capture, workers=2).write_ipfix(out)
    back = ff.read_ipfix(out)
    one = ff.meter(capture)
    assert len(back) == len(one)
    assert sorted(back["octetDeltaCount"]) == sorted(one["octetDeltaCount"])
