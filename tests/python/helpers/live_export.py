"""Run inside a fresh network namespace (``unshare -n``, root): bring up
loopback, capture the export traffic to a port with dumpcap, start a
ferrofix Collector on it, run a real exporter (the command given, with
PORT in its arguments replaced), stop everything, and print one JSON line:
what was sent (datagrams in the capture, counted by capinfos), what the
collector received and decoded, and what ferrofix reads from the capture.
The collector decodes every IANA IE ferrofix knows as a column; its
records are written to ``OUTDIR/live.arrow`` (Arrow IPC) for the test to
compare, value for value, with the capture ``OUTDIR/export.pcap``.

    python live_export.py OUTDIR softflowd -r IN.pcap -n 127.0.0.1:PORT -v 10 -d

(an argument naming a ``.conf`` file is replaced by a copy of it with PORT
replaced inside).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dumpcap
import pyarrow as pa

import ferrofix as ff


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def main() -> int:
    out = Path(sys.argv[1])
    cmd = sys.argv[2:]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    port = free_port()
    cap = out / "export.pcap"
    dump = dumpcap.start(
        ["-f", f"udp port {port} or tcp port {port}", "-w", str(cap)], out / "dumpcap.log"
    )
    transport = "tcp" if "tcp" in " ".join(cmd) else "udp"
    columns = [ie.name for ie in ff.describe() if ie.pen == 0]
    collector = ff.Collector(**{transport: f"127.0.0.1:{port}"}, columns=columns, interval=0.2)
    args = []
    for a in cmd:
        if a.endswith(".conf") and Path(a).is_file():
            # A configuration file: its copy names the port.
            conf = out / ("run-" + Path(a).name)
            conf.write_text(Path(a).read_text().replace("PORT", str(port)))
            a = str(conf)
        args.append(a.replace("PORT", str(port)))
    exporter = subprocess.run(args, capture_output=True, timeout=120, check=False)
    time.sleep(1.0)
    batches = [pa.record_batch(b) for b in collector.batches(duration=1.5)]
    collector_records = sum(b.num_rows for b in batches)
    if batches:
        live = pa.Table.from_batches(batches)
        with pa.ipc.new_file(out / "live.arrow", live.schema) as w:
            w.write_table(live)
    status = collector.status()
    health = collector.health
    time.sleep(0.5)
    dump.send_signal(signal.SIGINT)
    dump.wait(timeout=10)
    info = subprocess.run(
        ["capinfos", "-c", "-M", str(cap)], capture_output=True, text=True, check=True
    ).stdout
    sent = int(info.split("Number of packets:")[1].split()[0])
    reader = ff.Reader(cap)
    from_capture = sum(1 for _ in reader.records(records="data"))
    print(
        json.dumps(
            {
                "exporter_rc": exporter.returncode,
                "exporter_stderr": exporter.stderr.decode(errors="replace")[-2000:],
                "sent_datagrams": sent,
                "received": status.received,
                "other": status.other_datagrams,
                "records_live": collector_records,
                "records_from_capture": from_capture,
                "capture_datagrams": (reader.health.capture or {}).get("datagrams"),
                "columns": columns,
                "port": port,
                "sequence": {str(k): vars(v) for k, v in health.sequence.items()},
                "missing": health.sets_missing_template,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
