"""The flow meter's interface and edge cases: inputs of every kind (wrong
extensions, compressed, bytes, file objects, lists), the progress total,
IPFIX written and read back, live export over UDP and TCP, Arrow
consumers, bad inputs and the on_bad_records policy, arguments, cut
transport headers and timestamps that go back. The oracle comparisons of
flows and counts are in ``test_meter.py``."""

from __future__ import annotations

import collections
import io
import itertools
import socket
import struct
import threading
from pathlib import Path
from typing import Any

import craft
import pandas as pd
import pytest
from test_meter import DATA

import ferrofix as ff


def test_wrong_extensions_gzip_bytes_file_objects_and_lists() -> None:
    one = ff.meter(DATA / "nfstream__1kxun.pcap", dtype_backend="numpy")  # pcapng named .pcap
    raw = (DATA / "nfstream__1kxun.pcap").read_bytes()
    as_bytes = ff.meter(raw, dtype_backend="numpy")
    as_file = ff.meter(io.BytesIO(raw), dtype_backend="numpy")
    pd.testing.assert_frame_equal(one, as_bytes)
    pd.testing.assert_frame_equal(one, as_file)
    gz = ff.meter(DATA / "zeek__http--1000-requests-one-dropped-response.pcap.gz")
    assert int(gz.packetDeltaCount.sum() + gz.reversePacketDeltaCount.sum()) == 4102
    # Two captures merged in time order: their flows side by side.
    a, b = DATA / "ipfixprobe__mixed.pcap", DATA / "zeek__http-vlan-0.pcap"
    both = ff.meter([a, b], dtype_backend="numpy")
    assert len(both) == len(ff.meter(a)) + len(ff.meter(b))


def test_total_bytes_for_a_progress_bar() -> None:
    a, b = DATA / "nfstream__iphone.pcap", DATA / "ipfixprobe__mixed.pcap"
    assert ff.Meter(a).total_bytes == a.stat().st_size
    assert ff.Meter([a, b]).total_bytes == a.stat().st_size + b.stat().st_size
    assert ff.Meter(a.read_bytes()).total_bytes == a.stat().st_size
    # Compressed, or a file object: read as a stream, its size unknown.
    assert (
        ff.Meter(DATA / "zeek__http--1000-requests-one-dropped-response.pcap.gz").total_bytes
        is None
    )
    assert ff.Meter(io.BytesIO(a.read_bytes())).total_bytes is None


def test_ipfix_written_and_read_back_is_the_same_table(tmp_path: Path) -> None:
    src = DATA / "nfstream__iphone.pcap"
    direct = ff.meter(src)
    out = tmp_path / "flows.ipfix"
    ff.Meter(src).write_ipfix(out)
    back = ff.read_ipfix(out)
    assert list(back.columns) == list(direct.columns)
    pd.testing.assert_frame_equal(back, direct)
    # The same through a collector's capture of the wire: bytes in memory.
    data = ff.Meter(src).write_ipfix()
    assert data is not None
    pd.testing.assert_frame_equal(ff.read_ipfix(data), direct)


def test_live_export_over_udp_and_tcp() -> None:

    src = DATA / "nfstream__iphone.pcap"

    def by_id(df: pd.DataFrame) -> pd.DataFrame:
        # Rows leave a live export as their records end; a table gathers
        # them template by template (docs/meter.md): the same rows.
        return df.sort_values("flowId", ignore_index=True)

    direct = by_id(ff.meter(src))
    datagrams = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        rx.settimeout(2)
        ff.Meter(src).write_ipfix(export=f"udp://127.0.0.1:{rx.getsockname()[1]}")
        try:
            while True:
                datagrams.append(rx.recv(65535))
        except TimeoutError:
            pass
    assert datagrams and max(len(d) for d in datagrams) <= 1400
    same = {"check_categorical": False}  # categories in order of appearance
    pd.testing.assert_frame_equal(by_id(ff.read_ipfix(b"".join(datagrams))), direct, **same)
    got = bytearray()
    with socket.create_server(("127.0.0.1", 0)) as srv:

        def accept() -> None:
            conn, _ = srv.accept()
            with conn:
                while chunk := conn.recv(65536):
                    got.extend(chunk)

        t = threading.Thread(target=accept)
        t.start()
        ff.Meter(src).write_ipfix(export=f"tcp://127.0.0.1:{srv.getsockname()[1]}")
        t.join(10)
    pd.testing.assert_frame_equal(by_id(ff.read_ipfix(bytes(got))), direct, **same)


