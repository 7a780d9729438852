"""README claims that no other test held (each test names its claim).
Expected values come from the inputs themselves (captures and messages
built here byte by byte), from the standards (RFC 7011, IANA's
flowEndReason registry), from independent files and tools (libfixbuf's
cert_ipfix.xml, python-ipfix 0.9.7, tshark), or from the same data read
another way; never from ferrofix's output pasted back."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import struct
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_readme_captures import checksum, messages

import ferrofix as ff
import ipfixmsg as im

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
FLOWS = DATA / "ipfix" / "ipfixcol2__example_flows.ipfix"

# IANA's flowEndReason values (registry "IPFIX Information Elements",
# flowEndReason sub-registry; RFC 5102 §5.11.3).
IDLE, ACTIVE, END_OF_FLOW, FORCED, LACK_OF_RESOURCES = 1, 2, 3, 4, 5
T_EXPORT = 1_700_000_000  # the messages' export time


# -- bytes built by the RFCs --------------------------------------------------


def ipv4_udp(
    src: bytes, sport: int, dst: bytes, dport: int, payload: bytes, ident: int = 0
) -> bytes:
    """RFC 791 header (no options) + RFC 768 header (checksum 0: none)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident, 0, 64, 17, 0, src, dst)
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + udp


def pcap(frames: list[tuple[float, bytes]], linktype: int) -> bytes:
    """Classic little-endian microsecond pcap (libpcap's file format)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for t, f in frames:
        sec = int(t)
        out.append(struct.pack("<IIII", sec, round((t - sec) * 1e6), len(f), len(f)) + f)
    return b"".join(out)


# -- Metering captures ---------------------------------------------------------

A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
T0 = 1_700_000_000.0


def test_meter_default_timeouts_are_30_s_idle_and_300_s_active() -> None:
    """README: "idle (30 s) and active (300 s) timeouts" and "flowEndReason
    1-5 as IANA defines them", with the defaults. One UDP flow has gaps of
    29 s (kept) then 31 s (idle end); another sends every 23 s from 0 to
    414 s, so its packet at 322 s is the first more than 300 s after its
    start (active end). m.stats counts the end reasons."""
    frames = [(T0 + t, ipv4_udp(A, 1000, B, 53, b"x")) for t in (0, 29, 60)]
    frames += [(T0 + t, ipv4_udp(A, 2000, B, 53, b"x")) for t in range(0, 415, 23)]
    frames.sort(key=lambda f: f[0])
    m = ff.Meter(pcap(frames, 101))
    df = m.to_pandas()
    got = sorted(
        zip(
            df.sourceTransportPort.astype(int),
            df.packetDeltaCount.astype(int),
            df.flowEndReason.astype(int),
            strict=True,
        )
    )
    # Port 1000: packets at 0 and 29 s; then 60 s, idle more than 30 s
    # before the capture ends at 414 s. Port 2000: 0..299 s (14 packets),
    # then 322..414 s (5), open when the capture ends.
    assert got == [(1000, 1, IDLE), (1000, 2, IDLE), (2000, 5, FORCED), (2000, 14, ACTIVE)]
    assert m.stats["end_reasons"] == {
        "idle": 2,
        "active": 1,
        "end_of_flow": 0,
        "forced": 1,
        "lack_of_resources": 0,
    }
    # The same capture with the timeouts set to the documented defaults.
    same = ff.meter(pcap(frames, 101), idle_timeout=30, active_timeout=300)
    pd.testing.assert_frame_equal(same, df)


def test_max_flows_evicts_the_least_recently_seen() -> None:
    """README: "`max_flows` with least-recently-seen eviction" (flowEndReason
    5, lack of resources). Flows on ports 1, 2, 3 with room for two: 3
    evicts 1; port 2 is seen again, so port 4 evicts 3, not 2."""
    order = [1, 2, 3, 2, 4]
    frames = [(T0 + i, ipv4_udp(A, p, B, 9, b"")) for i, p in enumerate(order)]
    df = ff.meter(pcap(frames, 101), max_flows=2)
    got = dict(zip(df.sourceTransportPort.astype(int), df.flowEndReason.astype(int), strict=True))
    assert got == {1: LACK_OF_RESOURCES, 3: LACK_OF_RESOURCES, 2: FORCED, 4: FORCED}
    assert int(df[df.sourceTransportPort == 2].packetDeltaCount.iloc[0]) == 2


def test_meter_stats_count_packets_by_link_type_and_not_ip_reasons() -> None:
    """README: `m.stats` holds "packets by link type, not-IP reasons, end
    reasons". An Ethernet capture of two IPv4 frames and one ARP frame
    (EtherType 0x0806), and a raw-IP capture (LINKTYPE_RAW, 101) of one."""
    mac = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1])
    ip = ipv4_udp(A, 5, B, 6, b"hi")
    arp = mac + struct.pack("!H", 0x0806) + bytes(28)
    eth = pcap([(T0, mac + b"\x08\x00" + ip), (T0 + 1, arp), (T0 + 2, mac + b"\x08\x00" + ip)], 1)
    m = ff.Meter([eth, pcap([(T0 + 3, ip)], 101)])
    m.to_pandas()
    s = m.stats
    assert s["by_linktype"] == {1: 3, 101: 1}
    assert s["packets"] == 4 and s["metered"] == 3
    assert s["not_ip"]["not_ip"] == 1 and sum(s["not_ip"].values()) == 1


def _pcap_frames(raw: bytes) -> tuple[bytes, list[bytes]]:
    (magic,) = struct.unpack_from("<I", raw)
    e = "<" if magic == 0xA1B2C3D4 else ">"
    frames, at = [], 24
    while at + 16 <= len(raw):
        (incl,) = struct.unpack_from(e + "I", raw, at + 8)
        frames.append(raw[at : at + 16 + incl])
        at += 16 + incl
    return raw[:24], frames


def test_a_list_or_glob_of_captures_is_merged_in_time_order(tmp_path: Path) -> None:
    """README: "a list of them or a glob, merged in time order". A real
    capture's frames dealt alternately into two files: metered as a list
    or as a glob, they give the flows of the whole capture, every column
    (TCP RTTs included, which depend on the packets' order)."""
    src = DATA / "pcap" / "nfstream__iphone.pcap"
    head, frames = _pcap_frames(src.read_bytes())
    assert len(frames) > 100
    (tmp_path / "a.pcap").write_bytes(head + b"".join(frames[0::2]))
    (tmp_path / "b.pcap").write_bytes(head + b"".join(frames[1::2]))
    whole = ff.meter(src)
    pd.testing.assert_frame_equal(ff.meter([tmp_path / "a.pcap", tmp_path / "b.pcap"]), whole)
    pd.testing.assert_frame_equal(ff.meter(str(tmp_path / "*.pcap")), whole)


def test_meter_cases_are_42_real_captures_and_a_header_only_copy() -> None:
    """README (Metering, Correctness): the meter is "checked against tshark
    and argus on 42 real captures", "43 captures (42 real ones and a
    header-only copy of one)": the oracle tests' case list."""
    rows = [
        line.split("\t")
        for line in (DATA / "meter-oracle" / "cases.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(rows) == 43
    copies = [r for r in rows if "header-only" in r[2] and "copy" in r[2]]
    assert len(copies) == 1


# -- Reading IPFIX -------------------------------------------------------------

NF = DATA / "netflow"


def _records(data: bytes) -> tuple[list[Any], Any]:
    r = ff.Reader(data)
    recs = [
        (m.observation_domain_id, m.template_id, f)
        for m, f in r.records(records="all", as_="fields", meta=True)
    ]
    return recs, r.health


def test_ipfix_v9_and_v5_back_to_back_read_as_each_alone() -> None:
    """README: "a file or stream of their UDP payloads (any mix of IPFIX, v9
    and v5 packets back to back) gives the same records ... and health",
    and "the v9 source id is the observation domain" (RFC 3954 §5.1:
    octets 16-19 of the v9 header)."""
    ipfix = FLOWS.read_bytes()
    v9 = (NF / "fluent-plugin-netflow__netflow.v9.template.dump").read_bytes()
    v9 += (NF / "fluent-plugin-netflow__netflow.v9.dump").read_bytes()
    v5 = (NF / "logstash-codec-netflow__netflow5.dat").read_bytes()
    assert [struct.unpack_from("!H", b)[0] for b in (ipfix, v9, v5)] == [10, 9, 5]
    parts = {name: _records(b) for name, b in (("ipfix", ipfix), ("v9", v9), ("v5", v5))}
    assert all(p[0] for p in parts.values())
    mixed, health = _records(v5 + ipfix + v9)
    assert mixed == parts["v5"][0] + parts["ipfix"][0] + parts["v9"][0]
    for _, h in parts.values():
        for domain, seq in h.sequence.items():
            assert health.sequence[domain] == seq
    assert health.data_records == sum(h.data_records for _, h in parts.values())
    (source_id,) = struct.unpack_from("!I", v9, 16)
    assert {d for d, _, _ in parts["v9"][0]} == {source_id}


SRC1, SRC2, DST = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 7]), bytes([198, 51, 100, 2])
MAC = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1])
LINKS: dict[str, tuple[int, Callable[[bytes], bytes]]] = {
    # IEEE 802.1Q tag (TPID 0x8100, PCP 3, VLAN 42), then IPv4.
    "Ethernet+VLAN": (1, lambda ip: MAC + struct.pack("!HHH", 0x8100, (3 << 13) | 42, 0x0800) + ip),
    # Linux cooked v1: packet type, ARPHRD_ETHER, address length, address, protocol.
    "Linux cooked v1": (
        113,
        lambda ip: struct.pack("!HHH8sH", 0, 1, 6, bytes([2, 0, 0, 0, 0, 1, 0, 0]), 0x0800) + ip,
    ),
    "raw IP": (101, lambda ip: ip),
    # BSD loopback: AF_INET (2) in host (here little-endian) order; LINKTYPE_LOOP: network order.
    "loopback (NULL)": (0, lambda ip: struct.pack("<I", 2) + ip),
    "loopback (LOOP)": (108, lambda ip: struct.pack("!I", 2) + ip),
}


