"""IPFIX over TCP and fragmented UDP export datagrams inside captures.

The captures (tests/data/pcap/ferrofix__*, made by
scripts/make_export_captures.py with the kernel's own TCP/IP stack, see
tests/data/SOURCES.md) carry the 68 messages of a real exporter's file
(ipfixcol2's example_flows.ipfix, 3979 records): over TCP three times, as
three connections cut into segments in different ways, and over UDP, every
message one datagram, from IPv4 and IPv6, 134 of them in IP fragments.
The expected records are the file's own, read from the file; tshark's
reassembly (live, skipped where it is not installed) is the oracle of the
messages and records each stream holds. Damaged copies of the captures
(segments reordered, sent twice or lost; fragments reordered or lost; a
capture started mid-connection) are made here by rewriting the packets,
and what they must give is worked out from the file's message boundaries
and the TCP sequence numbers.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import ferrofix as ff

TESTS = Path(__file__).resolve().parents[1]
PCAPS = TESTS / "data" / "pcap"
TCP_CAP = PCAPS / "ferrofix__ipfix-over-tcp.pcapng"
UDP_CAP = PCAPS / "ferrofix__ipfix-udp-fragments.pcap"
SOURCE = TESTS / "data" / "ipfix" / "ipfixcol2__example_flows.ipfix"

Records = list[list[tuple[int, int, Any]]]


def file_records() -> Records:
    return list(ff.iter_records(SOURCE, as_="fields", records="data"))


def file_messages() -> list[tuple[int, int]]:
    """(offset, length) of each message of the source file."""
    data, out, at = SOURCE.read_bytes(), [], 0
    while at < len(data):
        n = struct.unpack_from("!H", data, at + 2)[0]
        out.append((at, n))
        at += n
    return out


def by_exporter(source: Any, **kw: Any) -> tuple[dict[tuple[str, int], Records], ff.Reader]:
    r = ff.Reader(source, **kw)
    out: dict[tuple[str, int], Records] = {}
    for meta, rec in r.records(meta=True, as_="fields", records="data"):
        assert meta.exporter is not None
        out.setdefault(meta.exporter, []).append(rec)
    return out, r


def accounted(c: dict[str, int]) -> bool:
    """Every packet counted once."""
    parts = c["datagrams"] + c["fragments"] + c["tcp_segments"] + c["other_packets"]
    return parts == c["packets"]


# --------------------------------------------------------------------------
# classic pcap rewriting


def read_pcap(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    assert data[:4] == b"\xd4\xc3\xb2\xa1", "little-endian microsecond pcap expected"
    out, at = [], 24
    while at < len(data):
        n = struct.unpack_from("<I", data, at + 8)[0]
        out.append((data[at : at + 16], data[at + 16 : at + 16 + n]))
        at += 16 + n
    return data[:24], out


def write_pcap(head: bytes, packets: list[tuple[bytes, bytes]]) -> bytes:
    return head + b"".join(h + p for h, p in packets)


def as_pcap(path: Path, tmp: Path) -> bytes:
    if shutil.which("editcap") is None:
        pytest.skip("editcap (Wireshark) is not installed")
    out = tmp / (path.stem + ".pcap")
    subprocess.run(["editcap", "-F", "pcap", str(path), str(out)], check=True)
    return out.read_bytes()


def ip_of(frame: bytes) -> tuple[int, bytes, bytes] | None:
    """(IP version, network header, payload) of an Ethernet frame."""
    kind = struct.unpack_from("!H", frame, 12)[0]
    ip = frame[14:]
    if kind == 0x0800:
        ihl = (ip[0] & 15) * 4
        return 4, ip[:ihl], ip[ihl:]
    if kind == 0x86DD:
        return 6, ip[:40], ip[40:]
    return None


def tcp_of(frame: bytes) -> tuple[int, int, int, int, int] | None:
    """(source port, destination port, sequence number, flags, payload
    length) of an Ethernet/IP/TCP frame."""
    got = ip_of(frame)
    if got is None:
        return None
    version, head, rest = got
    if (head[9] if version == 4 else head[6]) != 6:
        return None
    sport, dport, seq = struct.unpack_from("!HHI", rest)
    off = (rest[12] >> 4) * 4
    return sport, dport, seq, rest[13], len(rest) - off


# --------------------------------------------------------------------------
# TCP


def test_ipfix_over_tcp_reads_each_connection_as_the_file() -> None:
    want = file_records()
    got, r = by_exporter(TCP_CAP)
    assert len(got) == 3
    for exporter, recs in got.items():
        assert recs == want, exporter
    h = r.health
    assert h.capture is not None and accounted(h.capture)
    assert h.capture["tcp_streams"] == 3
    assert (h.capture["tcp_gaps"], h.capture["tcp_bytes_skipped"]) == (0, 0)
    assert h.capture["datagrams"] == 0
    assert h.messages == 3 * len(file_messages())
    assert h.sets_missing_template == 0
    # Each connection is its own session: its sequence accounting is the
    # file's (whose exporter numbered one message out of order).
    alone = ff.Reader(SOURCE)
    list(alone)
    assert list(alone.health.sequence) == [6]
    assert list(h.sequence.values()) == [alone.health.sequence[6]] * 3
    # The DataFrame names each connection's exporter.
    df = ff.read_ipfix(TCP_CAP, columns=["octetDeltaCount", "exporterTransportPort"])
    ports = Counter(int(p) for p in df["exporterTransportPort"])
    assert sorted(ports.values()) == [len(want)] * 3
    assert set(ports) == {p for _a, p in got}


def tshark_streams(path: Path, port: int) -> dict[tuple[str, int], tuple[int, int]]:
    """Per exporter, (messages, data records) of tshark's cflow dissection."""
    cmd = ["tshark", "-r", str(path), "-n", "-T", "json", "-J", "ip ipv6 tcp udp cflow"]
    cmd += ["-d", f"tcp.port=={port},cflow", "-d", f"udp.port=={port},cflow", "-Y", "cflow"]
    cmd += ["-o", "tcp.reassemble_out_of_order:TRUE"]
    proc = subprocess.run(cmd, capture_output=True, check=True)
    pairs = json.loads(proc.stdout, object_pairs_hook=lambda kv: kv)
    out: dict[tuple[str, int], list[int]] = {}

    def flows(node: list[tuple[str, Any]]) -> int:
        n = 0
        for k, v in node:
            if isinstance(v, list):
                n += 1 if k.startswith("Flow ") else flows(v)
        return n

    for pkt in pairs:
        layers = dict(dict(pkt)["_source"])["layers"]
        lay = dict(layers)
        ip = dict(lay.get("ip") or lay.get("ipv6"))
        src = ip.get("ip.src") or ip.get("ipv6.src")
        transport = dict(lay.get("tcp") or lay.get("udp"))
        sport = int(transport.get("tcp.srcport") or transport["udp.srcport"])
        # A frame completing several messages has several cflow layers.
        for k, v in layers:
            if k == "cflow":
                o = out.setdefault((src, sport), [0, 0])
                o[0] += 1
                o[1] += flows(v)
    return {k: (m, n) for k, (m, n) in out.items()}


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("path", [TCP_CAP, UDP_CAP], ids=["tcp", "udp-fragments"])
def test_messages_and_records_as_tshark_reassembles_them(path: Path) -> None:
    got, r = by_exporter(path)
    theirs = tshark_streams(path, 4739)
    ours = {e: (0, len(recs)) for e, recs in got.items()}
    messages: Counter[str] = Counter()
    for (exporter, _odid), s in r.health.sequence.items():
        messages[exporter] += s.messages
    name = {e: (f"[{e[0]}]:{e[1]}" if ":" in e[0] else f"{e[0]}:{e[1]}") for e in theirs}
    assert set(theirs) == set(ours)
    for e, (m, n) in theirs.items():
        assert (messages[name[e]], ours[e][1]) == (m, n), e


