#!/usr/bin/env python3
"""Make the captures of IPFIX export over TCP and over fragmented UDP in
tests/data/pcap/ (provenance rows in tests/data/SOURCES.md).

The public captures in ../shared/data/ hold no IPFIX over TCP and no
fragmented export datagrams, so these are made here with the kernel's own
TCP/IP stack: the messages of a real exporter's file
(tests/data/ipfix/ipfixcol2__example_flows.ipfix, 68 messages of up to
3472 bytes) are sent over loopback inside a fresh network namespace
(``unshare -n``, root) while dumpcap captures them:

* ``ferrofix__ipfix-over-tcp.pcapng``: the file sent over TCP three times,
  each connection its own transport session: from 127.0.0.1 in writes of
  536 bytes, from ::1 in writes of 1000 bytes (TCP_NODELAY and a pause
  between writes, so each write is one segment whatever loopback's offloads
  do), and from 127.0.0.1 again, message by message; beside it a
  connection carrying text, which is not IPFIX.
* ``ferrofix__ipfix-udp-fragments.pcap`` (classic pcap): every message one
  UDP datagram, from 127.0.0.1 and from ::1, loopback's MTU set to 1500
  and path-MTU discovery off so that the kernel fragments every datagram
  larger than the MTU (IPv4 and IPv6 fragments).

Usage (root): python3 scripts/make_export_captures.py [OUTDIR]
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "data" / "ipfix" / "ipfixcol2__example_flows.ipfix"
PORT = 4739


def messages(data: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        n = struct.unpack_from("!H", data, at + 2)[0]
        out.append(data[at : at + n])
        at += n
    return out


def capture(path: Path, pcapng: bool) -> subprocess.Popen[bytes]:
    log = path.with_suffix(".log")
    cmd = ["dumpcap", "-i", "lo", "-w", str(path), "-q"]
    if not pcapng:
        cmd.append("-P")
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 10
    while b"Capturing on" not in log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    log.unlink()
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)


def tcp_server(family: int, addr: str) -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, PORT if addr != "127.0.0.2" else 8080))
    s.listen(4)

    def serve() -> None:
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            while c.recv(65536):
                pass
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    return s


def send_tcp(family: int, addr: str, port: int, chunks: list[bytes]) -> None:
    c = socket.socket(family, socket.SOCK_STREAM)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.connect((addr, port))
    for chunk in chunks:
        c.sendall(chunk)
        time.sleep(0.002)
    c.shutdown(socket.SHUT_WR)
    time.sleep(0.05)
    c.close()


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def make_tcp(out: Path, data: bytes) -> None:
    servers = [
        tcp_server(socket.AF_INET, "127.0.0.1"),
        tcp_server(socket.AF_INET6, "::1"),
        tcp_server(socket.AF_INET, "127.0.0.2"),
    ]
    proc = capture(out / "ferrofix__ipfix-over-tcp.pcapng", pcapng=True)
    send_tcp(socket.AF_INET, "127.0.0.1", PORT, split(data, 536))
    send_tcp(socket.AF_INET6, "::1", PORT, split(data, 1000))
    text = b"".join(b"line %d of a text protocol\r\n" % i for i in range(200))
    send_tcp(socket.AF_INET, "127.0.0.2", 8080, split(text, 700))
    send_tcp(socket.AF_INET, "127.0.0.1", PORT, messages(data))
    stop(proc)
    for s in servers:
        s.close()


def make_udp(out: Path, data: bytes) -> None:
    subprocess.run(["ip", "link", "set", "lo", "mtu", "1500"], check=True)
    sinks = []
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        r = socket.socket(family, socket.SOCK_DGRAM)
        r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        r.bind((addr, PORT))
        sinks.append(r)
    proc = capture(out / "ferrofix__ipfix-udp-fragments.pcap", pcapng=False)
    v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v4.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER, IP_PMTUDISC_DONT
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    v6.setsockopt(socket.IPPROTO_IPV6, 23, 0)  # IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DONT
    for m in messages(data):
        v4.sendto(m, ("127.0.0.1", PORT))
        time.sleep(0.002)
    for m in messages(data):
        v6.sendto(m, ("::1", PORT))
        time.sleep(0.002)
    stop(proc)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "pcap"
    if os.environ.get("FERROFIX_NETNS") != "1":
        env = dict(os.environ, FERROFIX_NETNS="1")
        cmd = ["unshare", "-n", sys.executable, __file__, str(out.resolve())]
        return subprocess.run(cmd, env=env, check=False).returncode
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    data = SOURCE.read_bytes()
    make_tcp(out, data)
    make_udp(out, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
