"""What the kernels say: sysctls, nstat counters, and the endpoints' TCP_INFO/ss records."""

from __future__ import annotations

from harness import sh

NSTAT_KEYS = [
    "TcpActiveOpens", "TcpPassiveOpens", "TcpInSegs", "TcpOutSegs", "TcpRetransSegs",
    "TcpExtTCPLostRetransmit", "TcpExtTCPFastRetrans", "TcpExtTCPSlowStartRetrans",
    "TcpExtTCPTimeouts", "TcpExtTCPSackRecovery", "TcpExtTCPRenoRecovery",
    "TcpExtTCPSACKReorder", "TcpExtTCPRenoReorder", "TcpExtTCPTSReorder",
    "TcpExtTCPDSACKRecv", "TcpExtTCPDSACKOldSent", "TcpExtTCPDSACKOfoSent",
    "TcpExtTCPOFOQueue", "TcpExtTCPSpuriousRTOs", "TcpExtTCPSpuriousRtxHostQueues",
    "TcpExtTCPDelivered", "TcpExtTCPDeliveredCE", "TcpExtTCPECNRehash",
    "TcpExtDelayedACKs", "TcpExtTCPHPAcks", "TcpExtTCPPureAcks",
    "TcpExtTCPLossProbes", "TcpExtTCPLossProbeRecovery", "TcpExtTCPRetransFail",
    "TcpExtTCPSynRetrans", "TcpExtTCPAutoCorking", "TcpExtTCPOrigDataSent",
]  # fmt: skip
SYSCTLS_READ = [
    "net.ipv4.tcp_timestamps", "net.ipv4.tcp_ecn", "net.ipv4.tcp_sack",
    "net.ipv4.tcp_congestion_control", "net.ipv4.tcp_no_metrics_save",
    "net.ipv4.tcp_wmem", "net.ipv4.tcp_rmem", "net.ipv4.tcp_limit_output_bytes",
]  # fmt: skip


def read_sysctls(namespaces: list[str]) -> dict:
    """The TCP sysctls as each endpoint namespace really has them."""
    return {
        ns: {k: sh("sysctl", "-n", k, ns=ns).strip() for k in SYSCTLS_READ} for ns in namespaces
    }


def nstat(ns: str) -> dict:
    out = sh("nstat", "-asz", ns=ns)
    vals = {}
    for ln in out.splitlines():
        f = ln.split()
        if len(f) >= 2 and not ln.startswith("#"):
            try:
                vals[f[0]] = int(f[1])
            except ValueError:
                pass
    return vals


def nstat_deltas(before: dict, after: dict) -> tuple[dict, dict]:
    """Per namespace: every counter that changed, and the fixed key list (zeros included)."""
    delta = {}
    key = {}
    for side in ("client_ns", "server_ns"):
        b, af = before[side], after[side]
        delta[side] = {k: af[k] - b.get(k, 0) for k in af if af[k] - b.get(k, 0) != 0}
        key[side] = {k: af.get(k, 0) - b.get(k, 0) for k in NSTAT_KEYS}
    return delta, key


def connections(clients: list[dict], servers: list[dict]) -> list[dict]:
    """The endpoints' per-connection records, paired by the client's port."""
    by_port = {s["remote"]["port"]: s for s in servers}
    conns = []
    for c in sorted(clients, key=lambda r: r.get("conn_index", 0)):
        s = by_port.get(c["local"]["port"], {})
        conns.append(
            {
                "group": 0,
                "five_tuple": {
                    "proto": 6,
                    "src": c["local"]["ip"],
                    "sport": c["local"]["port"],
                    "dst": c["remote"]["ip"],
                    "dport": c["remote"]["port"],
                },
                "client_to_server_bytes": c.get("bytes_sent"),
                "server_to_client_bytes": s.get("bytes_sent"),
                "server_received_bytes": s.get("bytes_recv"),
                "client": c,
                "server": s,
            }
        )
    return conns
