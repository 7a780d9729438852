"""The meter's TCP metrics against real Linux TCP's own truth.

Each scenario is a real transfer between network namespaces through a
user-space shaper, captured beside the sender (``snd``) and beside the
receiver (``rcv``), in two sets made by two harnesses:
``tests/data/tcp-truth-ref/`` (copied from ``../shared/data/tcp-truth``, made
by a harness independent of ferrofix: see its README) and
``tests/data/tcp-truth/`` (made by this repository's ``make truth``,
``docs/truth.md``), and beside them ``tests/data/tcp-truth-cases/``: single
scenarios of other runs of ``make truth`` that showed a case the two sets do
not have (its README says which and why). The expected values come from the kernels (``tcp_info``
and ``nstat`` counters of both ends) and from the shaper's log of every
packet it dropped, delayed or marked, never from ferrofix's output.

Where the shaper sits relative to a capture decides what that capture can
see: packets of the client's direction are impaired after the ``snd``
capture (downstream) and before the ``rcv`` one (upstream); the server's
direction the other way round.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tcp_truth_data import (
    CLIENT_QUEUE,
    ROOT,
    SCENARIOS,
    SERVER_QUEUE,
    SETS,
    connections,
    distinct_octets,
    events,
    has_timestamps,
    initial_rtt,
    metered,
    needs_tshark,
    row,
    segments,
    timed_segments,
    truth,
    within,
)

import ferrofix as ff


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sender_side_retransmissions_are_the_kernels_by_class(scenario: str) -> None:
    t = truth(scenario)
    for point, ns, prefix in [("snd", "client_ns", ""), ("rcv", "server_ns", "reverse")]:
        n = t["nstat_key"][ns]
        df = metered(scenario, point)

        def total(name: str, df: pd.DataFrame = df, prefix: str = prefix) -> int:
            col = prefix + name[0].upper() + name[1:] if prefix else name
            return int(df[col].sum())

        where = f"{scenario} {point} ({ns})"
        assert total("tcpRetransmitCount") == n["TcpRetransSegs"], where
        assert total("tcpFastRetransmitCount") == n["TcpExtTCPFastRetrans"], where
        # A timeout's first retransmission (of data, a FIN or a SYN) is in
        # TCPTimeouts, the rest of its recovery in TCPSlowStartRetrans.
        timeouts = n["TcpExtTCPTimeouts"] + n["TcpExtTCPSlowStartRetrans"]
        assert total("tcpTimeoutRetransmitCount") == timeouts, where
        # What the kernel retransmitted that was neither fast nor a
        # timeout: its loss probes that re-sent data or a FIN.
        probes = n["TcpRetransSegs"] - n["TcpExtTCPFastRetrans"] - timeouts
        assert total("tcpTailLossProbeCount") == probes, where
        assert probes <= n["TcpExtTCPLossProbes"], where
        assert total("tcpSpuriousRetransmitCount") == 0, where


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_octets_sent_and_sent_again_are_the_senders_kernels(scenario: str) -> None:
    """Per connection, beside each end, its direction's data as the end's
    own ``tcp_info`` counts it (taken when it had nothing unsent or
    unacknowledged; neither end sends data after): octets sent, retransmissions
    included (``tcpi_bytes_sent``), octets sent again
    (``tcpi_bytes_retrans``), segments with data (``tcpi_data_segs_out``);
    and the segments with data the other end received (``data_segs_in``)
    beside that end. The captured links do no segmentation offload, so a
    segment is a packet."""
    for conn in connections(scenario):
        for end in ("client", "server"):
            info = conn[end]["tcp_info"]
            assert info["unacked"] == info["notsent_bytes"] == 0, f"{scenario} {end}"
        for point, end, peer, prefix in [
            ("snd", "client", "server", ""),
            ("rcv", "server", "client", "reverse"),
        ]:
            sender, receiver = conn[end]["tcp_info"], conn[peer]["tcp_info"]
            r = row(scenario, point, conn)
            other = row(scenario, "rcv" if point == "snd" else "snd", conn)

            def col(name: str, prefix: str = prefix) -> str:
                return prefix + name[0].upper() + name[1:] if prefix else name

            where = f"{scenario} {point} ({end})"
            assert r[col("transportOctetDeltaCount")] == sender["bytes_sent"], where
            assert r[col("tcpRetransmittedOctetCount")] == sender["bytes_retrans"], where
            assert r[col("transportPacketDeltaCount")] == sender["data_segs_out"], where
            assert other[col("transportPacketDeltaCount")] == receiver["data_segs_in"], where
            if "loss" in scenario and sender["bytes_sent"] > 1_000_000:
                # The bulk sender of a lossy path sent octets again.
                assert sender["bytes_retrans"] > 0, where


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_minimum_rtt_beside_a_host_is_its_kernels(scenario: str) -> None:
    for conn in connections(scenario):
        # Beside the client, its data's round trip is nearly the whole
        # path; beside the server, the server's direction's is.
        snd = row(scenario, "snd", conn)
        kernel = conn["client"]["tcp_info"]["min_rtt"]
        got = snd["minTcpRttMicroseconds"]
        assert within(got, kernel), f"{scenario} client: {got} us vs kernel {kernel} us"
        rcv = row(scenario, "rcv", conn)
        kernel = conn["server"]["tcp_info"]["min_rtt"]
        if conn["server_to_client_bytes"] > 0:
            got = rcv["reverseMinTcpRttMicroseconds"]
        else:
            # A server that only receives has one RTT sample in its kernel,
            # the handshake's (its FIN was answered after the snapshot):
            # the SYN/ACK-to-ACK half beside it.
            got = rcv["reverseTcpHandshakeHalfRttMicroseconds"]
        assert within(got, kernel), f"{scenario} server: {got} us vs kernel {kernel} us"
        # And the half on the capture's own side is small.
        assert rcv["minTcpRttMicroseconds"] < 1000
        assert snd["reverseMinTcpRttMicroseconds"] < 1000


def visible_drops(scenario: str, point: str, conn: dict, queue: int) -> tuple[int, int]:
    """Octets the shaper dropped on `queue` whose absence the capture at
    `point` shows: a later segment passed it before the octets came again
    (a lost last segment, repaired before anything overtook it, leaves no
    trace at any observation point after the loss).

    Returned as (repaired, soon): without TCP timestamps the meter's
    definition (docs/tcp-metrics.md) takes a gap filled within half the
    handshake's round trip of its opening for reordering, so the octets of
    such a repair (`soon`) are apart from the others. With timestamps,
    `soon` is 0."""
    drops = events(scenario, conn, queue, ("drop_random", "drop_list", "drop_qlimit"))
    drops = [e for e in drops if e["payload"] > 0]
    if not drops:
        return 0, 0
    base = drops[0]["seq"]
    ft = conn["five_tuple"]
    ports = (ft["sport"], ft["dport"]) if queue == CLIENT_QUEUE else (ft["dport"], ft["sport"])
    segs = timed_segments(scenario, point, *ports, base)
    window = None
    if not has_timestamps(scenario, point, *ports):
        window = initial_rtt(scenario, point, *ports) / 2
    visible: dict[bool, list[dict[str, int]]] = {False: [], True: []}
    for e in drops:
        a = (e["seq"] - base + 2**31) % 2**32 - 2**31
        b = a + e["payload"]
        first = next((i for i, (s, t, _) in enumerate(segs) if s <= a < t), len(segs))
        # The gap opened when the first segment from past the drop came.
        opener = next((at for s, _, at in segs[:first] if s >= b), None)
        if opener is None:
            continue
        soon = window is not None and first < len(segs) and segs[first][2] - opener <= window
        visible[soon].append({"seq": e["seq"], "payload": e["payload"]})
    return distinct_octets(visible[False]), distinct_octets(visible[True])


@needs_tshark
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_upstream_loss_is_what_the_shaper_dropped_before_the_capture(scenario: str) -> None:
    drops = ("drop_random", "drop_list", "drop_qlimit")
    for conn in connections(scenario):
        rcv, snd = row(scenario, "rcv", conn), row(scenario, "snd", conn)
        where = f"{scenario} {conn['five_tuple']['sport']}"
        c2s, c2s_soon = visible_drops(scenario, "rcv", conn, CLIENT_QUEUE)
        s2c, s2c_soon = visible_drops(scenario, "snd", conn, SERVER_QUEUE)
        assert rcv["tcpUpstreamLossOctetCount"] == c2s, where
        assert snd["reverseTcpUpstreamLossOctetCount"] == s2c, where
        # Without timestamps, a repair that came soon is taken for
        # reordering (where the shaper reordered nothing).
        if not events(scenario, conn, CLIENT_QUEUE, ("reorder_delay",)) and not events(
            scenario, conn, SERVER_QUEUE, ("reorder_delay",)
        ):
            assert rcv["tcpReorderedOctetCount"] == c2s_soon, where
            assert snd["reverseTcpReorderedOctetCount"] == s2c_soon, where
        if conn["server_to_client_bytes"] == 0:
            # In a bulk upload most losses are mid-stream, and show.
            every = distinct_octets(events(scenario, conn, CLIENT_QUEUE, drops))
            assert c2s >= every * 0.75, where
            # And so few repairs come soon that they are rare.
            assert c2s_soon <= every * 0.1, where
        # Nothing is lost before the capture on the sender's own side.
        assert snd["tcpUpstreamLossOctetCount"] == 0, where
        assert rcv["reverseTcpUpstreamLossOctetCount"] == 0, where
        # Everything lost was retransmitted, so no octet stays unseen.
        assert rcv["tcpSequenceLossCount"] == 0 and snd["reverseTcpSequenceLossCount"] == 0


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_ce_marks_are_those_the_shaper_applied(scenario: str) -> None:
    for conn in connections(scenario):
        c2s = len(events(scenario, conn, CLIENT_QUEUE, ("ce_mark",)))
        s2c = len(events(scenario, conn, SERVER_QUEUE, ("ce_mark",)))
        rcv, snd = row(scenario, "rcv", conn), row(scenario, "snd", conn)
        assert rcv["ceMarkCount"] == c2s and snd["ceMarkCount"] == 0, scenario
        assert snd["reverseCeMarkCount"] == s2c and rcv["reverseCeMarkCount"] == 0, scenario
        negotiated = conn["client"]["tcp_info"]["opt_ecn"]
        assert snd["tcpEcnNegotiated"] == negotiated == rcv["tcpEcnNegotiated"], scenario
        if negotiated:
            # An ECN sender marks its data ECT, but not its retransmissions
            # (RFC 3168 §6.1.1, §6.1.5): at the receiver, ECT + CE are the
            # data segments less at most the kernel's retransmissions.
            marked = rcv["ectMarkCount"] + rcv["ceMarkCount"]
            data = rcv["transportPacketDeltaCount"]
            rtx = truth(scenario)["nstat_key"]["client_ns"]["TcpRetransSegs"]
            assert data - rtx <= marked <= data, scenario


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_octets_and_options_are_the_endpoints(scenario: str) -> None:
    t = truth(scenario)
    for conn in connections(scenario):
        client, server = conn["client"]["tcp_info"], conn["server"]["tcp_info"]
        for point in ("snd", "rcv"):
            r = row(scenario, point, conn)
            where = f"{scenario} {point}"
            assert r["tcpSequenceCount"] == conn["client_to_server_bytes"], where
            assert r["reverseTcpSequenceCount"] == conn["server_to_client_bytes"], where
            # The window scale each end announced for its own receiving.
            assert r["tcpWindowScale"] == client["rcv_wscale"], where
            assert r["reverseTcpWindowScale"] == server["rcv_wscale"], where
            quality = int(r["tcpMeasurementQuality"])
            assert bool(quality & 0x02) == client["opt_timestamps"], where
            assert bool(quality & 0x04) == client["opt_sack"], where
            assert quality & 0x01 and not quality & 0x20, where  # handshake seen
            # The SYN's MSS: the path MTU less the IP and TCP headers.
            headers = 40 if t["ip_version"] == 4 else 60
            assert r["declaredTcpMss"] == client["pmtu"] - headers, where
            span = (r["flowEndNanoseconds"] - r["flowStartNanoseconds"]).total_seconds()
            if client["opt_timestamps"] and span > 0.2:
                # Linux stamps in milliseconds (RFC 7323 §5.4 allows
                # 1 ms to 1 s). TSvals count whole ticks: no slope fitted
                # to them is finer than a tick at either end over the
                # flow's span (9.6 Hz over 0.208 s, where run 5 of
                # 2026-12-06 measured 993 beside the server), nor than 5 Hz.
                bound = max(5.0, 2.0 / span)
                assert abs(r["tcpTimestampFrequency"] - 1000) <= bound, where
            elif not client["opt_timestamps"]:
                assert pd.isna(r["tcpTimestampFrequency"]), where
        snd = row(scenario, "snd", conn)
        if conn["client_to_server_bytes"] > 100 * client["snd_mss"]:
            # A bulk sender fills its segments: the kernel's send MSS.
            assert snd["observedTcpMss"] == client["snd_mss"], scenario
        # The server's window as the client last saw it was scaled (a raw
        # window field is at most 65535).
        assert snd["reverseMaxTcpRwin"] >= client["snd_wnd"], scenario


@needs_tshark
@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if "reorder" in s])
def test_reordered_segments_are_the_delayed_ones_overtaken(scenario: str) -> None:
    """A segment the shaper delayed is reordered at the receiver when a
    later segment of its connection passed it: tshark lists the receiver's
    arrivals, the shaper's log which were delayed."""
    for conn in connections(scenario):
        ft = conn["five_tuple"]
        # Data segments (a FIN the shaper delayed carries none).
        delayed = [
            e for e in events(scenario, conn, CLIENT_QUEUE, ("reorder_delay",)) if e["payload"] > 0
        ]
        base = delayed[0]["seq"]
        segs = segments(scenario, "rcv", ft["sport"], ft["dport"], base)
        starts = {(e["seq"] - base + 2**31) % 2**32 - 2**31 for e in delayed}
        overtaken = 0
        for s in starts:
            # The delayed segment's first arrival (a spurious
            # retransmission of it may come again later).
            first = next(i for i, (a, _) in enumerate(segs) if a == s)
            if any(a > s for a, _ in segs[:first]):
                overtaken += 1
        r = row(scenario, "rcv", conn)
        assert overtaken > 0
        assert r["tcpReorderedSegmentCount"] == overtaken, scenario
        # Reordering is not loss.
        assert r["tcpRepairedSegmentCount"] == 0 and r["tcpUpstreamLossOctetCount"] == 0


