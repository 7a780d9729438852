"""README claims about live collection with no other test: ``ff.collect``
yields Arrow batches of what arrives (here: the records ``scan_ipfix``
reads from the same datagrams, themselves checked against tshark in
``test_netflow.py``), and ``ferrofix collect --rotate`` starts a new file
every period."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from test_netflow import datagrams

import ferrofix as ff

COLUMNS = ["sourceIPv4Address", "destinationIPv4Address", "octetDeltaCount", "packetDeltaCount"]
V5 = "logstash-codec-netflow__netflow5.dat"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rows(batches: Any) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for b in batches:
        t = pa.record_batch(b)
        out += list(zip(*(t.column(c).to_pylist() for c in COLUMNS), strict=True))
    return sorted(out, key=repr)


def send_later(port: int, payloads: list[bytes], delays: list[float]) -> threading.Thread:
    def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for d in delays:
                time.sleep(d)
                for p in payloads:
                    tx.sendto(p, ("127.0.0.1", port))

    t = threading.Thread(target=run)
    t.start()
    return t


def test_collect_yields_the_records_sent() -> None:
    v5 = datagrams(V5)
    port = free_udp_port()
    sender = send_later(port, v5, [0.5])
    got = rows(ff.collect(udp=f"127.0.0.1:{port}", duration=2.0, columns=COLUMNS, interval=0.2))
    sender.join()
    want = rows(ff.scan_ipfix(b"".join(v5), columns=COLUMNS).batches())
    assert len(want) == 30 and got == want


def test_collect_stops_at_max_records() -> None:
    v5 = datagrams(V5)
    port = free_udp_port()
    sender = send_later(port, v5, [0.5, 0.5])
    start = time.monotonic()
    got = rows(ff.collect(udp=f"127.0.0.1:{port}", max_records=30, columns=COLUMNS, interval=0.2))
    sender.join()
    assert len(got) >= 30 and time.monotonic() - start < 30


def test_the_collect_command_rotates_its_files(tmp_path: Path) -> None:
    """``--rotate 1`` with records arriving about 1.5 s apart: they land in
    different IPFIX files, and together the files hold every record."""
    v5 = datagrams(V5)
    port = free_udp_port()
    cmd = [sys.executable, "-m", "ferrofix", "collect", "--udp", f"127.0.0.1:{port}"]
    cmd += ["-o", str(tmp_path), "--format", "ipfix", "--rotate", "1", "--duration", "4.5"]
    cmd += ["--interval", "0.2", "--no-status"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sender = send_later(port, v5, [1.0, 1.5])
    out, err = proc.communicate(timeout=60)
    sender.join()
    assert proc.returncode == 0, err
    files = [Path(line) for line in out.splitlines() if line.endswith(".ipfix")]
    counts = [len(ff.read_ipfix(f)) for f in files]
    assert sum(counts) == 60
    assert len([c for c in counts if c]) >= 2, (files, counts)
    assert len(set(files)) == len(files)
