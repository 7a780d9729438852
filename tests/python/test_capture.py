"""Flow export read straight from packet captures (``ff.Reader`` and
``read_ipfix`` on a pcap/pcapng path or bytes): exporters as transport
sessions, NetFlow v9 beside IPFIX, and the transport-health accounting.
Values are checked against tshark's committed decode in
test_oracle_pcap.py (``test_capture_read_directly_against_tshark``); this
file checks what the oracle does not hold."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import ferrofix as ff

TESTS = Path(__file__).resolve().parents[1]
PCAPS = TESTS / "data" / "pcap"


def test_data_without_templates_is_reported_per_exporter() -> None:
    """nDPI's capture holds 23 v9 data FlowSets of source id 1 and no
    template (MANIFEST.tsv). Skipped, they are counted
    per (domain, template); under the default policy the first one is an
    error naming the template and its byte offset in the capture."""
    r = ff.Reader(PCAPS / "nDPI__netflowv9.pcap", on_bad_records="skip")
    assert list(r) == []
    h = r.health
    assert h.sets_missing_template == 23
    assert {odid for odid, _tid in h.missing_templates} == {1}
    assert sum(h.missing_templates.values()) == 23
    # One exporter, NetFlow v9 numbers counting its 10 packets.
    ((exporter, odid),) = h.sequence
    assert (exporter, odid) == ("192.168.2.134:48629", 1)
    assert h.sequence[(exporter, odid)].messages == 10
    # UDP: data before its template is held, not an error, whatever the
    # policy; still held at the end, it counts as missing its template.
    r = ff.Reader(PCAPS / "nDPI__netflowv9.pcap")
    assert list(r) == []
    assert (r.health.sets_held, r.health.sets_missing_template) == (23, 23)
    assert r.health.problems_skipped == 0


def _records(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, bytes) of each packet record of a little-endian classic pcap."""
    at, out = 24, []
    while at + 16 <= len(data):
        n = 16 + struct.unpack_from("<I", data, at + 8)[0]
        out.append((at, data[at : at + n]))
        at += n
    return out


def test_data_before_its_template_is_held_and_decoded_when_it_comes() -> None:
    """pmacct's Cisco capture with its packets reversed: the data datagrams
    now come before the template datagram. Their sets are held and decoded
    when the template arrives (RFC 7011 §8.4: UDP may reorder), giving the
    same records as the capture in order, all of them."""
    data = (PCAPS / "pmacct__100-IPFIXv10-CISCO--traffic-00.pcap").read_bytes()
    packets = [p for _at, p in _records(data)]
    reordered = data[:24] + b"".join(reversed(packets))
    want = list(ff.iter_records(data))
    r = ff.Reader(reordered)
    got = list(r)
    assert len(got) == len(want) > 0
    key = repr
    assert sorted(map(key, got)) == sorted(map(key, want))
    assert r.health.sets_replayed > 0 and r.health.sets_held == 0
    assert r.health.sets_missing_template == 0


def test_every_exporter_is_its_own_session() -> None:
    """pmacct's mixed capture: IPFIX and NetFlow v9 exporters; each record
    says which one sent it, and templates of one do not serve another."""
    path = PCAPS / "pmacct__111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources--traffic-00.pcap"
    r = ff.Reader(path, on_bad_records="skip")
    recs = list(r.records(meta=True))
    exporters = {m.exporter for m, _ in recs}
    assert all(isinstance(e, tuple) and len(e) == 2 for e in exporters)
    assert {odid for _e, odid in r.health.sequence} == {m.observation_domain_id for m, _ in recs}
    frames = [m.frame for m, _ in recs]
    assert frames == sorted(frames) and all(f >= 1 for f in frames)