def test_tcp_segments_reordered_and_sent_twice_change_nothing(tmp_path: Path) -> None:
    """The first connection's data segments: each pair swapped, every
    fifth sent again after the pair."""
    head, pkts = read_pcap(as_pcap(TCP_CAP, tmp_path))
    data_idx = [
        i for i, (_h, p) in enumerate(pkts) if (t := tcp_of(p)) and t[1] == 4739 and t[4] > 0
    ]
    first = tcp_of(pkts[data_idx[0]][1])
    assert first is not None
    conn = [i for i in data_idx if (t := tcp_of(pkts[i][1])) and t[0] == first[0]]
    out = list(pkts)
    for a, b in zip(conn[0::2], conn[1::2], strict=False):
        out[a], out[b] = pkts[b], pkts[a]
    again = {b: pkts[a] for a, b in zip(conn[::5], conn[1::5], strict=False)}
    rewritten: list[tuple[bytes, bytes]] = []
    for i, p in enumerate(out):
        rewritten.append(p)
        if i in again:
            rewritten.append(again[i])
    got, r = by_exporter(write_pcap(head, rewritten))
    want = file_records()
    assert [len(v) for v in got.values()] == [len(want)] * 3
    assert all(v == want for v in got.values())
    c = r.health.capture
    assert c is not None and accounted(c)
    assert c["tcp_retransmitted"] >= len(again)
    assert (c["tcp_gaps"], c["tcp_bytes_skipped"]) == (0, 0)


