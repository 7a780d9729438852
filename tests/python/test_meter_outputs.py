"""What the meter hands to Python, the ways out agreeing: statistics read by
an Arrow consumer, list columns read back from the meter's IPFIX, columns
asked for by name, arguments from numpy, inputs named in errors, and fields
the capture cannot know left null. Expected values come from tshark's
counts (tests/data/meter-oracle), RFC 3168 for ECN, or the inputs as built."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import craft
import meter_oracle as mo
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import ferrofix as ff

NAME = "nfstream__1kxun.pcap"  # 146 records: TCP (with RTT samples) and UDP


# A copy in the repository (tests/data/pcap).
CAP = mo.capture_path(NAME) or Path(NAME)


def _expected_counts() -> tuple[int, int]:
    totals = mo.capture_totals(NAME)
    return totals["frames"], totals["ip_packets"]


CONSUMERS = {
    "pyarrow.table": lambda m: pa.table(m).num_rows,
    "RecordBatchReader": lambda m: pa.RecordBatchReader.from_stream(m).read_all().num_rows,
    "polars": lambda m: __import__("polars").DataFrame(m).height,
    "duckdb": lambda m: __import__("duckdb").sql("select count(*) from m").fetchall()[0][0],
}


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_stats_follow_an_arrow_consumers_reading(consumer: str) -> None:
    """The README reads a Meter with polars; its counters then are those of
    the whole capture (tshark's frame and IP packet counts), not zeros."""
    pytest.importorskip(consumer.split(".")[0] if consumer != "RecordBatchReader" else "pyarrow")
    m = ff.Meter(CAP)
    rows = CONSUMERS[consumer](m)
    frames, ip_packets = _expected_counts()
    s = m.stats
    assert (s["packets"], s["metered"]) == (frames, ip_packets)
    assert s["records"] == rows
    assert s["bytes_read"] == CAP.stat().st_size


def test_stats_after_part_of_a_stream_count_what_was_read() -> None:
    m = ff.Meter(CAP, batch_size=50)
    reader = pa.RecordBatchReader.from_stream(m)
    first = reader.read_next_batch()
    # The meter has metered at least what the first batch holds.
    assert m.stats["records"] >= first.num_rows > 0
    assert m.stats["packets"] > 0
    rest = reader.read_all().num_rows
    assert m.stats["records"] == first.num_rows + rest
    assert m.stats["packets"] == _expected_counts()[0]


def _udp_only(tmp_path: Path) -> Path:
    """A capture of one UDP exchange: no TCP connection, so no RTT sample."""
    frames = [
        (1.0, craft.ether(craft.ipv4("10.0.0.1", "10.0.0.2", 17, craft.udp(5000, 53, b"q")))),
        (1.1, craft.ether(craft.ipv4("10.0.0.2", "10.0.0.1", 17, craft.udp(53, 5000, b"a")))),
    ]
    return craft.write_pcap(tmp_path / "udp.pcap", frames)


def test_histogram_columns_read_back_alike_with_or_without_samples(tmp_path: Path) -> None:
    """docs/meter.md: reading the meter's IPFIX back gives the same frame;
    a file whose flows have no RTT sample types the histogram column as
    the meter does (its elements tcpRttBinCount), so files concatenate."""
    u = tmp_path / "u.ipfix"
    s = tmp_path / "s.ipfix"
    ff.Meter(_udp_only(tmp_path)).write_ipfix(u)
    ff.Meter(CAP).write_ipfix(s)
    want = pa.table(ff.Meter(CAP)).schema.field("tcpRttHistogram").type
    assert pa.types.is_list(want) and want.value_type == pa.uint32()

    def read_type(files: object) -> pa.DataType:
        col = ff.read_ipfix(files, dtype_backend="pyarrow")["tcpRttHistogram"]
        return col.dtype.pyarrow_dtype

    for path in (u, s):
        assert read_type(path) == want, path.name
    for files in ([u, s], [s, u]):
        assert read_type(files) == want
        ff.write_dataset(files, tmp_path / f"ds-{files[0].stem}")
    back = pd.read_parquet(tmp_path / "ds-u")
    assert len(back) == len(ff.read_ipfix([u, s]))


def test_columns_the_meter_never_writes_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"reverseOctetDeltaCount.*biflow=False"):
        ff.meter(CAP, biflow=False, columns=["flowId", "reverseOctetDeltaCount"])
    with pytest.raises(ValueError, match="tcpRetransmitCount"):
        ff.meter(CAP, tcp_metrics=False, columns=["flowId", "tcpRetransmitCount"])
    with pytest.raises(ValueError, match="bgpSourceAsNumber"):
        ff.meter(CAP, columns=["flowId", "bgpSourceAsNumber"])
    with pytest.raises(ValueError, match="flowId is asked for twice"):
        ff.meter(CAP, columns=["flowId", "flowId"])
    df = ff.meter(CAP, columns=["packetDeltaCount", "flowId"])
    assert list(df.columns) == ["packetDeltaCount", "flowId"]


