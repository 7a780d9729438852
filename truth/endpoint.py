#!/usr/bin/env python3
"""Transfer endpoint for the ground-truth TCP harness (standard library only).

Run inside a network namespace (``ip netns exec NS python3 truth/endpoint.py ...``):

  server: listen, accept ``--conns`` connections, and per connection either sink what the
          client sends (mode ``sink``) or answer each ``--req-bytes`` request with
          ``--resp-bytes`` (mode ``rr``). At the client's EOF it snapshots the kernel's
          ``TCP_INFO`` and ``ss -tin`` for the socket, then closes.
  client: connect ``--conns`` times (in parallel or one after the other), send ``--bytes``
          (sink) or run ``--requests`` request/response rounds (rr), wait until everything
          it sent is acknowledged (SIOCOUTQ == 0), snapshot ``TCP_INFO`` and ``ss -tin``,
          then shut down its side and wait for the server's close.

Each side writes one JSON document (a list of per-connection records) to ``--out``.
The congestion control is chosen per socket with TCP_CONGESTION (a child namespace may
not set tcp_congestion_control to anything outside tcp_allowed_congestion_control).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import re
import socket
import struct
import subprocess
import sys
import threading
import time

BYTE_CAP = 16 * 1024 * 1024  # no scenario may move more than this per connection
SIOCOUTQ = 0x5411  # TIOCOUTQ: bytes not yet acknowledged (sent or not)
TCP_INFO = getattr(socket, "TCP_INFO", 11)
TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)

# struct tcp_info from include/uapi/linux/tcp.h (Linux 6.18), in order. Every field is
# naturally aligned at its offset, so a packed native-endian format matches the C layout.
# Fields past what the running kernel returns (optlen) are left out.
TCP_INFO_FIELDS: list[tuple[str, str]] = [
    ("state", "B"), ("ca_state", "B"), ("retransmits", "B"), ("probes", "B"),
    ("backoff", "B"), ("options", "B"), ("wscale", "B"), ("flags8", "B"),
    ("rto", "I"), ("ato", "I"), ("snd_mss", "I"), ("rcv_mss", "I"),
    ("unacked", "I"), ("sacked", "I"), ("lost", "I"), ("retrans", "I"), ("fackets", "I"),
    ("last_data_sent", "I"), ("last_ack_sent", "I"),
    ("last_data_recv", "I"), ("last_ack_recv", "I"),
    ("pmtu", "I"), ("rcv_ssthresh", "I"), ("rtt", "I"), ("rttvar", "I"),
    ("snd_ssthresh", "I"), ("snd_cwnd", "I"), ("advmss", "I"), ("reordering", "I"),
    ("rcv_rtt", "I"), ("rcv_space", "I"), ("total_retrans", "I"),
    ("pacing_rate", "Q"), ("max_pacing_rate", "Q"), ("bytes_acked", "Q"), ("bytes_received", "Q"),
    ("segs_out", "I"), ("segs_in", "I"),
    ("notsent_bytes", "I"), ("min_rtt", "I"), ("data_segs_in", "I"), ("data_segs_out", "I"),
    ("delivery_rate", "Q"),
    ("busy_time", "Q"), ("rwnd_limited", "Q"), ("sndbuf_limited", "Q"),
    ("delivered", "I"), ("delivered_ce", "I"),
    ("bytes_sent", "Q"), ("bytes_retrans", "Q"),
    ("dsack_dups", "I"), ("reord_seen", "I"),
    ("rcv_ooopack", "I"),
    ("snd_wnd", "I"),
    ("rcv_wnd", "I"),
    ("rehash", "I"),
    ("total_rto", "H"), ("total_rto_recoveries", "H"),
    ("total_rto_time", "I"),
    ("received_ce", "I"),
    # AccECN byte counters (Linux 6.18)
    ("delivered_e1_bytes", "I"), ("delivered_e0_bytes", "I"), ("delivered_ce_bytes", "I"),
    ("received_e1_bytes", "I"), ("received_e0_bytes", "I"), ("received_ce_bytes", "I"),
    ("accecn_fail_mode", "H"), ("accecn_opt_seen", "H"),
]  # fmt: skip

TCPI_OPT = {
    "opt_timestamps": 1,
    "opt_sack": 2,
    "opt_wscale": 4,
    "opt_ecn": 8,
    "opt_ecn_seen": 16,
    "opt_syn_data": 32,
    "opt_usec_ts": 64,
}


def tcp_info(sock: socket.socket) -> dict:
    raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 512)
    out: dict = {"_len": len(raw)}
    off = 0
    for name, fmt in TCP_INFO_FIELDS:
        size = struct.calcsize("=" + fmt)
        if off + size > len(raw):
            break
        (out[name],) = struct.unpack_from("=" + fmt, raw, off)
        off += size
    out["snd_wscale"] = out["wscale"] & 0x0F
    out["rcv_wscale"] = out["wscale"] >> 4
    for name, bit in TCPI_OPT.items():
        out[name] = bool(out["options"] & bit)
    return out


def congestion_control(sock: socket.socket) -> str:
    return sock.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16).split(b"\0", 1)[0].decode()


def _num(v: str):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def parse_ss(text: str) -> dict:
    """The `ss -tin` detail line of one socket, as a dict (numbers converted)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 3:
        return {}
    toks = " ".join(lines[2:]).split()
    out: dict = {"flags": []}
    i = 0
    valued = {"send", "pacing_rate", "delivery_rate"}
    while i < len(toks):
        t = toks[i]
        if t in valued and i + 1 < len(toks):
            out[t] = toks[i + 1]
            i += 2
            continue
        if ":" in t:
            k, v = t.split(":", 1)
            if k in ("rtt", "rcv_rtt") and "/" in v:
                a, b = v.split("/", 1)
                out[k + "_ms"] = _num(a)
                out[k + "var_ms" if k == "rtt" else k + "_var_ms"] = _num(b)
            elif k == "rtt":
                out["rtt_ms"] = _num(v)
            elif k == "retrans" and "/" in v:
                a, b = v.split("/", 1)
                out["retrans_now"] = _num(a)
                out["retrans_total"] = _num(b)
            elif k in ("wscale", "busy") or re.fullmatch(r"[0-9.]+[a-z]+", v):
                out[k] = v
            elif k == "rcv_rtt":
                out["rcv_rtt"] = _num(v)
            else:
                out[k] = _num(v)
        else:
            out["flags"].append(t)
        i += 1
    return out