def test_arrow_consumers_take_the_meter() -> None:
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    src = DATA / "ipfixprobe__mixed.pcap"
    n = len(ff.meter(src))
    assert pa.table(ff.Meter(src)).num_rows == n
    assert pl.DataFrame(ff.Meter(src)).height == n
    flows = ff.Meter(src)  # noqa: F841 (DuckDB finds it by name)
    assert duckdb.sql("select count(*) from flows").fetchall()[0][0] == n


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pcap"):
        ff.meter(tmp_path / "nope.pcap")
    text = tmp_path / "notes.pcap"
    text.write_text("hello, not a capture\n")
    with pytest.raises(ff.DecodeError, match="not a packet capture"):
        ff.meter(text)
    raw = (DATA / "nfstream__iphone.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[: len(raw) // 2 + 7])
    with pytest.raises(ff.DecodeError, match=r"cut\.pcap.*byte offset") as e:
        ff.meter(cut)
    assert e.value.offset is not None and 0 < e.value.offset < len(raw) // 2 + 7
    # The flows up to the cut are kept under warn and skip.
    with pytest.warns(ff.FerrofixWarning, match=r"cut\.pcap"):
        part = ff.meter(cut, on_bad_records="warn")
    m = ff.Meter(cut, on_bad_records="skip")
    part2 = m.to_pandas()
    assert len(part) == len(part2) > 0
    assert m.stats["failed_captures"] == 1
    # The error path gives the flows first: batches, then the error.
    rows = 0
    with pytest.raises(ff.DecodeError):
        for b in ff.Meter(cut):
            rows += b.num_rows
    assert rows == len(part)


def test_a_header_only_copy_meters_the_same_flows() -> None:
    """editcap -s 96 cut every packet of the capture to 96 bytes (its
    lengths on the wire kept): octets come from the IP headers, so every
    column is the same as for the full capture."""
    full = ff.meter(DATA / "nfstream__1kxun.pcap")
    cut = ff.meter(DATA / "nfstream__1kxun.s96.pcapng")
    pd.testing.assert_frame_equal(cut, full)


def test_udp_export_resends_templates() -> None:
    """Over UDP a collector that starts late or loses a datagram learns
    the templates only if they come again (RFC 7011 §8.4): with one record
    per message (a small MTU, TCP metrics off: their records need more),
    the template set (set id 2, RFC 7011 §3.3.2) is in the first message
    and again every 64 messages."""
    import struct

    src = DATA / "nfstream__alexa-app.pcapng"
    datagrams = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)
        rx.settimeout(2)
        ff.Meter(src, tcp_metrics=False).write_ipfix(
            export=f"udp://127.0.0.1:{rx.getsockname()[1]}", mtu=320
        )
        try:
            while True:
                datagrams.append(rx.recv(65535))
        except TimeoutError:
            pass

    def set_ids(msg: bytes) -> list[int]:
        ids, at = [], 16
        while at + 4 <= len(msg):
            sid, length = struct.unpack_from("!HH", msg, at)
            ids.append(sid)
            at += max(length, 4)
        return ids

    with_templates = [i for i, d in enumerate(datagrams) if 2 in set_ids(d)]
    assert len(datagrams) > 130
    assert with_templates[0] == 0 and len(with_templates) >= 3
    assert all(b - a <= 64 for a, b in itertools.pairwise(with_templates))
    assert len(ff.read_ipfix(b"".join(datagrams))) == len(ff.meter(src))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_that_is_no_capture_follows_on_bad_records(tmp_path: Path, workers: int) -> None:
    """An empty file, a text file and one cut inside its file header are
    passed over under "skip" and "warn" (counted; named in a warning under
    "warn") like a capture cut short later, and raised under "error": the
    flows are those of the good capture metered alone."""
    good = DATA / "nfstream__iphone.pcap"
    bad = {
        "empty.pcap": b"",
        "text.pcap": b"hello\n",
        "cut.pcap": good.read_bytes()[:10],
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    paths = [good, *(tmp_path / n for n in bad)]
    alone = ff.meter(good, workers=workers)
    m = ff.Meter(paths, on_bad_records="skip", workers=workers)
    got = m.to_pandas()
    assert len(got) == len(alone) and m.stats["failed_captures"] == 3
    assert got.octetDeltaCount.sum() == alone.octetDeltaCount.sum()
    with pytest.warns(ff.FerrofixWarning) as seen:
        m = ff.Meter(paths, on_bad_records="warn", workers=workers)
        raw = m.write_ipfix()
    assert raw is not None and len(ff.read_ipfix(raw)) == len(alone)
    assert sorted(n for n in bad if any(n in str(w.message) for w in seen)) == sorted(bad)
    # Under "error", each says what it is: the pcap header is 24 octets
    # (its first 10 here), an empty file has none, text has no magic.
    said = {
        "empty.pcap": "the file is empty",
        "text.pcap": "no pcap or pcapng magic number",
        "cut.pcap": "cut short in its file header: the next part needs 24 bytes, 10 are there",
    }
    for name, why in said.items():
        with pytest.raises(ff.DecodeError, match=f"{name}: bad capture: .*{why}"):
            ff.Meter([good, tmp_path / name], workers=workers)


def test_arguments_are_checked_by_name() -> None:
    capture = DATA / "nfstream__iphone.pcap"
    for kwargs, error, said in (
        ({"columns": "octetDeltaCount"}, TypeError, "columns is a list of IE names"),
        ({"max_flows": -1}, ValueError, "max_flows must be at least 1"),
        ({"workers": 0}, ValueError, "workers must be from 1 to 256"),
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1"),
        ({"enterprise": 2**32}, ValueError, "enterprise must be from 0 to"),
        ({"biflow": 0}, TypeError, "biflow is True or False"),
        ({"tcp_metrics": "yes"}, TypeError, "tcp_metrics is True or False"),
        ({"idle_timeout": "5"}, TypeError, "idle_timeout is a number of seconds"),
    ):
        with pytest.raises(error, match=said):
            ff.Meter(capture, **kwargs)
    with capture.open() as text, pytest.raises(TypeError, match="binary mode"):
        ff.meter(text)
    with pytest.raises(ValueError, match="mtu must be from 1 to 65535"):
        ff.Meter(capture).write_ipfix(mtu=-1)


def test_a_meter_is_read_once() -> None:
    """Reading a Meter again after its end raises, as handing its stream to
    a second Arrow consumer does, rather than giving an empty frame."""
    pa = pytest.importorskip("pyarrow")
    m = ff.Meter(DATA / "nfstream__iphone.pcap")
    assert len(m.to_pandas()) > 0
    with pytest.raises(RuntimeError, match="already read to its end"):
        m.to_pandas()
    with pytest.raises(RuntimeError, match="already read to its end"):
        list(m)
    with pytest.raises(RuntimeError):
        pa.table(m)


def test_a_file_object_s_os_error_keeps_its_errno() -> None:
    """A closed pipe behind a Python file object stays BrokenPipeError
    (errno 32), so that callers (the command line's ``| head``) see it."""

    class Closed:
        def write(self, b: bytes) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        ff.Meter(DATA / "nfstream__1kxun.pcap").write_ipfix(Closed())


def _v4(seg: bytes) -> bytes:
    return craft.ipv4("10.0.0.1", "10.0.0.2", 6, seg)


def _v6(seg: bytes) -> bytes:
    return craft.ipv6("2001:db8::1", "2001:db8::2", 6, seg)


@pytest.mark.parametrize(
    ("linktype", "snaplen", "frame"),
    [
        # tcpdump -i any -s 54: 16 + 20 + 18 octets of TCP.
        (113, 54, lambda seg: craft.linux_cooked(_v4(seg))),
        # 802.1Q at -s 54: 18 + 20 + 16 octets of TCP.
        (1, 54, lambda seg: craft.ether(_v4(seg), vlan=10)),
        # IPv6 at tcpdump's old default -s 68: 14 + 40 + 14 octets of TCP.
        (1, 68, lambda seg: craft.ether(_v6(seg), ethertype=0x86DD)),
    ],
    ids=["linux-cooked-54", "vlan-54", "ipv6-68"],
)
def test_a_tcp_header_cut_by_the_snaplen_keeps_its_ports(
    tmp_path: Path, linktype: int, snaplen: int, frame: Any
) -> None:
    """Two connections of one host pair, captured with their TCP headers
    cut short: the records keep each connection's ports (tshark reads them
    from the same frames), not one merged flow under ports 0, and the
    transport octets are the IP payload's length (tshark's ip.len less 20,
    or ipv6.plen) less the 20-octet TCP header the frames were built with
    (its data offset is among the octets kept)."""
    frames = [
        (100.0 + i / 10, frame(craft.tcp(sp, dp, craft.ACK, data=b"x" * n)))
        for i, (sp, dp, n) in enumerate([(40000, 80, 100), (40001, 443, 60), (40000, 80, 7)])
    ]
    path = craft.write_pcap(tmp_path / "cut.pcap", frames, linktype=linktype, snaplen=snaplen)
    oracle: collections.Counter[tuple[int, int]] = collections.Counter()
    payload: collections.Counter[tuple[int, int]] = collections.Counter()
    fields = ("tcp.srcport", "tcp.dstport", "ip.len", "ipv6.plen")
    for sport, dport, ip_len, v6_len in craft.tshark_fields(path, *fields):
        oracle[(int(sport), int(dport))] += 1
        ip_payload = int(ip_len) - 20 if ip_len else int(v6_len)
        payload[(int(sport), int(dport))] += ip_payload - 20
    assert len(oracle) == 2
    m = ff.Meter(path, tcp_metrics=False)
    got = m.to_pandas(dtype_backend="numpy")
    ports = list(zip(got.sourceTransportPort, got.destinationTransportPort, strict=True))
    assert dict(zip(ports, got.packetDeltaCount, strict=True)) == oracle
    assert dict(zip(ports, got.transportOctetDeltaCount, strict=True)) == payload
    assert m.stats["transport_header_cut"] == len(frames)


def test_dccp_transport_octets_follow_its_data_offset(tmp_path: Path) -> None:
    """DCCP's header is its Data Offset in 32-bit words (RFC 4340 §5.1),
    16 octets here (a generic header with 48-bit sequence numbers): the
    transport octets (IE 401) are the IP length less 20 and that, as
    tshark reads the offset."""
    dccp = struct.pack("!HHBBHBBHI", 5001, 5002, 4, 0, 0, (2 << 1) | 1, 0, 0, 7)
    assert len(dccp) == 16
    path = craft.write_pcap(
        tmp_path / "dccp.pcap",
        [(100.0, craft.ether(craft.ipv4("10.0.0.1", "10.0.0.2", 33, dccp + b"D" * 10)))],
    )
    [[ip_len, offset]] = craft.tshark_fields(path, "ip.len", "dccp.data_offset")
    got = ff.meter(path, dtype_backend="numpy")
    assert got.transportOctetDeltaCount.tolist() == [int(ip_len) - 20 - 4 * int(offset)]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_a_packet_whose_timestamp_went_back_does_not_defer_its_idle_end(
    tmp_path: Path, workers: int
) -> None:
    """docs/meter.md: a record ends after more than idle_timeout (30 s)
    without a packet of its flow, its end the latest packet's time. X at
    0 s, Y at 20 s, X at 5 s (older than Y: out of order), X at 40 s:
    X's latest packet before 40 s is the one at 5 s, 35 s earlier, so its
    first record ends idle (reason 1) at 5 s with 2 packets, and the one
    at 40 s is a record of its own; then Y at 44 s (X's second record and
    Y end with the capture, 4). The same whatever the number of workers
    (X and Y are different address pairs)."""
    x = craft.ether(craft.ipv4("10.0.0.1", "10.0.0.2", 17, craft.udp(1000, 53, b"q")))
    y = craft.ether(craft.ipv4("10.0.0.3", "10.0.0.4", 17, craft.udp(2000, 53, b"q")))
    frames = [(1000.0, x), (1020.0, y), (1005.0, x), (1040.0, x), (1044.0, y)]
    path = craft.write_pcap(tmp_path / "ooo.pcap", frames)
    m = ff.Meter(path, idle_timeout=30, workers=workers)
    got = m.to_pandas(dtype_backend="numpy")
    rows = sorted(
        (
            int(r.sourceTransportPort),
            r.flowStartMilliseconds.timestamp(),
            r.flowEndMilliseconds.timestamp(),
            int(r.packetDeltaCount),
            int(r.flowEndReason),
        )
        for r in got.itertuples()
    )
    assert rows == [
        (1000, 1000.0, 1005.0, 2, 1),
        (1000, 1040.0, 1040.0, 1, 4),
        (2000, 1020.0, 1044.0, 2, 4),
    ]
    assert m.stats["out_of_order"] == 1