def test_bytes_pcapng_and_a_cut_capture() -> None:
    """The same capture from bytes; a capture cut inside a packet record
    gives the records before it, then an error at the record's offset."""
    path = PCAPS / "pmacct__100-IPFIXv10-CISCO--traffic-00.pcap"
    data = path.read_bytes()
    whole = list(ff.iter_records(data))
    assert whole == list(ff.iter_records(path))
    # Cut inside the last packet record.
    last = len(data)
    at, offsets = 24, []
    while at + 16 <= last:
        offsets.append(at)
        at += 16 + struct.unpack_from("<I", data, at + 8)[0]
    cut = data[: offsets[-1] + 20]
    r = ff.Reader(cut, on_bad_records="skip")
    got = list(r)
    assert got == whole[: len(got)] and len(got) < len(whole)
    assert r.health.problems_skipped == 1
    with pytest.raises(ff.DecodeError) as e:
        list(ff.iter_records(cut))
    assert e.value.offset == offsets[-1] + 16


@pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap (Wireshark) is not installed")
@pytest.mark.parametrize("fmt", ["pcapng", "nsecpcap"])
def test_pcapng_and_nanosecond_captures_read_the_same(fmt: str, tmp_path: Path) -> None:
    """Wireshark's editcap rewrites a capture as pcapng or as nanosecond
    pcap; ferrofix reads the same records from it, and counts the packets
    Wireshark's capinfos counts."""
    src = PCAPS / "pmacct__400-IPFIXv10-BMP-CISCO-SRv6-multiple-sources--traffic-00.pcap"
    out = tmp_path / f"x.{fmt}"
    subprocess.run(["editcap", "-F", fmt, str(src), str(out)], check=True, capture_output=True)
    assert list(ff.iter_records(out)) == list(ff.iter_records(src))
    r = ff.Reader(out)
    list(r)
    info = subprocess.run(
        ["capinfos", "-c", "-M", str(out)], check=True, capture_output=True, text=True
    ).stdout
    packets = int(info.split("Number of packets:")[1].split()[0])
    assert r.health.capture is not None
    assert r.health.capture["packets"] == packets
    assert r.health.capture["datagrams"] + r.health.capture["other_packets"] == packets


def test_dataframes_of_a_capture_carry_the_exporter() -> None:
    """``read_ipfix`` of a capture adds exporterIPv4Address /
    exporterIPv6Address (IANA 130/131) and exporterTransportPort (217): the
    sender of each row, the same as the record path's ``RecordMeta``."""
    pytest.importorskip("pandas")
    for name in [
        "pmacct__104-IPFIXv10-IPv6-CISCO-sampling_option--traffic-00.pcap",
        "pmacct__111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources--traffic-01.pcap",
        "pmacct__400-IPFIXv10-BMP-CISCO-SRv6-multiple-sources--traffic-00.pcap",
    ]:
        path = PCAPS / name
        df = ff.read_ipfix(path, on_bad_records="skip")
        metas = [
            m for m, _ in ff.iter_records(path, records="data", meta=True, on_bad_records="skip")
        ]
        v4, v6 = df["exporterIPv4Address"], df["exporterIPv6Address"]
        got = [
            (a if isinstance(a, str) else b, int(p))
            for a, b, p in zip(v4, v6, df["exporterTransportPort"], strict=True)
        ]
        assert len(df) > 0
        assert got == [m.exporter for m in metas], name


