"""Live collection (``ff.Collector`` / ``ff.collect``): datagrams and TCP
messages received on loopback give the records the same bytes give from a
file; real exporters (softflowd, pmacctd from Debian) metering a capture
and exporting IPFIX and NetFlow v9 to the collector inside a network
namespace the test creates (root only), with the datagrams they sent
counted by Wireshark's dumpcap/capinfos beside the collector."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_netflow import datagrams

import ferrofix as ff

DATA = Path(__file__).resolve().parents[1] / "data"
HELPER = Path(__file__).resolve().parent / "helpers" / "live_export.py"
COLUMNS = [
    "sourceIPv4Address",
    "destinationIPv4Address",
    "sourceTransportPort",
    "destinationTransportPort",
    "protocolIdentifier",
    "packetDeltaCount",
    "octetDeltaCount",
    "flowStartMilliseconds",
]


def _rows(batches: Any) -> list[tuple[Any, ...]]:
    pa = pytest.importorskip("pyarrow")
    rows = []
    for b in batches:
        t = pa.record_batch(b)
        rows += list(zip(*(t.column(c).to_pylist() for c in COLUMNS), strict=True))
    return rows


def test_udp_datagrams_give_the_records_the_file_gives() -> None:
    """NetFlow v5 (12 datagrams), v9 (template then data) and IPFIX
    datagrams sent to the collector over loopback UDP: the same rows as
    ``scan_ipfix`` of the same bytes, each from its exporter."""
    pa = pytest.importorskip("pyarrow")
    nf = DATA / "netflow"
    v9 = [
        (nf / "logstash-codec-netflow__netflow9_test_cisco_asa_1_tpl.dat").read_bytes(),
        (nf / "logstash-codec-netflow__netflow9_test_cisco_asa_1_data.dat").read_bytes(),
    ]
    v5 = datagrams("logstash-codec-netflow__netflow5.dat")
    c = ff.Collector(udp="127.0.0.1:0", columns=COLUMNS, interval=0.2)
    ((_, host, port),) = c.addresses
    senders = []
    for payloads in (v5, v9):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        senders.append((s, payloads))
    for s, payloads in senders:
        for d in payloads:
            s.sendto(d, (host, port))
    threading.Timer(1.0, c.stop).start()
    batches = [pa.record_batch(b) for b in c.batches()]
    got = _rows(batches)
    want = []
    for _s, payloads in senders:
        want += _rows(ff.scan_ipfix(b"".join(payloads), columns=COLUMNS).batches())
    assert sorted(got, key=repr) == sorted(want, key=repr) and len(got) == 30 + 14
    status = c.status()
    assert (status.received, status.other_datagrams) == (len(v5) + len(v9), 0)
    ports = {p for b in batches for p in b.column("exporterTransportPort").to_pylist()}
    assert ports == {s.getsockname()[1] for s, _ in senders}
    for s, _ in senders:
        s.close()


def test_ipfix_over_tcp_and_a_stop_that_loses_nothing() -> None:
    """An IPFIX file sent over a TCP connection (RFC 7011 §10.4) in odd
    chunks: every record of the file comes out, and ``collect`` ends by
    ``max_records``."""
    path = DATA / "ipfix" / "ipfixcol2__example_flows.ipfix"
    data = path.read_bytes()
    want = _rows(ff.scan_ipfix(path, columns=COLUMNS).batches())
    c = ff.Collector(tcp="127.0.0.1:0", columns=COLUMNS, interval=0.2, batch_size=1000)
    ((_, host, port),) = c.addresses

    def send() -> None:
        with socket.create_connection((host, port)) as s:
            for at in range(0, len(data), 7777):
                s.sendall(data[at : at + 7777])

    threading.Thread(target=send).start()
    got = _rows(c.batches(max_records=len(want)))
    assert got == want
    assert c.status().connections == 1


def _live(args: list[str], tmp: Path) -> dict[str, Any]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a network namespace")
    for tool in [args[0], "dumpcap", "capinfos", "ip"]:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    cmd = ["unshare", "-n", sys.executable, str(HELPER), str(tmp), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    result: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in result.items() if k != "columns"}, indent=1))
    return result


def _live_values(r: dict[str, Any], tmp: Path) -> int:
    """The values, not only the counts: the live records (every IANA IE a
    column, live.arrow) are those ferrofix reads from dumpcap's capture of
    the same traffic, row for row and value for value; every IE the
    exporter sent is among those columns; and the capture's records agree,
    field by field, with tshark's decode of it (test_netflow's
    check_against_tshark). Returns the number of values tshark confirmed."""
    import pyarrow as pa
    from test_netflow import check_against_tshark

    cap = tmp / "export.pcap"
    live = pa.ipc.open_file(tmp / "live.arrow").read_all()
    scan = ff.scan_ipfix(cap, columns=live.column_names)
    from_capture = pa.RecordBatchReader.from_stream(scan).read_all()
    assert live.column_names == from_capture.column_names
    assert live.num_rows == from_capture.num_rows == r["records_live"]
    for name in live.column_names:
        assert live[name].to_pylist() == from_capture[name].to_pylist(), name
    fields = list(ff.Reader(cap).records(records="all", as_="fields"))
    names = {(ie.pen, ie.id): ie.name for ie in ff.describe()}
    data = ff.Reader(cap).records(as_="fields")  # data records, as the collector's
    sent = {names.get((p, i), f"{p}/{i}") for rec in data for p, i, _v in rec}
    assert sent <= set(r["columns"]), sorted(sent - set(r["columns"]))
    # Every column the exporter filled in its data records holds values.
    for name in sorted(sent):
        assert live[name].null_count < live.num_rows, name
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    return check_against_tshark(cap, [r["port"]], fields, ipfix=True)


@pytest.mark.parametrize("version", ["10", "9"])
def test_softflowd_exports_to_the_collector(version: str, tmp_path: Path) -> None:
    """softflowd meters nfstream's iPhone capture and exports IPFIX or
    NetFlow v9 to the collector: every datagram dumpcap saw sent is
    received, the live records are those ferrofix reads from dumpcap's
    capture of the same traffic, no template is missing and no record is
    lost (softflowd numbers IPFIX messages after their records: counted as
    ``post_incremented``, not loss)."""
    pcap = DATA / "pcap" / "nfstream__iphone.pcap"
    r = _live(["softflowd", "-r", str(pcap), "-n", "127.0.0.1:PORT", "-v", version, "-d"], tmp_path)
    assert r["exporter_rc"] == 0, r["exporter_stderr"]
    assert r["sent_datagrams"] == r["received"] == r["capture_datagrams"] > 0
    assert r["records_live"] == r["records_from_capture"] > 0
    assert r["missing"] == 0
    (seq,) = r["sequence"].values()
    assert (seq["lost_records"], seq["lost_packets"], seq["out_of_order"]) == (0, 0, 0)
    if version == "10" and seq["messages"] > 1:
        assert seq["post_incremented"] == seq["messages"] - 1
    assert _live_values(r, tmp_path) > 0


def test_pmacctd_exports_to_the_collector(tmp_path: Path) -> None:
    """pmacct's nfprobe plugin meters the same capture and exports IPFIX."""
    pcap = DATA / "pcap" / "nfstream__iphone.pcap"
    conf = tmp_path / "pmacctd.conf"
    conf.write_text(
        "daemonize: false\n"
        f"pcap_savefile: {pcap}\n"
        "pcap_savefile_wait: false\n"
        "plugins: nfprobe\n"
        "nfprobe_receiver: 127.0.0.1:PORT\n"
        "nfprobe_version: 10\n"
        "nfprobe_timeouts: expint=1\n"
    )
    r = _live(["pmacctd", "-f", str(conf)], tmp_path)
    assert r["exporter_rc"] == 0, r["exporter_stderr"]
    assert r["sent_datagrams"] == r["received"] == r["capture_datagrams"] > 0
    assert r["records_live"] == r["records_from_capture"] > 0
    assert r["missing"] == 0
    (seq,) = r["sequence"].values()
    assert (seq["lost_records"], seq["gaps"]) == (0, 0)
    assert _live_values(r, tmp_path) > 0