@pytest.mark.parametrize("link", list(LINKS))
def test_export_captures_of_more_link_layers(tmp_path: Path, link: str) -> None:
    """README: captures of export traffic may be "Ethernet with VLAN/MPLS,
    Linux cooked, raw IP, loopback" (MPLS and cooked v2 are in
    test_readme_captures.py). A real file's messages, one UDP datagram
    each, sent by two exporters: read from the capture they give the file's
    records twice, and health.to_pandas() has an ``exporter`` column while
    health.sequence is keyed by (exporter, domain). tshark (where
    installed) must see every frame as IPFIX from those exporters."""
    linktype, frame = LINKS[link]
    msgs = messages(FLOWS.read_bytes())
    # Each exporter sends the whole file, their datagrams interleaved.
    frames = [
        (T0 + i, frame(ipv4_udp(src, 40000, DST, 4739, m, i)))
        for i, m in enumerate(msgs)
        for src in (SRC1, SRC2)
    ]
    cap = tmp_path / "export.pcap"
    cap.write_bytes(pcap(frames, linktype))
    want = ff.read_ipfix(str(FLOWS))
    exporter_cols = ["exporterIPv4Address", "exporterIPv6Address", "exporterTransportPort"]
    got = ff.read_ipfix(str(cap))
    assert set(got["exporterIPv4Address"].astype(str)) == {"192.0.2.1", "192.0.2.7"}
    got = got.drop(columns=exporter_cols, errors="ignore")
    assert list(got.columns) == list(want.columns)
    # Two exporters, each the file's records: compared as multisets.
    rows = want.astype(str).values.tolist()
    assert sorted(got.astype(str).values.tolist()) == sorted(rows + rows)
    reader = ff.Reader(str(cap))
    list(reader)
    domains = {struct.unpack_from("!I", m, 12)[0] for m in msgs}
    exporters = {"192.0.2.1:40000", "192.0.2.7:40000"}
    assert set(reader.health.sequence) == {(e, d) for e in exporters for d in domains}
    assert set(reader.health.to_pandas()["exporter"]) == exporters
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed: the capture's frames were not checked")
    out = subprocess.run(
        ["tshark", "-n", "-r", str(cap), "-d", "udp.port==4739,cflow", "-T", "fields",
         "-e", "cflow.version", "-e", "ip.src"],
        capture_output=True, check=True,
    ).stdout.decode().splitlines()  # fmt: skip
    assert Counter(out) == {"10\t192.0.2.1": len(msgs), "10\t192.0.2.7": len(msgs)}