def installed(kind: str) -> list[str]:
    """Scenarios whose set has a capture of `kind` (e.g. ``mid_s96``)."""
    out = []
    for d in SETS:
        for s in json.loads((ROOT / d / "index.json").read_text())["scenarios"]:
            if kind in s.get("installed", {}):
                out.append(f"{d}/{s['scenario']}")
    return out


def unqueued(scenario: str) -> bool:
    """No rate limit: nothing adds queueing to the configured delays."""
    shaping = truth(scenario)["shaping"]
    return not any(shaping[d].get("rate_mbit") for d in ("client_to_server", "server_to_client"))


@pytest.mark.parametrize("scenario", [s for s in installed("mid_s96") if unqueued(s)])
def test_in_the_middle_each_half_is_its_one_way_delay(scenario: str) -> None:
    """The shaper's own capture takes each packet before its direction's
    delay: the half toward the server is the configured client-to-server
    delay, the half toward the client the server-to-client one. A direction
    that sent no data has its handshake half as its only sequence sample:
    where the run's truth has the harness's own handshake halves at this
    capture (its reader, not ferrofix), that half may be as late as the
    emulation made the handshake, and no later."""
    t = truth(scenario)
    c2s = t["shaping"]["client_to_server"]["delay_ms"] * 1000
    s2c = t["shaping"]["server_to_client"]["delay_ms"] * 1000
    halves = t.get("timing_check", {}).get("mid_handshake_halves_ms", {})

    def as_late_as_the_handshake(got: float, direction: str, sent: int) -> bool:
        ms = halves.get(direction)
        return sent == 0 and ms is not None and got <= ms * 1000 + 1

    for conn in connections(scenario):
        r = row(scenario, "mid", conn)
        # The wire adds a little (veths, forwarding): the halves are never
        # below the delay, and within the bound above it.
        for got, want, direction, sent in [
            (r["minTcpRttMicroseconds"], c2s, "client_to_server", conn["client_to_server_bytes"]),
            (
                r["reverseMinTcpRttMicroseconds"],
                s2c,
                "server_to_client",
                conn["server_to_client_bytes"],
            ),
        ]:
            assert want <= got, f"{scenario}: {got} us for {want} us"
            assert within(got, want) or as_late_as_the_handshake(got, direction, sent), (
                f"{scenario}: {got} us for {want} us (handshake half {halves.get(direction)} ms)"
            )
        # The round trip is their sum, within the same bound.
        both = r["minTcpRttMilliseconds"] * 1000
        assert abs(both - (c2s + s2c)) <= max(1000, 0.03 * (c2s + s2c))
        # Nothing is impaired before this point: no gap, no CE mark.
        assert r["tcpUpstreamLossOctetCount"] == 0 and r["reverseTcpUpstreamLossOctetCount"] == 0
        assert r["ceMarkCount"] == 0 and r["reverseCeMarkCount"] == 0


