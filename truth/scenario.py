"""One scenario: topology, shaper, server, captures, client, and the truth file."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from captures import mid_pcaps, observation_points, start_tcpdumps, stop_tcpdumps
from checks import handshake_rtt_pcap_ms, mid_handshake_halves_ms, one_way_excess_ms
from harness import (
    HERE,
    OTHER_CPUS,
    SCENARIO_TIMEOUT_S,
    SHAPER_CPU,
    Procs,
    read_line,
    taskset,
)
from kernel import connections, nstat, nstat_deltas, read_sysctls
from topology import ADDR, MTU, NS, SERVER_PORT, in_ns, setup, teardown

SHAPING_KEYS = ["delay_ms", "loss", "reorder", "reorder_ms", "ce", "rate_mbit", "qlimit_ms", "drop"]


def spec(d: dict) -> str:
    """A direction's shaping as the shaper's --queueN argument."""
    unknown = set(d) - set(SHAPING_KEYS)
    if unknown:
        raise ValueError(f"unknown shaping keys {sorted(unknown)}")
    return ",".join(f"{k}={d[k]}" for k in SHAPING_KEYS if k in d)


def start_shaper(
    procs: Procs, seed: int, queues: tuple[str, str], work: Path, mid: dict[str, Path], binary: Path
) -> subprocess.Popen:
    """The shaper in ffx-mid, also writing the middle captures; waits for its "ready"."""
    cmd = [*in_ns(NS["mid"]), str(binary), "--seed", str(seed)]
    cmd += ["--out", str(work / "shaper.json"), "--queue0", queues[0], "--queue1", queues[1]]
    cmd += ["--pcap-full", str(mid["mid_full"]), "--pcap-s96", str(mid["mid_s96"])]
    if SHAPER_CPU is not None:
        cmd += ["--cpu", str(SHAPER_CPU)]
    shaper = procs.start(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    read_line(shaper.stdout, 10, "ready")
    return shaper


def endpoint_args(sc: dict) -> list[str]:
    """The arguments client and server share: address, port, mode, sizes, CC, timeout."""
    tr = sc["transfer"]
    server = ADDR[sc["ip_version"]]["server"]
    args = ["--addr", server, "--port", str(SERVER_PORT), "--mode", tr["mode"], "--cc", sc["cc"]]
    args += ["--conns", str(tr.get("conns", 1)), "--timeout", str(SCENARIO_TIMEOUT_S)]
    if tr["mode"] == "sink":
        args += ["--bytes", str(tr["bytes"])]
    else:
        args += ["--requests", str(tr["requests"]), "--req-bytes", str(tr["req_bytes"])]
        args += ["--resp-bytes", str(tr["resp_bytes"])]
    return args


def wait_ok(p: subprocess.Popen, timeout: float, what: str) -> None:
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} timed out") from None
    if rc != 0:
        raise RuntimeError(f"{what} exited {rc}")


def run_scenario(sc: dict, seed: int, out: Path, shaper_bin: Path, procs: Procs) -> dict:
    name = sc["scenario"]
    v = sc["ip_version"]
    a = ADDR[v]
    t_wall = time.monotonic()
    work = out / f".work-{name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for f in out.glob(f"{name}.*"):
        f.unlink()
    teardown(quiet=True)
    facts = setup(sc)
    facts["sysctls"] = read_sysctls([NS["snd"], NS["rcv"]])
    snd, rcv = NS["snd"], NS["rcv"]
    c2s, s2c = sc["shaping"]["client_to_server"], sc["shaping"]["server_to_client"]

    mid = mid_pcaps(name)
    mid_paths = {k: out / f for k, f in mid.items()}
    shaper = start_shaper(procs, seed, (spec(c2s), spec(s2c)), work, mid_paths, shaper_bin)

    tr = sc["transfer"]
    common = endpoint_args(sc)
    endpoint = [*taskset(), sys.executable, str(HERE / "endpoint.py")]
    server_cmd = [*in_ns(rcv), *endpoint, "server", *common, "--out", str(work / "server.json")]
    server = procs.start(server_cmd, stdout=subprocess.PIPE, text=True)
    read_line(server.stdout, 10, "ready")

    ns_before = {"client_ns": nstat(snd), "server_ns": nstat(rcv)}

    pcaps, dumps = start_tcpdumps(procs, out, name)
    pcaps.update(mid)
    time.sleep(0.2)

    client_cmd = [*in_ns(snd), *endpoint, "client", *common, "--out", str(work / "client.json")]
    if tr.get("parallel"):
        client_cmd += ["--parallel", "--stagger-ms", str(tr.get("stagger_ms", 0))]
    t0 = time.monotonic()
    client = procs.start(client_cmd)
    wait_ok(client, SCENARIO_TIMEOUT_S + 5, f"{name}: client")
    duration = time.monotonic() - t0
    wait_ok(server, SCENARIO_TIMEOUT_S, f"{name}: server")
    # Let the last FIN/ACKs cross the delayed path before the captures stop.
    time.sleep(max(0.3, 3 * (c2s.get("delay_ms", 0) + s2c.get("delay_ms", 0)) / 1000))
    ns_after = {"client_ns": nstat(snd), "server_ns": nstat(rcv)}

    tcpdump = stop_tcpdumps(dumps)
    shaper.stdin.write("stop\n")
    shaper.stdin.close()
    if shaper.wait(timeout=10) != 0:
        raise RuntimeError(f"{name}: shaper exited {shaper.returncode}")
    shaper_rep = json.loads((work / "shaper.json").read_text())
    clients = json.loads((work / "client.json").read_text())
    servers = json.loads((work / "server.json").read_text())
    delta, key = nstat_deltas(ns_before, ns_after)

    shaping = {
        "client_to_server": c2s,
        "server_to_client": s2c,
        "implementation": "ffx-shaper (truth/shaper: NFQUEUE in ffx-mid FORWARD, queue 0 "
        "client->server, queue 1 server->client; this kernel has no netem qdisc)",
    }
    one_c2s, one_s2c = c2s.get("delay_ms", 0), s2c.get("delay_ms", 0)
    truth = {
        "scenario": name,
        "description": sc["description"],
        "ip_version": v,
        "client": a["client"],
        "server": a["server"],
        "server_port": SERVER_PORT,
        "tcp_timestamps": sc["tcp_timestamps"],
        "ecn": sc["ecn"],
        "sack": sc["sack"],
        "congestion_control": f"{sc['cc']} (per-socket TCP_CONGESTION; child netns may not "
        "set the sysctl)",
        "mtu": MTU,
        "seed": seed,
        "sysctls": facts["sysctls"],
        "shaping": shaping,
        "rtt_truth_ms": {
            "base_rtt": one_c2s + one_s2c,
            "one_way_client_to_server": one_c2s,
            "one_way_server_to_client": one_s2c,
            "note": "base = sum of configured one-way delays (a floor); + serialization/queueing "
            "when rate_mbit is set, + reorder_ms for reordered packets; snd capture: data->ACK ~ "
            "base RTT; rcv capture: ACK->next data ~ base RTT; mid capture: data->ACK ~ "
            "one_way_client_to_server, ACK->next data ~ one_way_server_to_client",
        },
        "observation_points": observation_points(one_c2s, one_s2c),
        "pcaps": pcaps,
        "transfer": tr,
        "duration_s": round(duration, 3),
        "connections": connections(clients, servers),
        "nstat_delta": delta,
        "nstat_key": key,
        "shaper": shaper_rep,
        "tcpdump": tcpdump,
        "topology": {
            "namespaces": NS,
            "links": ["ffx-snd:eth0 <-> ffx-mid:to-snd", "ffx-mid:to-rcv <-> ffx-rcv:eth0"],
            "offloads": facts["offloads"],
            "static_neighbours": True,
            "shaper_cpu": SHAPER_CPU,
            "other_cpus": OTHER_CPUS,
            "rps_cpus": facts["rps_cpus"],
        },
        "kernel": platform.release(),
        "generated_by": "ferrofix truth/run.py (make truth)",
    }
    # How exactly the emulation met its configuration, measured between the two captures
    # (harness self-check; not kernel truth).
    truth["timing_check"] = {
        "handshake_rtt_ms_snd": handshake_rtt_pcap_ms(out / pcaps["snd_s96"]),
        "one_way_minus_configured_delay_ms": one_way_excess_ms(out, truth),
        "note": "from the s96 captures: SYN->SYN/ACK at the client, and per direction the time "
        "between the two capture points of each segment seen once at both, minus the configured "
        "one-way delay (includes veth/forwarding/softirq time; includes queueing when rate_mbit "
        "is set and reorder_ms for reordered segments); mid_handshake_halves_ms: at the shaper's "
        "own capture, SYN->SYN/ACK (client_to_server: the client->server delay as the emulation "
        "applied it to the SYN) and SYN/ACK->ACK (server_to_client: to the SYN/ACK)",
    }
    if pcaps.get("mid_s96") and (out / pcaps["mid_s96"]).exists():
        up, down = mid_handshake_halves_ms(out / pcaps["mid_s96"])
        truth["timing_check"]["mid_handshake_halves_ms"] = {
            "client_to_server": up,
            "server_to_client": down,
        }
    truth["wall_s"] = round(time.monotonic() - t_wall, 2)
    (out / f"{name}.truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return truth