def test_cert_ies_are_known_by_default() -> None:
    """README: "the CERT/YAF (PEN 6871) ... spec files are loaded by
    default". Every CERT integer and string IE of libfixbuf's own registry
    (cert_ipfix.xml, Debian's libfixbuf) in one template: a record read
    with the defaults has every field under the registry's name."""
    xml = Path("/usr/share/libfixbuf/cert_ipfix.xml")
    if not xml.exists():
        pytest.skip("libfixbuf's cert_ipfix.xml is not installed (make tools)")
    ns = {"iana": "http://www.iana.org/assignments", "cert": "http://www.cert.org/ipfix"}
    width = {"unsigned8": 1, "unsigned16": 2, "unsigned32": 4, "unsigned64": 8, "string": 0}
    ies = []
    for rec in ET.parse(xml).getroot().iter("{http://www.iana.org/assignments}record"):
        name = rec.findtext("iana:name", None, ns)
        kind = rec.findtext("iana:dataType", None, ns)
        num = rec.findtext("iana:elementId", None, ns)
        if rec.findtext("cert:enterpriseId", None, ns) == "6871" and kind in width and num:
            if num.isdigit() and name:
                ies.append((name, int(num), width[kind]))
    assert len(ies) > 200
    fields = b"".join(struct.pack("!HHI", 0x8000 | n, w or 65535, 6871) for _, n, w in ies)
    values: dict[str, Any] = {}
    record = b""
    for k, (name, _, w) in enumerate(ies):
        if w:
            values[name] = k % 250 + 1
            record += values[name].to_bytes(w, "big")
        else:
            values[name] = f"v{k}"
            record += bytes([len(values[name])]) + values[name].encode()
    tmpl = im.set_(2, struct.pack("!HH", 256, len(ies)) + fields)
    msg = im.message([tmpl, im.set_(256, record)], odid=1, seq=0, export_time=T_EXPORT)
    (got,) = list(ff.iter_records(msg))
    assert got == values