def test_the_collect_command_writes_ipfix_and_parquet(tmp_path: Path) -> None:
    """``ferrofix collect --udp ... -o DIR``: the records received land in
    an IPFIX file and a Parquet file with the same rows (the exporter
    columns included), and the status line counts them."""
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cmd = [sys.executable, "-m", "ferrofix", "collect", "--udp", f"127.0.0.1:{port}"]
    cmd += ["-o", str(tmp_path), "--duration", "3", "--interval", "0.3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    v5 = datagrams("logstash-codec-netflow__netflow5.dat")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for d in v5:
            tx.sendto(d, ("127.0.0.1", port))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    files = [Path(line) for line in out.splitlines()]
    (ipfix,) = [f for f in files if f.suffix == ".ipfix"]
    parquet = [f for f in files if f.suffix == ".parquet"]
    assert parquet and all("exporter=127.0.0.1" in f.as_posix() for f in parquet)
    df = ff.read_ipfix(ipfix)
    table = pa.concat_tables([pq.read_table(f) for f in parquet])
    assert len(df) == table.num_rows == 30
    assert sorted(df["octetDeltaCount"]) == sorted(table.column("octetDeltaCount").to_pylist())
    assert set(df["exporterTransportPort"]) == set(
        table.column("exporterTransportPort").to_pylist()
    )
    assert "12 datagrams/messages, 30 records" in err


def test_udp_templates_expire_by_the_clock_when_asked() -> None:
    """``template_clock="wall"``: a template not sent again within
    ``template_lifetime`` seconds of this machine's clock expires; the data
    that comes after it is held, not decoded with a stale template. (The
    v9 template here was exported in 2016: by export time, the default,
    nothing expires.)"""
    nf = DATA / "netflow"
    tpl = (nf / "fluent-plugin-netflow__netflow.v9.template.dump").read_bytes()
    data = (nf / "fluent-plugin-netflow__netflow.v9.dump").read_bytes()
    for clock, expired in [("wall", True), ("export", False)]:
        c = ff.Collector(
            udp="127.0.0.1:0",
            columns=COLUMNS,
            interval=0.2,
            template_lifetime=1,
            template_clock=clock,
        )
        ((_, host, port),) = c.addresses
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(tpl, (host, port))
            s.sendto(data, (host, port))
            time.sleep(2.5)
            s.sendto(data, (host, port))
            time.sleep(0.5)
        c.stop()
        rows = _rows(c.batches())
        h = c.health
        if expired:
            assert (len(rows), h.templates_expired, h.sets_held) == (1, 1, 1)
        else:
            assert (len(rows), h.templates_expired, h.sets_held) == (2, 0, 0)
    with pytest.raises(ValueError, match="template_clock"):
        ff.Collector(udp="127.0.0.1:0", template_clock="sundial")