def ss_snapshot(lport: int, rport: int) -> tuple[str, dict]:
    try:
        raw = subprocess.run(
            ["ss", "-tin", "sport", "=", f":{lport}", "and", "dport", "=", f":{rport}"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return f"ss failed: {e}", {}
    return raw, parse_ss(raw)


def snapshot(sock: socket.socket, rec: dict, lport: int, rport: int) -> None:
    rec["tcp_info"] = tcp_info(sock)
    rec["congestion_control"] = congestion_control(sock)
    rec["ss_raw"], rec["ss"] = ss_snapshot(lport, rport)
    rec["t_snapshot"] = time.time()


def outq(sock: socket.socket) -> int:
    buf = fcntl.ioctl(sock.fileno(), SIOCOUTQ, b"\0\0\0\0")
    return struct.unpack("i", buf)[0]


def wait_acked(sock: socket.socket, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if outq(sock) == 0:
            return True
        time.sleep(0.002)
    return outq(sock) == 0


def recv_exact(sock: socket.socket, n: int) -> int:
    got = 0
    while got < n:
        b = sock.recv(min(65536, n - got))
        if not b:
            break
        got += len(b)
    return got


def pattern(n: int) -> bytes:
    block = bytes(range(256)) * 256
    return (block * (n // len(block) + 1))[:n]


def addr_dict(a) -> dict:
    return {"ip": a[0], "port": a[1]}


# ---------------------------------------------------------------------------- server


def serve_conn(conn: socket.socket, peer, args, rec: dict) -> None:
    rec.update(
        role="server", mode=args.mode, local=addr_dict(conn.getsockname()), remote=addr_dict(peer)
    )
    rec["t_accept"] = time.time()
    deadline = time.monotonic() + args.timeout
    recvd = sent = 0
    if args.mode == "sink":
        while True:
            b = conn.recv(262144)
            if not b:
                break
            recvd += len(b)
            if recvd > BYTE_CAP:
                raise SystemExit("byte cap exceeded")
    else:
        resp = pattern(args.resp_bytes)
        while True:
            n = recv_exact(conn, args.req_bytes)
            recvd += n
            if n < args.req_bytes:
                break
            conn.sendall(resp)
            sent += len(resp)
            if sent > BYTE_CAP:
                raise SystemExit("byte cap exceeded")
        rec["all_acked"] = wait_acked(conn, deadline)
    rec["t_eof"] = time.time()
    rec["bytes_recv"] = recvd
    rec["bytes_sent"] = sent
    snapshot(conn, rec, rec["local"]["port"], rec["remote"]["port"])
    conn.close()
    rec["t_close"] = time.time()


def run_server(args) -> list:
    fam = socket.AF_INET6 if ":" in args.addr else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, args.cc.encode())
    ls.bind((args.addr, args.port))
    ls.listen(64)
    ls.settimeout(args.timeout)
    print("ready", flush=True)
    records: list = []
    threads = []
    for _ in range(args.conns):
        conn, peer = ls.accept()
        conn.settimeout(args.timeout)
        rec: dict = {}
        records.append(rec)
        t = threading.Thread(target=serve_conn, args=(conn, peer, args, rec), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(args.timeout)
    ls.close()
    return records


# ---------------------------------------------------------------------------- client


def client_conn(idx: int, args, rec: dict) -> None:
    fam = socket.AF_INET6 if ":" in args.addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, args.cc.encode())
    s.settimeout(args.timeout)
    deadline = time.monotonic() + args.timeout
    rec.update(role="client", mode=args.mode, conn_index=idx, t_start=time.time())
    s.connect((args.addr, args.port))
    rec["t_connected"] = time.time()
    rec["local"] = addr_dict(s.getsockname())
    rec["remote"] = addr_dict(s.getpeername())
    sent = recvd = 0
    if args.mode == "sink":
        s.sendall(pattern(args.bytes))
        sent = args.bytes
    else:
        req = pattern(args.req_bytes)
        for _ in range(args.requests):
            s.sendall(req)
            sent += len(req)
            n = recv_exact(s, args.resp_bytes)
            recvd += n
            if n < args.resp_bytes:
                break
    rec["bytes_sent"] = sent
    rec["bytes_recv"] = recvd
    rec["all_acked"] = wait_acked(s, deadline)
    rec["t_done"] = time.time()
    snapshot(s, rec, rec["local"]["port"], rec["remote"]["port"])
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()
    rec["t_close"] = time.time()


def run_client(args) -> list:
    records: list = [{} for _ in range(args.conns)]
    if args.parallel:
        threads = []
        for i in range(args.conns):
            t = threading.Thread(target=client_conn, args=(i, args, records[i]), daemon=True)
            t.start()
            threads.append(t)
            time.sleep(args.stagger_ms / 1000.0)
        for t in threads:
            t.join(args.timeout)
    else:
        for i in range(args.conns):
            client_conn(i, args, records[i])
    return records


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("role", choices=["server", "client"])
    ap.add_argument("--addr", required=True, help="server address (listen on / connect to)")
    ap.add_argument("--port", type=int, default=5001)
    ap.add_argument("--mode", choices=["sink", "rr"], default="sink")
    ap.add_argument("--bytes", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=10)
    ap.add_argument("--req-bytes", type=int, default=300)
    ap.add_argument("--resp-bytes", type=int, default=30000)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--parallel", action="store_true")
    ap.add_argument("--stagger-ms", type=float, default=0.0)
    ap.add_argument("--cc", default="cubic")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    total = (
        args.bytes if args.mode == "sink" else args.requests * max(args.req_bytes, args.resp_bytes)
    )
    if total > BYTE_CAP or args.conns > 16:
        sys.exit(f"refusing: {total} bytes x {args.conns} connections is over the harness cap")
    records = run_server(args) if args.role == "server" else run_client(args)
    with open(args.out, "w") as f:
        json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
