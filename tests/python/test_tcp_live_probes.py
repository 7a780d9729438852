"""Keep-alives and zero-window probes of a real Linux sender: its kernel's
own retransmission counter (TcpRetransSegs of a fresh network namespace)
is the oracle for ``tcpRetransmitCount``, and tshark's analysis of the
same capture (``keep_alive``, ``zero_window_probe``, the receiver's
window) the oracle for ``tcpWindowProbeCount``. Root, ``unshare`` and
dumpcap are needed (the test makes its own namespace, as test_collect
does)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import craft
import pytest

import ferrofix as ff

HELPER = Path(__file__).resolve().parent / "helpers" / "probe_live.py"


def test_a_linux_senders_probes_and_keepalives_are_not_retransmissions(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a network namespace")
    for tool in ("dumpcap", "tshark", "ip"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    cmd = ["unshare", "-n", sys.executable, str(HELPER), str(tmp_path)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    run = json.loads(p.stdout.strip().splitlines()[-1])
    assert run["received"] == [200_000]
    cap = tmp_path / "live.pcap"

    # tshark's reading: every client segment it flags keep_alive or
    # zero_window_probe, and whether the server's last window was zero.
    def tshark(*args: str) -> list[list[str]]:
        out = subprocess.run(
            ["tshark", "-r", str(cap), *args], check=True, capture_output=True, text=True
        ).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    flagged = {
        int(f)
        for (f,) in tshark(
            "-Y",
            "tcp.analysis.keep_alive || tcp.analysis.zero_window_probe",
            "-T",
            "fields",
            "-e",
            "frame.number",
        )
    }
    server_window = None
    probes = keepalives = 0
    for frame, port, window in tshark(
        "-T", "fields", "-e", "frame.number", "-e", "tcp.srcport", "-e", "tcp.window_size"
    ):
        if port == "5001":
            server_window = int(window)
        elif int(frame) in flagged:
            if server_window == 0:
                probes += 1
            else:
                keepalives += 1
    # The run made both kinds (the kernel's persist and keep-alive timers).
    assert probes > 0 and keepalives > 0

    df = ff.meter(cap)
    assert len(df) == 1
    r = df.iloc[0]
    assert r["sourceTransportPort"] != 5001  # the client is the initiator
    assert r["tcpRetransmitCount"] == run["retrans_segs"]
    assert r["tcpWindowProbeCount"] == probes
    assert r["tcpSequenceCount"] == 200_000
    # The receiver's stalls, by their definition (docs/tcp-metrics.md) on
    # tshark's scaled windows and times: a window going to zero from
    # non-zero (or zero at its first packet), and the time from there to
    # its next non-zero window (or the flow's last packet).
    stalls, zero_ns, since, last_ns = 0, 0, None, 0
    fields = ("frame.time_epoch", "tcp.srcport", "tcp.window_size", "tcp.flags.reset")
    args = [a for f in fields for a in ("-e", f)]
    for epoch, port, window, reset in tshark("-T", "fields", *args):
        t = craft.epoch_ns(epoch)
        last_ns = t
        if port != "5001" or reset in ("1", "True"):
            continue
        if int(window) == 0 and since is None:
            stalls, since = stalls + 1, t
        elif int(window) != 0 and since is not None:
            zero_ns, since = zero_ns + t - since, None
    if since is not None:
        zero_ns += last_ns - since
    assert stalls > 0
    assert r["reverseTcpReceiverStallCount"] == stalls
    assert r["reverseTcpZeroWindowMicroseconds"] == (zero_ns + 500) // 1000
    assert r["tcpReceiverStallCount"] == 0 and r["tcpZeroWindowMicroseconds"] == 0
    # Neither kind is a loss indication: no retransmission, no gap.
    if run["retrans_segs"] == 0:
        assert r["tcpLossEventCount"] == 0
