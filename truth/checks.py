"""Checks of a run: the emulation's timing against its configuration, and the truth files'
internal consistency (``python3 truth/run.py --check``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from captures import count_records, read_pcap


def handshake_rtt_ms(pcap: Path) -> float | None:
    """SYN -> SYN/ACK at the client's interface, with tshark (None when tshark is absent)."""
    if not shutil.which("tshark"):
        return None
    fields = "-Y tcp.flags.syn==1 -T fields -e frame.time_relative -e tcp.flags.ack".split()
    out = subprocess.run(
        ["tshark", "-r", str(pcap), *fields], capture_output=True, text=True, timeout=60
    ).stdout
    syn = synack = None
    for ln in out.splitlines():
        f = ln.split("\t")
        if len(f) < 2:
            continue
        t, ack = float(f[0]), f[1] in ("1", "True")
        if not ack and syn is None:
            syn = t
        elif ack and syn is not None and synack is None:
            synack = t
    if syn is None or synack is None:
        return None
    return (synack - syn) * 1000.0


def timing_problems(t: dict) -> list[str]:
    """The emulation missed its configured delays (the host stalled the shaper, e.g. a busy
    neighbour or the hypervisor): such a run is not ground truth for RTTs; run it again."""
    tc = t["timing_check"]
    base = t["rtt_truth_ms"]["base_rtt"]
    out = []
    hs = tc["handshake_rtt_ms_snd"]
    if hs is None or not base <= hs <= base + 1.5:
        out.append(f"handshake RTT {hs} ms for a configured {base} ms")
    for dname, e in tc["one_way_minus_configured_delay_ms"].items():
        cfg = t["shaping"][dname]
        if not cfg.get("rate_mbit") and not cfg.get("reorder") and e["p99"] > 2.0:
            out.append(f"{dname}: one-way delay p99 {e['p99']} ms over the configured delay")
    return out


def handshake_times(pcap: Path) -> tuple[float | None, float | None, float | None]:
    """Times of the first SYN, the first SYN/ACK after it, and the first packet of the SYN's
    sender after that SYN/ACK (the handshake's ACK), from the own pcap reader."""
    syn = synack = ack = None
    client = None
    for t, src, *_rest, fl in read_pcap(pcap):
        if syn is None:
            if fl & 0x12 == 0x02:
                syn, client = t, src
        elif synack is None:
            if fl & 0x12 == 0x12:
                synack = t
        elif src == client:
            ack = t
            break
    return syn, synack, ack


def handshake_rtt_pcap_ms(pcap: Path) -> float | None:
    """First SYN to first SYN/ACK in a capture (own reader; no tshark needed)."""
    syn, synack, _ = handshake_times(pcap)
    return None if syn is None or synack is None else round((synack - syn) * 1000.0, 3)


def mid_handshake_halves_ms(pcap: Path) -> tuple[float | None, float | None]:
    """At the middle point: SYN -> SYN/ACK (the half toward the server) and SYN/ACK -> ACK (the
    half toward the client)."""
    syn, synack, ack = handshake_times(pcap)
    up = None if syn is None or synack is None else round((synack - syn) * 1000.0, 3)
    down = None if synack is None or ack is None else round((ack - synack) * 1000.0, 3)
    return up, down


def _seen_once(pkts: list[tuple], src: str) -> dict:
    """Segments of `src` (by seq, ack, length, flags) seen exactly once: their time."""
    seen: dict = {}
    for tt, s, _d, seq, ack, plen, fl in pkts:
        if s == src:
            seen.setdefault((seq, ack, plen, fl), []).append(tt)
    return {k: v[0] for k, v in seen.items() if len(v) == 1}


def _quantiles(ex: list[float]) -> dict:
    def q(f: float) -> float:
        return round(ex[min(len(ex) - 1, int(f * len(ex)))], 3)

    return {
        "n": len(ex),
        "min": round(ex[0], 3),
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "max": round(ex[-1], 3),
    }


def one_way_excess_ms(out: Path, t: dict) -> dict:
    """Per direction, the one-way time between the two captures minus the configured delay,
    over the segments seen exactly once at both points (quantiles, ms)."""
    snd = read_pcap(out / t["pcaps"]["snd_s96"])
    rcv = read_pcap(out / t["pcaps"]["rcv_s96"])
    res = {}
    for dname, first, second, src, cfg in (
        ("client_to_server", snd, rcv, t["client"], t["shaping"]["client_to_server"]),
        ("server_to_client", rcv, snd, t["server"], t["shaping"]["server_to_client"]),
    ):
        a, b = _seen_once(first, src), _seen_once(second, src)
        ex = sorted((b[k] - a[k]) * 1000 - cfg.get("delay_ms", 0) for k in a.keys() & b.keys())
        if ex:
            res[dname] = _quantiles(ex)
    return res


def check_mid(out: Path, t: dict) -> tuple[str, list[str]]:
    """The middle capture holds exactly the packets the shaper saw, and its handshake halves
    are the configured one-way delays."""
    name = t["pcaps"].get("mid_s96")
    if not name:
        return "mid=n/a", []
    problems = []
    pcap = out / name
    if not pcap.exists():
        return "mid=missing", [f"no middle capture {name}"]
    seen = sum(q["stats"]["pkts"] for q in t["shaper"]["queues"])
    n = count_records(pcap)
    full = out / t["pcaps"]["mid_full"]
    n_full = count_records(full) if full.exists() else -1
    if not n == n_full == seen:
        problems.append(
            f"middle capture has {n} (s96) / {n_full} (full) packets, shaper saw {seen}"
        )
    up, down = mid_handshake_halves_ms(pcap)
    for label, got, dname in (("up", up, "client_to_server"), ("down", down, "server_to_client")):
        want = t["shaping"][dname].get("delay_ms", 0)
        if got is None or not want - 0.05 <= got <= want + 1.5:
            problems.append(f"mid handshake half {label} {got} ms for a configured {want} ms")
    return f"mid: pkts={n} halves={up}/{down} ms", problems


