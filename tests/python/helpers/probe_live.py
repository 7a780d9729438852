"""Run inside a fresh network namespace (``unshare -n``, root): one real
Linux TCP connection over loopback whose receiver stalls (a 4 kB receive
buffer not read for 3 s: its window closes and the sender's kernel probes
it) and whose sender then idles with keep-alives (idle and interval 1 s)
before closing; dumpcap captures it (snaplen 96). Prints one JSON line:
the octets received and the namespace's own TcpRetransSegs over the run
(/proc/net/snmp; the namespace is new, so only this connection counts).

    python probe_live.py OUTDIR        (writes OUTDIR/live.pcap)
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dumpcap

PORT = 5001


def snmp_tcp() -> dict[str, int]:
    rows = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines()]
    names, values = [r for r in rows if r[0] == "Tcp:"][:2]
    return dict(zip(names[1:], map(int, values[1:]), strict=True))


def main() -> int:
    out = Path(sys.argv[1])
    cap = out / "live.pcap"
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    dump = dumpcap.start(
        ["-s", "96", "-f", f"tcp port {PORT}", "-w", str(cap)], out / "dumpcap.log"
    )
    before = snmp_tcp()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", PORT))
    listener.listen(1)
    received: list[int] = []

    def serve() -> None:
        conn, _ = listener.accept()
        time.sleep(3.0)  # the window closes: the sender probes it
        n = 0
        while b := conn.recv(65536):
            n += len(b)
        received.append(n)
        conn.close()

    server = threading.Thread(target=serve)
    server.start()
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    client.connect(("127.0.0.1", PORT))
    client.sendall(b"x" * 200_000)
    time.sleep(6.5)  # read by 3 s, then idle: keep-alives each second
    client.close()
    server.join(timeout=30)
    time.sleep(0.5)
    after = snmp_tcp()
    dump.send_signal(signal.SIGINT)
    dump.wait(timeout=10)
    retrans = after["RetransSegs"] - before["RetransSegs"]
    print(json.dumps({"received": received, "retrans_segs": retrans}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