def test_error_classes_and_their_places() -> None:
    """README: "`ff.FerrofixError` > `ff.DecodeError` (also a `ValueError`)
    > `ff.MissingTemplateError`; `ff.LimitExceededError`; `ff.SpecError`.
    Each has `offset` and `message_index`." The places come from the
    messages built here (RFC 7011 §3.1 header of 16 octets)."""
    assert issubclass(ff.DecodeError, ff.FerrofixError) and issubclass(ff.DecodeError, ValueError)
    assert issubclass(ff.MissingTemplateError, ff.DecodeError)
    assert issubclass(ff.LimitExceededError, ff.FerrofixError)
    assert issubclass(ff.SpecError, ff.FerrofixError)
    t256 = im.set_(2, struct.pack("!HHHH", 256, 1, 1, 8))
    first = im.message(
        [t256, im.set_(256, (5).to_bytes(8, "big"))], odid=1, seq=0, export_time=T_EXPORT
    )
    orphan = im.message([im.set_(300, bytes(8))], odid=1, seq=1, export_time=T_EXPORT)
    with pytest.raises(ValueError) as e:
        list(ff.iter_records(first + orphan))
    assert isinstance(e.value, ff.MissingTemplateError)
    assert (e.value.offset, e.value.message_index) == (len(first) + 16, 1)
    many = im.set_(2, b"".join(struct.pack("!HHHH", 256 + i, 1, 1, 8) for i in range(10)))
    second = im.message([many], odid=1, seq=1, export_time=T_EXPORT)
    with pytest.raises(ff.LimitExceededError) as lim:
        list(ff.Reader(first + second, max_templates=5))
    assert lim.value.message_index == 1
    assert lim.value.offset is not None
    assert len(first) <= lim.value.offset < len(first) + len(second)
    with pytest.raises(ff.SpecError) as spec:
        ff.read_ipfix(first, specs=["no type here"])
    assert hasattr(spec.value, "offset") and hasattr(spec.value, "message_index")


def test_text_addresses_in_arrow_are_int32_dictionaries_of_strings() -> None:
    """README: "in Arrow, text addresses are always `dictionary<int32,
    string>`", whatever their number. Values are the addresses' own text
    (the ipaddress module's form of the bytes written)."""
    pa = pytest.importorskip("pyarrow")
    n = 3000  # distinct addresses, one per row: past what pays in pandas
    tmpl = im.set_(2, struct.pack("!HHHHHH", 256, 2, 8, 4, 27, 16))
    rows = [
        struct.pack("!I", 0x0A000000 + i) + ipaddress.IPv6Address(2**100 + i).packed
        for i in range(n)
    ]
    data = b"".join(
        im.message(
            [tmpl, im.set_(256, b"".join(rows[k : k + 100]))], odid=1, seq=k, export_time=T_EXPORT
        )
        for k in range(0, n, 100)
    )
    table = ff.scan_ipfix(data).to_arrow()
    for name in ("sourceIPv4Address", "sourceIPv6Address"):
        assert table.schema.field(name).type == pa.dictionary(pa.int32(), pa.string())
    assert table.column("sourceIPv4Address").to_pylist() == [
        str(ipaddress.IPv4Address(0x0A000000 + i)) for i in range(n)
    ]
    assert table.column("sourceIPv6Address").to_pylist() == [
        str(ipaddress.IPv6Address(2**100 + i)) for i in range(n)
    ]