def check_scenario(out: Path, t: dict) -> bool:
    problems = []
    conns = t["connections"]
    if not conns:
        problems.append("no connections")
    for c in conns:
        for side in ("client", "server"):
            if "tcp_info" not in c[side] or not c[side].get("ss"):
                problems.append(f"{side} tcp_info/ss missing")
    sh_ = t["shaper"]
    stats = [q["stats"] for q in sh_["queues"]]
    drops = sum(s["dropped_random"] + s["dropped_list"] + s["dropped_qlimit"] for s in stats)
    marks = sum(s["ce_marked"] for s in stats)
    reord = sum(s["reorder_delayed"] for s in stats)
    ev: dict[str, int] = {}
    for e in sh_["events"]:
        ev[e["event"]] = ev.get(e["event"], 0) + 1
    if drops + marks + reord != len(sh_["events"]):
        n = len(sh_["events"])
        problems.append(f"events {n} != drops+marks+reorders {drops + marks + reord}")
    if sh_["netlink_overflows"]:
        problems.append(f"netlink overflows {sh_['netlink_overflows']}")
    for kq in sh_.get("kernel_queues", []):
        if kq["queue_dropped"] or kq["user_dropped"]:
            problems.append(
                f"kernel queue {kq['queue']} dropped {kq['queue_dropped']}/{kq['user_dropped']}"
            )
    for k, d in t["tcpdump"].items():
        if d.get("packets_dropped_by_kernel"):
            problems.append(f"tcpdump {k} dropped {d['packets_dropped_by_kernel']}")
    retrans = sum(c["client"]["tcp_info"]["total_retrans"] for c in conns)
    sretrans = sum(c["server"]["tcp_info"]["total_retrans"] for c in conns)
    # queue 0 carries the client's segments, queue 1 the server's.
    sides = {
        0: ("client", "server", "client_ns", retrans),
        1: ("server", "client", "server_ns", sretrans),
    }
    ce_txt = []
    for qn, (sender, receiver, sender_ns, rtx) in sides.items():
        qev = [e for e in sh_["events"] if e["queue"] == qn]
        data_drops = sum(1 for e in qev if e["event"].startswith("drop") and e["payload"] > 0)
        if data_drops and rtx == 0:
            problems.append(
                f"queue {qn}: {data_drops} data segments dropped but {sender} total_retrans is 0"
            )
        marks = sum(1 for e in qev if e["event"] == "ce_mark")
        dce = sum(c[sender]["tcp_info"].get("delivered_ce", 0) for c in conns)
        rce = sum(c[receiver]["tcp_info"].get("received_ce", 0) for c in conns)
        nce = t["nstat_key"][sender_ns]["TcpExtTCPDeliveredCE"]
        if marks:
            ce_txt.append(
                f"q{qn}: marks={marks} {receiver}.received_ce={rce} {sender}.delivered_ce={dce} "
                f"nstat {sender_ns} TCPDeliveredCE={nce}"
            )
            if not (dce > 0 and nce > 0 and rce == marks):
                problems.append(f"queue {qn}: CE marks not reflected: {ce_txt[-1]}")
    hs = handshake_rtt_ms(out / t["pcaps"]["snd_s96"])
    base = t["rtt_truth_ms"]["base_rtt"]
    if hs is not None and not (base <= hs <= base + 1.5):
        problems.append(f"handshake RTT {hs:.3f} ms not within [{base}, {base + 1.5}]")
    ow = one_way_excess_ms(out, t)
    for dname, e in ow.items():
        cfg = t["shaping"][dname]
        if (
            not cfg.get("rate_mbit")
            and not cfg.get("reorder")
            and (e["min"] < -0.05 or e["p50"] > 0.5)
        ):
            problems.append(
                f"{dname}: one-way delay off the configured {cfg.get('delay_ms', 0)} ms: {e}"
            )
    mid_txt, mid_problems = check_mid(out, t)
    problems += mid_problems
    late = max(q["stats"].get("verdict_late_us_max", 0) for q in sh_["queues"])
    hs_s = "n/a" if hs is None else f"{hs:.3f}"
    min_rtt = conns[0]["client"]["tcp_info"]["min_rtt"] / 1000 if conns else float("nan")
    print(
        f"{'OK  ' if not problems else 'FAIL'} {t['scenario']:<26} hs_rtt={hs_s} ms "
        f"(base {base}) min_rtt={min_rtt:.3f} ms retrans c/s={retrans}/{sretrans} events={ev} "
        f"{'; '.join(ce_txt)} late_max={late:.0f}us wall={t['wall_s']}s"
    )
    print(f"     {mid_txt}")
    for dname, e in ow.items():
        print(f"     one-way {dname} minus configured delay (ms): {e}")
    for p in problems:
        print(f"     - {p}")
    return not problems


def check(out: Path, names: list[str] | None = None) -> bool:
    idx = json.loads((out / "index.json").read_text())
    ok_all = True
    for ent in idx["scenarios"]:
        if names and ent["scenario"] not in names:
            continue
        t = json.loads((out / ent["truth"]).read_text())
        ok_all &= check_scenario(out, t)
    return ok_all
