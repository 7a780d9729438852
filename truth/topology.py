"""The three namespaces: ffx-snd (client) -- ffx-mid (router + shaper) -- ffx-rcv (server)."""

from __future__ import annotations

import os
import signal

from harness import OTHER_CPUS, SHAPER_CPU, log, sh, sysctl

NS = {"snd": "ffx-snd", "mid": "ffx-mid", "rcv": "ffx-rcv"}
# Addresses live only inside the harness's namespaces (RFC 1918 / RFC 4193 ranges).
ADDR = {
    4: {
        "client": "10.66.1.2",
        "mid_c": "10.66.1.1",
        "mid_s": "10.66.2.1",
        "server": "10.66.2.2",
        "plen": 24,
    },
    6: {
        "client": "fd66:1::2",
        "mid_c": "fd66:1::1",
        "mid_s": "fd66:2::1",
        "server": "fd66:2::2",
        "plen": 64,
    },
}
SERVER_PORT = 5001
MTU = 1500
OFFLOADS = ["tso", "gso", "gro", "lro", "tx", "sg"]
OFFLOADS_READ = (
    "tcp-segmentation-offload",
    "generic-segmentation-offload",
    "generic-receive-offload",
    "large-receive-offload",
    "tx-checksumming",
    "rx-gro-hw",
)
LINKS = [
    (NS["snd"], "eth0"),
    (NS["mid"], "to-snd"),
    (NS["mid"], "to-rcv"),
    (NS["rcv"], "eth0"),
]


def netns_list() -> list[str]:
    out = sh("ip", "netns", "list", check=False)
    return [ln.split()[0] for ln in out.splitlines() if ln.strip()]


def teardown(quiet: bool = False) -> None:
    present = set(netns_list())
    for ns in NS.values():
        if ns not in present:
            continue
        # Processes of a crashed earlier run of this harness, inside its own namespaces only.
        pids = sh("ip", "netns", "pids", ns, check=False).split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "netns", "del", ns, check=False)
        if not quiet:
            log(f"removed namespace {ns}")


def in_ns(ns: str) -> list[str]:
    """The prefix that runs a command inside a namespace."""
    return ["ip", "netns", "exec", ns]


def mac(ns: str, dev: str) -> str:
    return sh("cat", f"/sys/class/net/{dev}/address", ns=ns).strip()


def veth(ns_a: str, dev_a: str, ns_b: str, dev_b: str) -> None:
    peer = ["peer", "name", dev_b, "netns", ns_b]
    sh("ip", "link", "add", dev_a, "netns", ns_a, "type", "veth", *peer)


def neigh(ns: str, fam: str, addr: str, lladdr: str, dev: str) -> None:
    """A permanent neighbour entry: no ARP/ND exchange in the captures or the first RTT."""
    sh("ip", fam, "neigh", "replace", addr, "lladdr", lladdr, "dev", dev, "nud", "permanent", ns=ns)


def offloads_off() -> dict:
    """Wire segments in the captures: no TSO/GSO/GRO/LRO, checksums computed in software."""
    states = {}
    for ns, dev in LINKS:
        sh("ip", "link", "set", dev, "mtu", str(MTU), "up", ns=ns)
        for feat in OFFLOADS:
            sh("ethtool", "-K", dev, feat, "off", ns=ns, check=False)
        k = sh("ethtool", "-k", dev, ns=ns, check=False)
        states[f"{ns}:{dev}"] = {
            ln.split(":")[0].strip(): ln.split(":")[1].split()[0]
            for ln in k.splitlines()
            if ln.split(":")[0].strip() in OFFLOADS_READ
        }
    return states


def rps_off_shaper_cpu() -> str | None:
    """Receive processing on every veth goes to the CPUs that are not the shaper's."""
    if SHAPER_CPU is None:
        return None
    rps = format(sum(1 << c for c in OTHER_CPUS), "x")
    for ns, dev in LINKS:
        sh("sh", "-c", f"echo {rps} > /sys/class/net/{dev}/queues/rx-0/rps_cpus", ns=ns)
    return rps


def addresses() -> None:
    snd, mid, rcv = NS["snd"], NS["mid"], NS["rcv"]
    for v in (4, 6):
        a = ADDR[v]
        extra = ["nodad"] if v == 6 else []
        fam = f"-{v}"
        plen = a["plen"]
        sh("ip", fam, "addr", "add", f"{a['client']}/{plen}", "dev", "eth0", *extra, ns=snd)
        sh("ip", fam, "addr", "add", f"{a['mid_c']}/{plen}", "dev", "to-snd", *extra, ns=mid)
        sh("ip", fam, "addr", "add", f"{a['mid_s']}/{plen}", "dev", "to-rcv", *extra, ns=mid)
        sh("ip", fam, "addr", "add", f"{a['server']}/{plen}", "dev", "eth0", *extra, ns=rcv)
        sh("ip", fam, "route", "add", "default", "via", a["mid_c"], "dev", "eth0", ns=snd)
        sh("ip", fam, "route", "add", "default", "via", a["mid_s"], "dev", "eth0", ns=rcv)
        neigh(snd, fam, a["mid_c"], mac(mid, "to-snd"), "eth0")
        neigh(mid, fam, a["client"], mac(snd, "eth0"), "to-snd")
        neigh(mid, fam, a["server"], mac(rcv, "eth0"), "to-rcv")
        neigh(rcv, fam, a["mid_s"], mac(mid, "to-rcv"), "eth0")


def setup(sc: dict) -> dict:
    """Build the three namespaces for a scenario; returns facts for the truth file."""
    for ns in NS.values():
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        # No IPv6 DAD (addresses usable at once), no autoconfiguration.
        for key in ("all", "default"):
            sysctl(ns, f"net.ipv6.conf.{key}.accept_dad", 0)
            sysctl(ns, f"net.ipv6.conf.{key}.autoconf", 0)
            sysctl(ns, f"net.ipv6.conf.{key}.accept_ra", 0)
    snd, mid, rcv = NS["snd"], NS["mid"], NS["rcv"]
    veth(snd, "eth0", mid, "to-snd")
    veth(rcv, "eth0", mid, "to-rcv")
    offloads = offloads_off()
    rps = rps_off_shaper_cpu()
    addresses()
    sysctl(mid, "net.ipv4.ip_forward", 1)
    sysctl(mid, "net.ipv6.conf.all.forwarding", 1)
    for ns in (snd, rcv):
        sysctl(ns, "net.ipv4.tcp_timestamps", sc["tcp_timestamps"])
        sysctl(ns, "net.ipv4.tcp_sack", sc["sack"])
        sysctl(ns, "net.ipv4.tcp_ecn", sc["ecn"])
        sysctl(ns, "net.ipv4.tcp_no_metrics_save", 1)
    # The shaper sees every forwarded TCP packet; one queue per direction (by input interface).
    for tool in ("iptables", "ip6tables"):
        for dev, queue in (("to-snd", "0"), ("to-rcv", "1")):
            rule = f"-w -A FORWARD -i {dev} -p tcp -j NFQUEUE --queue-num {queue}"
            sh(tool, *rule.split(), ns=mid)
    return {"offloads": offloads, "rps_cpus": rps}