def test_numpy_integers_are_taken_where_python_ints_are() -> None:
    want = ff.meter(CAP, where={"port": 443, "protocol": [6]})
    got = ff.meter(
        CAP,
        where={"port": np.int64(443), "protocol": np.array([6])},
        workers=np.int64(2),
        batch_size=np.int32(100),
    )
    assert len(got) == len(want) > 0
    assert sorted(got.packetDeltaCount) == sorted(want.packetDeltaCount)
    with pytest.raises(TypeError, match="where is a dict"):
        ff.meter(CAP, where="protocol == 6")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"where\['start'\] is a \(from, to\) pair"):
        ff.meter(CAP, where={"start": "2015-05-18"})
    with pytest.raises(TypeError, match="workers is a whole number"):
        ff.meter(CAP, workers=2.0)  # type: ignore[arg-type]


def test_network_of_integer_addresses_under_the_numpy_backend() -> None:
    as_int = ff.meter(CAP, addresses="int", dtype_backend="numpy")
    as_text = ff.meter(CAP)
    got = as_int.flows.network("source", ipv4=24)
    want = as_text.flows.network("source", ipv4=24)
    assert list(got.astype(str)) == list(want.astype(str))


def test_a_file_objects_name_is_in_its_error(tmp_path: Path) -> None:
    good = CAP.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(good[: len(good) // 2 + 7])
    with open(CAP, "rb") as a, open(cut, "rb") as b:
        with pytest.raises(ff.DecodeError, match=r"cut\.pcap"):
            ff.meter([a, b])


SYN, ACK, ECE, CWR = 0x02, 0x10, 0x40, 0x80


def _connection(sport: int, syn_flags: int, synack_flags: int, *, handshake: bool) -> list[bytes]:
    a, b = "10.0.0.1", "10.0.0.2"
    seg = []
    if handshake:
        seg += [
            craft.ipv4(a, b, 6, craft.tcp(sport, 80, syn_flags, seq=100, ack=0)),
            craft.ipv4(b, a, 6, craft.tcp(80, sport, synack_flags, seq=500, ack=101)),
        ]
    seg += [
        craft.ipv4(a, b, 6, craft.tcp(sport, 80, ACK, seq=101, ack=501, data=b"x" * 10)),
        craft.ipv4(b, a, 6, craft.tcp(80, sport, ACK, seq=501, ack=111)),
    ]
    return [craft.ether(s) for s in seg]


def test_ecn_negotiation_is_known_only_from_a_whole_handshake(tmp_path: Path) -> None:
    """RFC 3168 §6.1.1: an ECN-setup SYN (ECE, CWR) answered by an
    ECN-setup SYN/ACK (ECE without CWR) sets ECN up; a connection seen from
    its middle shows neither, and its tcpEcnNegotiated is unknown."""
    frames = []
    t = 1.0
    for sport, syn, synack, hs in (
        (40001, SYN | ECE | CWR, SYN | ACK | ECE, True),  # negotiated
        (40002, SYN | ECE | CWR, SYN | ACK, True),  # refused
        (40003, SYN, SYN | ACK, True),  # not asked for
        (40004, 0, 0, False),  # no handshake in the capture
    ):
        for f in _connection(sport, syn, synack, handshake=hs):
            frames.append((t, f))
            t += 0.001
    path = craft.write_pcap(tmp_path / "ecn.pcap", frames)
    df = ff.meter(path).set_index("sourceTransportPort")
    got = df["tcpEcnNegotiated"]
    assert got[40001] == True  # noqa: E712 (a nullable boolean)
    assert got[40002] == False  # noqa: E712
    assert got[40003] == False  # noqa: E712
    assert pd.isna(got[40004])


def _port_443(df: pd.DataFrame) -> pd.DataFrame:
    """where={"port": 443} by its written definition (_filter.py): the
    source or the destination port."""
    return df[(df.sourceTransportPort == 443) | (df.destinationTransportPort == 443)]


def test_write_ipfix_keeps_the_records_where_keeps(tmp_path: Path) -> None:
    everything = ff.read_ipfix(ff.Meter(CAP).write_ipfix())
    want = _port_443(everything)
    assert 0 < len(want) < len(everything)
    out = tmp_path / "443.ipfix"
    m = ff.Meter(CAP, where={"port": 443})
    m.write_ipfix(out)
    got = ff.read_ipfix(out)
    assert sorted(got.flowId) == sorted(want.flowId)
    # The statistics still count every record.
    assert m.stats["records"] == len(everything)
    with pytest.raises(ValueError, match="columns="):
        ff.Meter(CAP, columns=["flowId"]).write_ipfix(tmp_path / "x.ipfix")


def _template_ids(datagrams: list[bytes]) -> list[int]:
    """Every template record's id in the messages (one a datagram), in
    order: the records of the template sets (set id 2; RFC 7011 §3.4.1: id,
    field count, then 4 octets a field, 8 with an enterprise number)."""
    ids = []
    for d in datagrams:
        at = 16
        while at + 4 <= len(d):
            set_id = int.from_bytes(d[at : at + 2], "big")
            end = at + int.from_bytes(d[at + 2 : at + 4], "big")
            r = at + 4
            while set_id == 2 and r + 4 <= end:
                ids.append(int.from_bytes(d[r : r + 2], "big"))
                count = int.from_bytes(d[r + 2 : r + 4], "big")
                r += 4
                for _ in range(count):
                    enterprise = d[r] & 0x80
                    r += 8 if enterprise else 4
            at = end
    return ids


def _udp_export(**options: object) -> list[bytes]:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        rx.settimeout(2)
        url = f"udp://127.0.0.1:{rx.getsockname()[1]}"
        ff.Meter(CAP).write_ipfix(export=url, **options)  # type: ignore[arg-type]
        datagrams = []
        try:
            while True:
                datagrams.append(rx.recv(65535))
        except TimeoutError:
            pass
    return datagrams


def test_udp_template_refresh_is_configurable() -> None:
    """RFC 7011 §8.4: the refresh MUST be configurable. Turned off (0 and
    0), each template is sent once; every 20 messages, the templates of
    the start are sent again (the timeout rule has its Rust test)."""
    rows = len(ff.meter(CAP))
    off = _udp_export(template_refresh=0, template_refresh_timeout=0)
    ids = _template_ids(off)
    assert len(ids) == len(set(ids)) > 0
    assert len(ff.read_ipfix(b"".join(off))) == rows
    often = _udp_export(template_refresh=20, template_refresh_timeout=0)
    again = _template_ids(often)
    # Sent again, and at most once every 20 messages (the refreshes' own
    # messages count among the 20).
    assert 2 < again.count(ids[0]) <= len(often) // 20 + 1
    assert len(ff.read_ipfix(b"".join(often))) == rows
    with pytest.raises(ValueError, match="template_refresh_timeout"):
        _udp_export(template_refresh_timeout=-1)


def test_the_command_lines_template_refresh_goes_with_export() -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "ferrofix", "meter", str(CAP), "--template-refresh", "60"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "--template-refresh goes with --export" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_live_export_sends_a_record_when_its_connection_ends(tmp_path: Path) -> None:
    """docs/meter.md, "IPFIX out": to a collector, a record leaves once the
    packet that ends it is metered, while the input (a pipe) is still open
    (it waited for 4,096 packets or the input's end)."""
    # A connection closed by FINs both acknowledged (RFC 9293 §3.6).
    a, b, fin = "10.0.0.1", "10.0.0.2", 0x01
    segs = [
        craft.ipv4(a, b, 6, craft.tcp(40000, 80, SYN, seq=100, ack=0)),
        craft.ipv4(b, a, 6, craft.tcp(80, 40000, SYN | ACK, seq=500, ack=101)),
        craft.ipv4(a, b, 6, craft.tcp(40000, 80, ACK | fin, seq=101, ack=501)),
        craft.ipv4(b, a, 6, craft.tcp(80, 40000, ACK | fin, seq=501, ack=102)),
        craft.ipv4(a, b, 6, craft.tcp(40000, 80, ACK, seq=102, ack=502)),
    ]
    frames = [(1.0 + i / 1000, craft.ether(s)) for i, s in enumerate(segs)]
    data = craft.write_pcap(tmp_path / "closed.pcap", frames).read_bytes()
    r, w = os.pipe()
    os.write(w, data)  # the capture so far; the pipe stays open
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(20)
        reader = os.fdopen(r, "rb")
        m = ff.Meter(reader)
        done = threading.Event()

        def run() -> None:
            try:
                m.write_ipfix(export=f"udp://127.0.0.1:{rx.getsockname()[1]}")
            finally:
                done.set()

        t = threading.Thread(target=run, daemon=True)
        t.start()
        try:
            got = b""
            df = pd.DataFrame()
            while df.empty:  # the templates' messages first, then the record's
                got += rx.recv(65535)
                df = ff.read_ipfix(got)
            assert not done.is_set()  # the input is still open
            assert list(df.flowEndReason) == [3]
            assert list(df.sourceTransportPort) == [40000]
        finally:
            os.close(w)
            t.join(30)
            reader.close()
    assert done.is_set()


def test_message_sizes_out_of_reach_are_refused_naming_what() -> None:
    # RFC 768 over IPv4: 65,535 - 20 - 8 octets of payload at most.
    with pytest.raises(ValueError, match="65507"):
        ff.Meter(CAP).write_ipfix(export="udp://127.0.0.1:9", mtu=65535)
    # The meter's TCP template alone is larger than 500 octets.
    with pytest.raises(ff.EncodeError, match="a template record of"):
        ff.Meter(CAP).write_ipfix(mtu=500)


def _closed_udp_port() -> int:
    """A UDP port of this host that nothing listens on (bound, then let go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _datagrams_received(export: Callable[[str], object]) -> int:
    """The datagrams a socket receives while ``export(url)`` sends to it,
    taken as they come (a host's receive buffer may hold few), into as
    large a buffer as the host allows: a datagram that finds it full is
    dropped, and a slow host's reading thread may fall behind (a clean
    run of 2026-12-07 received 249 of at least 254 sent)."""
    got = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        # Linux caps this at net.core.rmem_max (and doubles it).
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(0.5)
        done = threading.Event()

        def receive() -> None:
            nonlocal got
            while True:
                try:
                    rx.recv(65535)
                    got += 1
                except TimeoutError:
                    if done.is_set():
                        return

        t = threading.Thread(target=receive)
        t.start()
        try:
            export(f"udp://127.0.0.1:{rx.getsockname()[1]}")
        finally:
            done.set()
            t.join(10)
    return got


def test_udp_export_to_a_port_nobody_listens_on_warns_of_the_messages_lost() -> None:
    """The host refuses each datagram (ICMP port unreachable, which Linux
    reports at the socket's next send, and the last when asked at the
    end): the export goes on to the end and then warns how many messages
    were lost, as a collector restarted or a route gone for a while must
    not end a live export, nor lose records unsaid. The same export to a
    socket that listens counts the messages sent."""
    options = {"mtu": 256, "stats": False}  # small messages: many datagrams
    sent = _datagrams_received(
        lambda url: ff.Meter(CAP, tcp_metrics=False).write_ipfix(export=url, **options)
    )
    assert sent > 20
    url = f"udp://127.0.0.1:{_closed_udp_port()}"
    with pytest.warns(ff.FerrofixWarning, match=r"export to udp://.*: \d+ messages lost") as w:
        assert ff.Meter(CAP, tcp_metrics=False).write_ipfix(export=url, **options) is None
    lost = int(str(w[0].message).split(": ")[1].split()[0])
    # Every one refused; each refusal reported, unless ICMP's rate limit
    # (not on loopback here) merged some.
    assert sent // 2 < lost <= sent


def test_an_export_stopped_part_way_still_says_the_messages_lost() -> None:
    """Ctrl-C (here the progress callback's KeyboardInterrupt) is how a
    live export usually ends: the messages lost so far are warned of
    before the interruption goes on up."""
    url = f"udp://127.0.0.1:{_closed_udp_port()}"
    calls = 0

    def progress(_: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 20:
            raise KeyboardInterrupt

    with (
        pytest.warns(ff.FerrofixWarning, match=r"export to udp://.*: \d+ messages? lost"),
        pytest.raises(KeyboardInterrupt),
    ):
        ff.Meter(CAP, tcp_metrics=False).write_ipfix(export=url, mtu=256, progress=progress)
    assert calls == 20


def test_a_zstd_file_of_a_run_that_fails_holds_what_a_plain_one_does(tmp_path: Path) -> None:
    """A capture failing part way (on_bad_records="error") raises after
    the flows before the failure and the statistics are written: a .zst
    output (compressed a frame at a time) holds them too, as the same
    run's plain file does, read back with the zstandard package."""
    import zstandard

    good = CAP.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(good[: len(good) // 2 + 7])
    plain, packed = tmp_path / "flows.ipfix", tmp_path / "flows.ipfix.zst"
    for out in (plain, packed):
        with pytest.raises(ff.DecodeError, match="cut short"):
            ff.Meter(cut).write_ipfix(out)
    assert plain.stat().st_size > 0
    with open(packed, "rb") as f:
        assert zstandard.ZstdDecompressor().stream_reader(f).read() == plain.read_bytes()