@pytest.mark.parametrize("scenario", installed("snd_full"))
def test_a_header_only_capture_gives_the_full_captures_metrics(scenario: str) -> None:
    """The same packets captured whole and at snaplen 96 (two tcpdumps at
    once, so their timestamps differ by microseconds): every count of the
    TCP connections is the same, every time within 50 us (milliseconds and
    the peers' clock frequencies within 1). (Only the TCP
    connections: a stray ICMPv6 report sent as the interfaces come up may
    fall before one tcpdump started and after the other.)"""
    full = ff.meter(ROOT / f"{scenario}.snd.full.pcap.zst", where={"protocol": 6})
    cut = ff.meter(ROOT / f"{scenario}.snd.s96.pcap.zst", where={"protocol": 6})
    key = ["sourceTransportPort", "destinationTransportPort", "protocolIdentifier"]
    full = full.sort_values(key).reset_index(drop=True)
    cut = cut.sort_values(key).reset_index(drop=True)
    assert list(full.columns) == list(cut.columns) and len(full) == len(cut)
    tcp_fields = [c for c in full.columns if "Tcp" in c or c.startswith("tcp")]
    assert len(tcp_fields) > 60
    for c in full.columns:
        if c.startswith("flowStart") or c.startswith("flowEnd") or c == "flowId":
            continue
        a, b = full[c], cut[c]
        if c.endswith("TcpRttHistogram") or c == "tcpRttHistogram":
            # The same samples, each within microseconds: a sample near a
            # bin edge may cross it, to the next bin at most.
            for x, y in zip(a, b, strict=True):
                # (a null list is pandas' NA, which has no length)
                assert hasattr(x, "__len__") == hasattr(y, "__len__"), c
                if not hasattr(x, "__len__"):
                    continue
                assert sum(x) == sum(y), c
                moved = sum(k * n for k, n in enumerate(x)) - sum(k * n for k, n in enumerate(y))
                assert abs(moved) <= sum(x), c
            continue
        # A clock's frequency is estimated from the capture's times (whole
        # hertz): microseconds apart, the two may round apart by one, in
        # either direction of the connection.
        frequency = c in ("tcpTimestampFrequency", "reverseTcpTimestampFrequency")
        if "Microseconds" in c or "Milliseconds" in c or frequency:
            diff = (a.astype("float64") - b.astype("float64")).abs()
            limit = 1 if "Milliseconds" in c or frequency else 50
            assert (diff.fillna(0) <= limit).all() and (a.isna() == b.isna()).all(), c
        else:
            assert a.equals(b), c