def test_a_lost_tcp_segment_loses_only_the_messages_it_cuts(tmp_path: Path) -> None:
    """A data segment of the first connection left out of the capture: the
    messages overlapping its bytes are lost, every other message is read
    (the stream is searched for the next message header after the hole).
    The segment chosen cuts only messages without templates, so the rest
    still decodes."""
    head, pkts = read_pcap(as_pcap(TCP_CAP, tmp_path))
    syn = next(
        (i, t) for i, (_h, p) in enumerate(pkts) if (t := tcp_of(p)) and t[1] == 4739 and t[3] & 2
    )
    isn, port = syn[1][2], syn[1][0]
    segs = [
        (i, t)
        for i, (_h, p) in enumerate(pkts)
        if (t := tcp_of(p)) and t[0] == port and t[1] == 4739 and t[4] > 0
    ]
    source = SOURCE.read_bytes()
    msgs = file_messages()

    def has_template(at: int, n: int) -> bool:
        pos = at + 16
        while pos < at + n:
            sid, slen = struct.unpack_from("!HH", source, pos)
            if sid in (2, 3):
                return True
            pos += slen
        return False

    def cut_by(t: tuple[int, int, int, int, int]) -> list[int]:
        """The messages a segment's bytes overlap."""
        lo = (t[2] - isn - 1) % 2**32
        hi = lo + t[4]
        return [k for k, (at, n) in enumerate(msgs) if at < hi and at + n > lo]

    i, cut = next(
        (i, cut_by(t))
        for i, t in segs[len(segs) // 2 :]
        if not any(has_template(*msgs[k]) for k in cut_by(t))
    )
    dropped = pkts[:i] + pkts[i + 1 :]
    got, r = by_exporter(write_pcap(head, dropped))
    meta = list(ff.iter_records(SOURCE, meta=True, as_="fields", records="data"))
    want = [rec for m, rec in meta if m.message_index not in cut]
    exporters = list(got)
    assert got[exporters[0]] == want
    assert all(got[e] == file_records() for e in exporters[1:])
    c = r.health.capture
    assert c is not None and accounted(c)
    assert c["tcp_gaps"] == 1
    assert c["tcp_bytes_skipped"] == sum(msgs[k][1] for k in cut)


def test_a_capture_started_mid_connection(tmp_path: Path) -> None:
    """The capture begins inside the first connection: its first whole
    message after the cut is found; the templates it lost are reported as
    missing, not as an error; the later connections read whole."""
    head, pkts = read_pcap(as_pcap(TCP_CAP, tmp_path))
    got, r = by_exporter(write_pcap(head, pkts[25:]))
    h = r.health
    assert h.sets_missing_template > 0
    exporters = list(got)
    want = file_records()
    assert all(got[e] == want for e in exporters[-2:])
    assert h.capture is not None and h.capture["tcp_streams"] == 3
    assert h.capture["tcp_bytes_skipped"] > 0


def test_other_tcp_traffic_in_real_captures_is_not_taken_for_ipfix() -> None:
    """pmacct's captures carry BGP and BMP sessions over TCP beside their
    IPFIX over UDP: none of it is read as IPFIX."""
    for name in [
        "pmacct__400-IPFIXv10-BMP-CISCO-SRv6-multiple-sources--traffic-00.pcap",
        "pmacct__500-IPFIXv10-BGP-CISCO-SRv6--traffic-00.pcap",
        "pmacct__502-IPFIXv10-BGP-IPv6-CISCO-SRv6-lcomms--traffic-00.pcap",
    ]:
        r = ff.Reader(PCAPS / name, on_bad_records="skip")
        list(r)
        c = r.health.capture
        assert c is not None and accounted(c), name
        assert (c["tcp_streams"], c["tcp_segments"]) == (0, 0), name
        assert r.health.problems_skipped == 0, name


# --------------------------------------------------------------------------
# IP fragments


def test_fragmented_datagrams_are_reassembled() -> None:
    want = file_records()
    got, r = by_exporter(UDP_CAP)
    assert len(got) == 2
    assert all(v == want for v in got.values())
    c = r.health.capture
    assert c is not None and accounted(c)
    # RFC 791/8200 arithmetic on the file's message sizes: a datagram
    # fragments past 1500 - 20 - 8 bytes of IPFIX over IPv4, 1500 - 40 - 8
    # over IPv6.
    sizes = [n for _at, n in file_messages()]
    big = sum(n > 1472 for n in sizes) + sum(n > 1452 for n in sizes)
    assert c["reassembled"] == big
    assert c["datagrams"] == 2 * len(sizes) - big
    assert c["fragments_dropped"] == 0


def fragments(pkts: list[tuple[bytes, bytes]]) -> dict[tuple[int, int], list[int]]:
    """Packet indexes of each fragmented datagram, by (IP version, id)."""
    out: dict[tuple[int, int], list[int]] = {}
    for i, (_h, p) in enumerate(pkts):
        got = ip_of(p)
        if got is None:
            continue
        version, head, rest = got
        if version == 4:
            flags = struct.unpack_from("!H", head, 6)[0]
            if flags & 0x3FFF:
                out.setdefault((4, struct.unpack_from("!H", head, 4)[0]), []).append(i)
        elif head[6] == 44:
            out.setdefault((6, struct.unpack_from("!I", rest, 4)[0]), []).append(i)
    return out


def test_fragments_out_of_order_or_lost(tmp_path: Path) -> None:
    head, pkts = read_pcap(UDP_CAP.read_bytes())
    groups = fragments(pkts)
    assert len(groups) == 134
    # Every datagram's fragments last first.
    out = list(pkts)
    for idx in groups.values():
        for a, b in zip(idx, reversed(idx), strict=True):
            out[a] = pkts[b]
    got, r = by_exporter(write_pcap(head, out))
    assert all(v == file_records() for v in got.values())
    # One fragment of the tenth IPv4 datagram lost: that message is lost.
    (version, _ident), idx = list(groups.items())[9]
    assert version == 4
    lost = idx[1]
    got, r = by_exporter(write_pcap(head, pkts[:lost] + pkts[lost + 1 :]))
    c = r.health.capture
    assert c is not None and c["fragments_dropped"] == len(idx) - 1
    meta = list(ff.iter_records(SOURCE, meta=True, as_="fields", records="data"))
    # The datagram's message is the one whose first fragment it is: count
    # datagrams in capture order (whole ones included) up to it.
    order = sorted([g[0] for g in groups.values()] + whole_datagrams(pkts))
    v4 = [i for i in order if ip_of(pkts[i][1]) and ip_of(pkts[i][1])[0] == 4]  # type: ignore[index]
    k = v4.index(idx[0])
    want = [rec for m, rec in meta if m.message_index != k]
    exporters = list(got)
    v4_exporter = next(e for e in exporters if ":" not in e[0])
    assert got[v4_exporter] == want
    assert c["reassembled"] == 133


def whole_datagrams(pkts: list[tuple[bytes, bytes]]) -> list[int]:
    out = []
    for i, (_h, p) in enumerate(pkts):
        got = ip_of(p)
        if got is None:
            continue
        version, head, _rest = got
        whole = not struct.unpack_from("!H", head, 6)[0] & 0x3FFF if version == 4 else head[6] == 17
        if whole:
            out.append(i)
    return out


def test_export_ports_restrict_what_is_read() -> None:
    """``export_ports``: only datagrams and connections to or from those
    ports are read as flow export, whatever their content."""
    assert list(ff.iter_records(TCP_CAP, export_ports=[8080])) == []
    r = ff.Reader(TCP_CAP, export_ports=[4739])
    assert len(list(r)) == 3 * len(file_records())
    pcaps = [
        PCAPS / f"pmacct__111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources--traffic-0{i}.pcap"
        for i in (0, 1)
    ]
    both = pcaps[0].read_bytes() + pcaps[1].read_bytes()[24:]
    everything = ff.read_ipfix(both)
    # traffic-00 is NetFlow v9 from port 43853, traffic-01 IPFIX from 52925.
    v9 = ff.read_ipfix(both, export_ports=[43853])
    ipfix = ff.read_ipfix(both, export_ports=[52925])
    assert len(v9) == len(ff.read_ipfix(pcaps[0])) > 0
    assert len(ipfix) == len(ff.read_ipfix(pcaps[1])) > 0
    assert len(v9) + len(ipfix) == len(everything)
    assert len(ff.read_ipfix(both, export_ports=[9991])) == len(everything)
    h = ff.Reader(both, export_ports=[43853])
    list(h)
    # Every packet of traffic-01 is other traffic to this reader: its 11
    # packets (`capinfos -c`).
    assert h.health.capture is not None and h.health.capture["other_packets"] == 11