# -- Writing -------------------------------------------------------------------


def _template_fields(msg: bytes) -> list[tuple[int, int]]:
    """(IE id, length) of the first template of a message (RFC 7011 §3.4.1)."""
    at = 16
    while at < len(msg):
        set_id, length = struct.unpack_from("!HH", msg, at)
        if set_id == 2:
            _, count = struct.unpack_from("!HH", msg, at + 4)
            return [struct.unpack_from("!HH", msg, at + 8 + 4 * i) for i in range(count)]
        at += length
    raise AssertionError("no template set")


def test_writer_column_mapping_records_and_forms(tmp_path: Path) -> None:
    """README: `write_ipfix(df, ..., columns={"bytes": "octetDeltaCount[4]"})`
    writes column ``bytes`` as octetDeltaCount in 4 octets; `write_ipfix`
    of a list of dicts gives bytes; `w.write(t, ...)` takes a tuple, "or a
    dict, or a list" (the same record bytes)."""
    df = pd.DataFrame({"bytes": [5, 70000], "destinationTransportPort": [80, 443]})
    out = tmp_path / "out.ipfix"
    ff.write_ipfix(df, str(out), columns={"bytes": "octetDeltaCount[4]"})
    data = out.read_bytes()
    # octetDeltaCount is IE 1 (unsigned64, reduced to 4 octets), port IE 11.
    assert _template_fields(data) == [(1, 4), (11, 2)]
    back = ff.read_ipfix(str(out))
    assert back.octetDeltaCount.tolist() == [5, 70000]
    raw = ff.write_ipfix([{"sourceIPv4Address": "10.0.0.1", "octetDeltaCount": 5}])
    assert isinstance(raw, bytes) and struct.unpack_from("!H", raw)[0] == 10
    assert list(ff.iter_records(raw)) == [
        {"sourceIPv4Address": ipaddress.IPv4Address("10.0.0.1"), "octetDeltaCount": 5}
    ]
    bodies = []
    for form in (
        (ipaddress.ip_address("10.0.0.1"), 5, "eth0"),
        {"sourceIPv4Address": "10.0.0.1", "octetDeltaCount": 5, "interfaceName": "eth0"},
        ["10.0.0.1", 5, "eth0"],
    ):
        path = tmp_path / "w.ipfix"
        with ff.Writer(str(path), export_time=0) as w:
            t = w.add_template(["sourceIPv4Address", "octetDeltaCount[4]", "interfaceName"])
            w.write(t, form)
        msg = path.read_bytes()
        bodies.append(msg[16:])
    # RFC 7011 §7: 4 address octets, 4 counter octets, a 1-octet length + "eth0".
    record = bytes([10, 0, 0, 1]) + struct.pack("!I", 5) + b"\x04eth0"
    assert all(b.endswith(record) for b in bodies)
    assert bodies[0] == bodies[1] == bodies[2]


# -- Live collection -------------------------------------------------------------


def test_collect_on_udp_and_tcp_in_batches_of_batch_size() -> None:
    """README: `ff.collect(udp=..., tcp=..., duration=...)` yields Arrow
    batches, "a batch every `batch_size` records". A real file's messages
    sent over TCP and the first ones again over UDP, with batch_size=500:
    every record arrives, in batches of at most 500 rows."""
    pa = pytest.importorskip("pyarrow")
    msgs = messages(FLOWS.read_bytes())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        udp_port = int(s.getsockname()[1])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        tcp_port = int(s.getsockname()[1])
    udp_part = msgs[:5]

    def send() -> None:
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", tcp_port)) as c:
            c.sendall(b"".join(msgs))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for m in udp_part:
                tx.sendto(m, ("127.0.0.1", udp_port))
                time.sleep(0.01)

    sender = threading.Thread(target=send)
    sender.start()
    batches = [
        pa.record_batch(b)
        for b in ff.collect(
            udp=f"127.0.0.1:{udp_port}",
            tcp=f"127.0.0.1:{tcp_port}",
            duration=3.0,
            batch_size=500,
            interval=0.2,
        )
    ]
    sender.join()
    want = len(ff.read_ipfix(FLOWS.read_bytes())) + len(ff.read_ipfix(b"".join(udp_part)))
    assert sum(b.num_rows for b in batches) == want
    assert max(b.num_rows for b in batches) <= 500