def bin_of(us: float) -> int:
    """The histogram bin of a sample (docs/tcp-metrics.md): below 10 us,
    then quarter decades 10^(1 + k/4) us up to 1 s, then 1 s and more."""
    edges = [10 ** (1 + k / 4) for k in range(21)]
    return sum(1 for e in edges if e <= us)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rtt_histogram_holds_every_sample_and_the_kernels_minimum(scenario: str) -> None:
    for conn in connections(scenario):
        r = row(scenario, "snd", conn)
        hist = list(r["tcpRttHistogram"])
        assert len(hist) == 22 and sum(hist) == r["tcpRttSampleTotalCount"]
        rev = list(r["reverseTcpRttHistogram"])
        assert sum(rev) == r["reverseTcpRttSampleTotalCount"]
        # The lowest bin used beside the client is the one of the client
        # kernel's minimum RTT, unless that is within the RTT bound of an
        # edge.
        kernel = conn["client"]["tcp_info"]["min_rtt"]
        near = {bin_of(kernel - max(200, 0.03 * kernel)), bin_of(kernel + max(200, 0.03 * kernel))}
        lowest = next(i for i, n in enumerate(hist) if n)
        assert lowest in near, f"{scenario}: bin {lowest}, kernel {kernel} us in {near}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_initial_window_and_syn_flags_are_the_kernels(scenario: str) -> None:
    t = truth(scenario)
    for conn in connections(scenario):
        r = row(scenario, "snd", conn)
        client = conn["client"]["tcp_info"]
        if conn["server_to_client_bytes"] == 0:
            # A bulk sender's first flight is Linux's initial congestion
            # window, 10 segments (TCP_INIT_CWND; RFC 6928) of its MSS.
            assert r["tcpInitialWindowOctets"] == 10 * client["snd_mss"], scenario
        # The SYN asks for ECN (ECE and CWR) when the client's tcp_ecn
        # sysctl says so; the SYN/ACK agrees (ECE) when ECN was set up.
        want_syn = 0x02 | (0xC0 if t["ecn"] == 1 else 0)
        want_synack = 0x12 | (0x40 if client["opt_ecn"] else 0)
        assert (r["lastSynTcpFlags"], r["reverseLastSynTcpFlags"]) == (want_syn, want_synack)
        # Beside the sender its segments leave as stamped: their spacing
        # at the capture is the sender's, within the 1 ms stamp.
        if not pd.isna(r["minTcpChirpMilliseconds"]):
            assert -2 <= r["minTcpChirpMilliseconds"] <= r["maxTcpChirpMilliseconds"] <= 2
        assert r["minTcpIOTMilliseconds"] <= r["maxTcpIOTMilliseconds"]