def test_udp_templates_expire_after_their_lifetime_in_export_time() -> None:
    """RFC 7011 §8.4: a template received over UDP and not sent again is
    dropped after a lifetime (1800 s of export time here, so a capture
    decodes the same whenever it is read). pmacct's capture with the export
    time of its data datagrams moved an hour on: their sets find their
    templates expired, are held, and count as missing; moved 10 minutes,
    nothing changes."""
    data = (PCAPS / "pmacct__100-IPFIXv10-CISCO--traffic-00.pcap").read_bytes()
    want = list(ff.iter_records(data))

    def shifted(seconds: int) -> bytes:
        out = bytearray(data)
        at, first = 24, True
        while at + 16 <= len(out):
            n = struct.unpack_from("<I", out, at + 8)[0]
            ipfix = at + 16 + 14 + 20 + 8  # Ethernet, IPv4, UDP headers
            if not first and struct.unpack_from("!H", out, ipfix)[0] == 10:
                t = struct.unpack_from("!I", out, ipfix + 4)[0]
                struct.pack_into("!I", out, ipfix + 4, t + seconds)
            first = False
            at += 16 + n
        return bytes(out)

    r = ff.Reader(shifted(600))
    assert len(list(r)) == len(want) and r.health.templates_expired == 0
    r = ff.Reader(shifted(3600))
    got = list(r)
    h = r.health
    assert h.templates_expired >= 1
    assert len(got) < len(want)
    assert h.sets_missing_template == h.sets_held > 0
    # The lifetime is a parameter of every reading entry point.
    r = ff.Reader(shifted(600), template_lifetime=300)
    assert len(list(r)) < len(want) and r.health.templates_expired >= 1
    for life in (None, 7200):
        r = ff.Reader(shifted(3600), template_lifetime=life)
        assert len(list(r)) == len(want) and r.health.templates_expired == 0
    assert len(ff.read_ipfix(shifted(3600), template_lifetime=None)) == len(want)
    assert len(ff.read_ipfix(shifted(3600))) == len(got)
    assert len(list(ff.iter_records(shifted(3600), template_lifetime=None))) == len(want)
    scan = ff.scan_ipfix(shifted(600), template_lifetime=300)
    assert scan.to_arrow().num_rows < len(want)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize(
    "name",
    [
        "pmacct__101-NFv9-CISCO-cust_primitives--traffic-00.pcap",
        "pmacct__102-NFv9-CISCO-f2rd-pretag-sampling-reload--traffic-00.pcap",
        "pmacct__106-IPFIXv10-HUAWEI-vrf_name--traffic-00.pcap",
    ],
)
def test_integers_wider_than_their_type_read_as_tshark_shows_them(name: str) -> None:
    """Cisco's NetFlow v9 sends samplerId (an unsigned8) in 2 bytes,
    Huawei's IPFIX in 4: read as the integers they are, into the uint8
    column when they fit (the default policy does not fail), as tshark
    shows them."""
    path = PCAPS / name
    cmd = ["tshark", "-r", str(path), "-n", "-T", "fields", "-e", "cflow.sampler_id"]
    cmd += ["-d", "udp.port==9991,cflow", "-d", "udp.port==9992,cflow"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    want = sorted(int(v) for v in out.replace(",", "\n").split())
    assert want
    df = ff.read_ipfix(path, records="all")
    assert str(df["samplerId"].dtype) == "uint8[pyarrow]"
    assert sorted(int(v) for v in df["samplerId"].dropna()) == want
    recs = [r for r in ff.iter_records(path) if "samplerId" in r]
    assert sorted(r["samplerId"] for r in recs) == want


def test_sessions_from_one_exporter_to_two_collectors_are_summed() -> None:
    """pmacct's capture, then the same packets again to another collector
    address: two transport sessions from one exporter. ``health.sequence``
    is keyed by (exporter, domain), so it sums them; no message is left
    out of it."""
    data = (PCAPS / "pmacct__100-IPFIXv10-CISCO--traffic-00.pcap").read_bytes()
    again = bytearray(data[24:])
    at = 0
    while at + 16 <= len(again):
        n = struct.unpack_from("<I", again, at + 8)[0]
        ip = at + 16 + 14  # Ethernet header
        assert again[ip] >> 4 == 4
        again[ip + 19] ^= 0xFF  # last octet of the destination address
        at += 16 + n
    r = ff.Reader(data + bytes(again))
    recs = list(r)
    alone = ff.Reader(data)
    once = list(alone)
    assert len(recs) == 2 * len(once)
    h = r.health
    assert h.messages == 2 * alone.health.messages
    assert sum(s.messages for s in h.sequence.values()) == h.messages
    assert list(h.sequence) == list(alone.health.sequence)
    for key, s in h.sequence.items():
        one = alone.health.sequence[key]
        assert (s.messages, s.records, s.gaps) == (2 * one.messages, 2 * one.records, 2 * one.gaps)


def test_withdrawals_over_udp_are_ignored(tmp_path: Path) -> None:
    """RFC 7011 §8.4: over UDP a template is not withdrawn (it expires).
    ipfixcol's file with a withdrawal of every template of its domain
    inserted after its first message: as UDP datagrams in a capture the
    withdrawal is counted and ignored, every record decodes; as a file
    (a reliable transport) it applies and later data misses templates."""
    from test_netflow import pcap

    data = (TESTS / "data" / "ipfix" / "ipfixcol__02-odid4.ipfix").read_bytes()
    msgs, at = [], 0
    while at < len(data):
        n = struct.unpack_from("!H", data, at + 2)[0]
        msgs.append(data[at : at + n])
        at += n
    head = msgs[0][:16]
    # All-templates withdrawal (RFC 7011 §8.1): template id 2, no fields.
    withdraw = struct.pack("!HH", 10, 24) + head[4:16] + struct.pack("!HHHH", 2, 8, 2, 0)
    stream = [msgs[0], withdraw, *msgs[1:]]
    want = list(ff.iter_records(data))
    pcap(stream, tmp_path / "w.pcap")
    r = ff.Reader(tmp_path / "w.pcap")
    assert list(r) == want
    assert (r.health.withdrawals_ignored, r.health.templates_withdrawn) == (1, 0)
    f = ff.Reader(b"".join(stream), on_bad_records="skip")
    got = list(f)
    assert f.health.withdrawals_ignored == 0 and f.health.templates_withdrawn > 0
    assert len(got) < len(want) and f.health.sets_missing_template > 0


def test_columns_asked_for_are_exactly_those() -> None:
    """With ``columns=``, a capture's DataFrame has exactly the columns
    named, in that order: the exporter columns only when named (where they
    were named), filled from the packets' senders."""
    pytest.importorskip("pandas")
    path = PCAPS / "pmacct__111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources--traffic-01.pcap"
    plain = ff.read_ipfix(path, columns=["octetDeltaCount", "packetDeltaCount"])
    assert list(plain.columns) == ["octetDeltaCount", "packetDeltaCount"]
    cols = ["exporterTransportPort", "octetDeltaCount", "exporterIPv6Address", "packetDeltaCount"]
    named = ff.read_ipfix(path, columns=cols)
    assert list(named.columns) == cols
    full = ff.read_ipfix(path)
    for c in cols:
        assert named[c].tolist() == full[c].tolist(), c
    metas = [m for m, _ in ff.iter_records(path, records="data", meta=True)]
    assert [
        (a, int(p))
        for a, p in zip(named["exporterIPv6Address"], named["exporterTransportPort"], strict=True)
    ] == [m.exporter for m in metas]
    # by_template frames carry their templates' columns only.
    frames = ff.read_ipfix(path, columns=cols, by_template=True)
    assert frames and all("exporterTransportPort" not in f.columns for f in frames.values())


def test_a_16_byte_timeval_timestamp_is_reported_not_fatal() -> None:
    """pmacct can send flowStartMicroseconds as a 16-byte struct timeval,
    a length RFC 7011 does not allow for dateTimeMicroseconds (8): the
    record path keeps the 16 octets as they are, the Arrow path counts a
    malformed value (or raises naming the field and offset by default),
    and every other field decodes."""
    secs, usecs = 1_700_000_000, 123_456
    template = struct.pack("!HHHH", 2, 16, 256, 2) + struct.pack("!HHHH", 154, 16, 2, 8)
    record = struct.pack("!QQQ", secs, usecs, 42)
    data_set = struct.pack("!HH", 256, 4 + len(record)) + record
    body = template + data_set
    msg = struct.pack("!HHIII", 10, 16 + len(body), secs, 0, 1) + body
    (rec,) = list(ff.iter_records(msg))
    assert rec["packetDeltaCount"] == 42
    assert rec["flowStartMicroseconds"] == struct.pack("!QQ", secs, usecs)
    scan = ff.scan_ipfix(msg, on_bad_records="skip")
    table = scan.to_arrow()
    assert table.column("packetDeltaCount").to_pylist() == [42]
    assert table.column("flowStartMicroseconds").to_pylist() == [None]
    assert scan.health.malformed_values == 1
    with pytest.raises(ff.DecodeError, match="flowStartMicroseconds"):
        ff.read_ipfix(msg)
