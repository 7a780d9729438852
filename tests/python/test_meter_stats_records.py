"""The meter's statistics as IPFIX options records (docs/meter.md, "IPFIX
out"; RFC 7011 §4.1 and §4.2), read back by independent decoders and
held to counts that do not come from ferrofix: libfixbuf's ipfixDump
lists a written file's messages, records and options records, tshark's
IPFIX dissector reads a UDP export's datagrams, the file's size gives its
octets, and tshark's reading of the capture itself gives the IP packets
whose header could not be read. Tests needing a tool skip without it."""

from __future__ import annotations

import functools
import shutil
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import craft
import meter_oracle as mo
import pandas as pd
import pytest
import zstandard

import ferrofix as ff
import oracle_dump as od

NAME = "nfstream__1kxun.pcap"  # enough records for several messages of UDP export
CAP = mo.capture_path(NAME) or Path(NAME)

# IANA element ids (RFC 7011 §4.1, §4.2).
OBSERVATION_DOMAIN_ID = 149
EXPORTED_OCTETS, EXPORTED_MESSAGES, EXPORTED_FLOW_RECORDS = 40, 41, 42
IGNORED_PACKETS, IGNORED_OCTETS = 164, 165
OBSERVATION_TIME_NS = 325

needs_ipfixdump = pytest.mark.skipif(
    shutil.which("ipfixDump") is None, reason="ipfixDump is not installed"
)


@functools.cache
def _metered() -> int:
    """The flow records the meter makes of the capture (its DataFrame's
    rows): what every way of writing them must hold, statistics or not."""
    return len(ff.meter(CAP))


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "ferrofix", "meter", str(CAP), "--no-progress", *args],
        capture_output=True,
        check=False,
    )


def _ipfixdump(path: Path) -> od.IpfixDump:
    proc = subprocess.run(["ipfixDump", "--in", str(path)], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return od.parse_ipfixdump(proc.stdout, proc.stderr.decode(errors="replace"))


def _is_options(dump: od.IpfixDump, rec: od.DumpRecord) -> bool:
    """Whether ipfixDump listed the record's template with a scope field."""
    fields = dump.templates.get((rec.odid, rec.template_id or -1), [])
    return any(f[4] for f in fields)


def _values(rec: od.DumpRecord) -> dict[int, int]:
    return {f.id: int(f.text.strip()) for f in rec.fields if f.pen == 0}


def _ip_header_unread_frames(capture: Path) -> list[tuple[int, int]]:
    """tshark's frames whose link layer hands over to IPv4 or IPv6 but
    whose IP header it could not read (no source address): the IP packets
    a meter observes and cannot process, as (frame length on the wire,
    capture time in ns)."""
    fields = ("frame.protocols", "ip.src", "ipv6.src", "frame.len", "frame.time_epoch")
    out = []
    for protocols, v4, v6, length, epoch in craft.tshark_fields(capture, *fields):
        layers = protocols.split(":")
        if ("ip" in layers or "ipv6" in layers) and not v4 and not v6:
            out.append((int(length), craft.epoch_ns(epoch)))
    return out


def _ip_header_unread(capture: Path) -> int:
    return len(_ip_header_unread_frames(capture))


def _tshark_time_ns(text: str) -> int:
    """tshark's absolute time ("Jan  1, 1970 00:00:01.100000000 UTC")
    in ns since the epoch, exactly."""
    whole, _, rest = text.partition(".")
    fraction = rest.split()[0]
    t = datetime.strptime(" ".join(whole.split()), "%b %d, %Y %H:%M:%S").replace(tzinfo=UTC)
    return craft.epoch_ns(f"{int(t.timestamp())}.{fraction}")


def _messages(path: Path) -> list[bytes]:
    """An IPFIX file's messages (RFC 7011 §3.1 framing)."""
    data = path.read_bytes()
    return [data[off : off + n] for off, n, _, _ in od.stream_messages(data)]


@needs_ipfixdump
@pytest.mark.parametrize("workers", [1, 2])
def test_a_files_statistics_count_what_ipfixdump_reads_in_it(tmp_path: Path, workers: int) -> None:
    """One record of each options template, after every flow record, in
    the last message: its counts are of the messages before it (IANA's
    definitions of exportedMessageTotalCount, exportedFlowRecordTotalCount,
    exportedOctetTotalCount exclude the message carrying them), as
    ipfixDump lists them and as the file's size says; with two workers
    (reading the capture themselves) too."""
    path = tmp_path / "flows.ipfix"
    ff.Meter(CAP, workers=workers).write_ipfix(path)
    dump = _ipfixdump(path)
    flows = [r for r in dump.records if not _is_options(dump, r)]
    stats = [r for r in dump.records if _is_options(dump, r)]
    assert len(flows) == _metered() > 0
    assert len(stats) == 2
    last = len(dump.messages) - 1
    assert all(r.msg == last for r in stats)
    assert all(r.msg < last for r in flows)
    # Each template's one scope field is the domain the flows are in.
    for r in stats:
        assert r.fields[0].scope and r.fields[0].id == OBSERVATION_DOMAIN_ID
    assert {int(r.fields[0].text) for r in stats} == {flows[0].odid}
    counts = _values(stats[0]) | _values(stats[1])
    assert counts[EXPORTED_MESSAGES] == last
    assert counts[EXPORTED_FLOW_RECORDS] == len(flows)
    assert counts[EXPORTED_OCTETS] == path.stat().st_size - dump.messages[-1].length
    assert counts[IGNORED_PACKETS] == _ip_header_unread(CAP)


def _udp_datagrams(**options: object) -> list[bytes]:
    """The datagrams of the capture's export to a socket, taken as they
    come by a thread (a host's receive buffer may hold few of them)."""
    datagrams: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        rx.settimeout(0.5)
        done = threading.Event()

        def receive() -> None:
            while True:
                try:
                    datagrams.append(rx.recv(65535))
                except TimeoutError:
                    if done.is_set():
                        return

        t = threading.Thread(target=receive)
        t.start()
        url = f"udp://127.0.0.1:{rx.getsockname()[1]}"
        try:
            ff.Meter(CAP).write_ipfix(export=url, **options)  # type: ignore[arg-type]
        finally:
            done.set()
            t.join(10)
    return datagrams


def _tshark_cflow(tmp_path: Path, datagrams: list[bytes], fields: list[str]) -> list[list[str]]:
    """tshark's IPFIX (cflow) fields of each datagram, put in a capture
    for its dissector, a row a datagram (skips without tshark); a field's
    occurrences are separated by ";" (a time has commas of its own)."""
    udp = [craft.udp(40000, 4739, d) for d in datagrams]
    frames = [
        (1 + i / 1000, craft.ether(craft.ipv4("10.0.0.1", "10.0.0.2", 17, u)))
        for i, u in enumerate(udp)
    ]
    pcap = craft.write_pcap(tmp_path / "export.pcap", frames)
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    # Every template decoded, however many fields (the default refuses
    # templates of more than 60, as the TCP records' are).
    args = ["tshark", "-r", str(pcap), "-o", "cflow.max_template_fields:0", "-T", "fields"]
    args += ["-E", "aggregator=;"]
    for f in fields:
        args += ["-e", f"cflow.{f}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_udp_export_sends_statistics_at_each_refresh_as_tshark_reads_them(
    tmp_path: Path,
) -> None:
    """Over UDP the templates are sent again every 3 messages here, and
    the statistics follow each refresh and the last flow record. The
    datagrams received are put in a capture for tshark's IPFIX (cflow)
    dissector; every statistics record must count the messages, flow
    records (flowIds) and message octets tshark reads before its own
    message."""
    datagrams = _udp_datagrams(template_refresh=3, template_refresh_timeout=0)
    fields = ["len", "flow_id", "packetsexp", "flowsexp", "octetsexp", "ignore_packets"]
    rows = _tshark_cflow(tmp_path, datagrams, fields)
    assert len(rows) == len(datagrams)
    messages = flows = octets = 0
    seen = []
    for length, flow_ids, msgs, recs, octs, ignored in rows:
        if msgs:
            assert (int(msgs), int(recs), int(octs)) == (messages, flows, octets)
            assert int(ignored) == _ip_header_unread(CAP)
            seen.append(messages)
        messages += 1
        flows += len(flow_ids.split(";")) if flow_ids else 0
        octets += int(length)
    assert flows == _metered()
    # Periodic statistics, then the last ones after every flow record.
    assert len(seen) > 2
    assert rows[-1][2], "the last message carries the statistics"


def _crafted(tmp_path: Path, snaplen: int = 65535) -> Path:
    """Two good UDP packets around IP packets whose header cannot be read
    (IHL 3, an IPv4 header cut at 12 octets, an IPv6 header cut at 20),
    an ARP frame and a frame that ends inside its Ethernet header (neither
    is an IP packet); every frame cut to `snaplen` (24: inside every IP
    header, the good packets' too)."""
    dgram = craft.udp(5000, 6000, b"hello")
    good = craft.ether(craft.ipv4("10.0.0.1", "10.0.0.2", 17, dgram))
    ihl3 = bytearray(craft.ipv4("10.0.0.1", "10.0.0.2", 17, dgram))
    ihl3[0] = 0x43
    cut4 = craft.ipv4("10.0.0.1", "10.0.0.2", 17, dgram)[:12]
    cut6 = craft.ipv6("2001:db8::1", "2001:db8::2", 17, dgram)[:20]
    frames = [
        good,
        craft.ether(bytes(ihl3)),
        craft.ether(cut4),
        craft.ether(cut6, 0x86DD),
        craft.ether(bytes(28), 0x0806),
        bytes(10),
        good,
    ]
    timed = [(1 + i / 10, f) for i, f in enumerate(frames)]
    return craft.write_pcap(tmp_path / "bad-ip.pcap", timed, snaplen=snaplen)


@needs_ipfixdump
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(("snaplen", "n_unread", "n_flows"), [(65535, 3, 1), (24, 5, 0)])
def test_ignored_packets_are_the_ip_packets_tshark_cannot_read_either(
    tmp_path: Path, workers: int, snaplen: int, n_unread: int, n_flows: int
) -> None:
    """The count, their octets on the wire (the frames' length less the
    Ethernet header, 14 octets: the crafted frames have no VLAN tag) and
    the times of the first and last, as tshark reads the capture; in the
    statistics records as ipfixDump and tshark's IPFIX dissector read the
    file (ipfixDump 2.4 prints a dateTimeNanoseconds' seconds only), and
    in ``Meter.stats``. Cut by a snaplen, a packet's octets are still
    those on the wire."""
    capture = _crafted(tmp_path, snaplen)
    unread = _ip_header_unread_frames(capture)
    assert len(unread) == n_unread, "tshark reads the crafted capture as built"
    octets = sum(length - 14 for length, _ in unread)
    first, last = min(t for _, t in unread), max(t for _, t in unread)
    assert first < last
    path = tmp_path / "flows.ipfix"
    meter = ff.Meter(capture, workers=workers)
    meter.write_ipfix(path)
    stats = meter.stats
    assert stats["not_ip"]["malformed_ip"] == len(unread)
    assert stats["malformed_ip_octets"] == octets
    assert (stats["malformed_ip_first_ns"], stats["malformed_ip_last_ns"]) == (first, last)
    dump = _ipfixdump(path)
    counts: dict[int, int] = {}
    seconds: list[int] = []
    for r in dump.records:
        if _is_options(dump, r):
            counts |= {f.id: int(f.text.strip()) for f in r.fields if f.id != OBSERVATION_TIME_NS}
            # "1970-01-01 00:00:01.000000000": the seconds.
            seconds += [
                int(datetime.fromisoformat(f.text.strip()[:19] + "+00:00").timestamp())
                for f in r.fields
                if f.id == OBSERVATION_TIME_NS
            ]
    assert counts[IGNORED_PACKETS] == len(unread)
    assert counts[IGNORED_OCTETS] == octets
    assert counts[EXPORTED_FLOW_RECORDS] == n_flows
    assert seconds == [first // 10**9, last // 10**9]
    fields = ["ignore_packets", "ignore_octets", "observation_time_nanoseconds"]
    rows = [r for r in _tshark_cflow(tmp_path, _messages(path), fields) if r[0]]
    assert len(rows) == 1
    packets, ignored_octets, observed = rows[0]
    assert (int(packets), int(ignored_octets)) == (len(unread), octets)
    assert [_tshark_time_ns(t) for t in observed.split(";")] == [first, last]


def test_with_nothing_ignored_the_statistics_make_up_no_time(tmp_path: Path) -> None:
    """A capture of good packets only: the reliability record counts none
    and carries no observation time (template 4353, not 4354), as
    tshark's IPFIX dissector reads the file."""
    path = tmp_path / "flows.ipfix"
    meter = ff.Meter(CAP)
    meter.write_ipfix(path)
    assert _ip_header_unread(CAP) == 0
    assert meter.stats["malformed_ip_first_ns"] is None
    fields = ["template_id", "ignore_packets", "ignore_octets", "observation_time_nanoseconds"]
    rows = [r for r in _tshark_cflow(tmp_path, _messages(path), fields) if r[1]]
    assert [r[1:] for r in rows] == [["0", "0", ""]]


@needs_ipfixdump
def test_stats_false_and_the_command_lines_flag_write_flow_records_only(
    tmp_path: Path,
) -> None:
    plain = tmp_path / "plain.ipfix"
    ff.Meter(CAP).write_ipfix(plain, stats=False)
    cli_default = tmp_path / "cli.ipfix"
    cli_plain = tmp_path / "cli-plain.ipfix"
    assert _cli("-o", str(cli_default)).returncode == 0
    assert _cli("-o", str(cli_plain), "--no-stats-records").returncode == 0
    for path, options in ((plain, 0), (cli_plain, 0), (cli_default, 2)):
        dump = _ipfixdump(path)
        assert sum(_is_options(dump, r) for r in dump.records) == options, path.name
        assert len(dump.records) == _metered() + options


def test_the_flag_goes_with_ipfix_out_only(tmp_path: Path) -> None:
    r = _cli("-o", str(tmp_path / "f.csv"), "--no-stats-records")
    assert r.returncode == 2
    assert b"--no-stats-records goes with IPFIX out" in r.stderr
    assert not (tmp_path / "f.csv").exists()


def test_read_ipfix_gives_the_same_flows_with_or_without_statistics(tmp_path: Path) -> None:
    """Options records are no rows of the flow table; ``records="options"``
    reads them (two rows, one per template)."""
    with_stats = ff.Meter(CAP).write_ipfix(tmp_path / "a.ipfix")
    assert with_stats is None
    ff.Meter(CAP).write_ipfix(tmp_path / "b.ipfix", stats=False)
    pd.testing.assert_frame_equal(
        ff.read_ipfix(tmp_path / "a.ipfix"), ff.read_ipfix(tmp_path / "b.ipfix")
    )
    opts = ff.read_ipfix(tmp_path / "a.ipfix", records="options")
    assert len(opts) == 2
    assert len(ff.read_ipfix(tmp_path / "b.ipfix", records="options")) == 0


# A domain above 2**31 (unsigned32 all the way) that no default gives.
DOMAIN = 4_000_000_001


def _all_in_domain(path: Path, domain: int) -> od.IpfixDump:
    """ipfixDump's reading of `path`, after checking that every message,
    every template and every record is of observation domain `domain`
    and that the statistics' scope names it."""
    dump = _ipfixdump(path)
    assert dump.messages and {m.odid for m in dump.messages} == {domain}
    assert dump.templates and {odid for odid, _ in dump.templates} == {domain}
    assert {r.odid for r in dump.records} == {domain}
    stats = [r for r in dump.records if _is_options(dump, r)]
    assert len(stats) == 2
    assert {int(r.fields[0].text) for r in stats} == {domain}
    return dump


@needs_ipfixdump
@pytest.mark.parametrize("workers", [1, 2])
def test_the_observation_domain_is_every_messages_and_the_statistics_scope(
    tmp_path: Path, workers: int
) -> None:
    path = tmp_path / "flows.ipfix"
    ff.Meter(CAP, workers=workers).write_ipfix(path, observation_domain_id=DOMAIN)
    dump = _all_in_domain(path, DOMAIN)
    flows = [r for r in dump.records if not _is_options(dump, r)]
    assert len(flows) == _metered()
    # The counts are of the domain's messages, as in domain 0.
    counts = _values(dump.records[-2]) | _values(dump.records[-1])
    assert counts[EXPORTED_FLOW_RECORDS] == len(flows)
    assert counts[EXPORTED_MESSAGES] == len(dump.messages) - 1


@needs_ipfixdump
def test_the_command_lines_observation_domain(tmp_path: Path) -> None:
    path = tmp_path / "cli.ipfix.zst"
    r = _cli("-o", str(path), "--observation-domain", str(DOMAIN))
    assert r.returncode == 0, r.stderr
    plain = tmp_path / "cli.ipfix"
    plain.write_bytes(ff.Meter(CAP).write_ipfix(observation_domain_id=DOMAIN) or b"")
    dump = _all_in_domain(plain, DOMAIN)
    cli = zstandard.decompress(path.read_bytes(), max_output_size=1 << 30)
    # The same messages, but for their export times (the two runs may
    # fall in different seconds).
    assert _without_export_times(cli) == _without_export_times(plain.read_bytes())
    assert len(dump.records) == _metered() + 2


def _without_export_times(data: bytes) -> bytes:
    """IPFIX messages with each header's export time (octets 4-7, RFC
    7011 §3.1) zeroed."""
    out = bytearray(data)
    messages = od.stream_messages(data)
    assert sum(n for _, n, _, _ in messages) == len(data)
    for off, _, _, _ in messages:
        out[off + 4 : off + 8] = bytes(4)
    return bytes(out)


def test_udp_export_in_a_domain_as_tshark_reads_it(tmp_path: Path) -> None:
    """Over UDP, tshark's IPFIX dissector reads every datagram's header
    as the domain's, the templates refreshed in it too."""
    datagrams = _udp_datagrams(observation_domain_id=DOMAIN, template_refresh=3)
    rows = _tshark_cflow(tmp_path, datagrams, ["od_id", "flow_id"])
    assert len(rows) == len(datagrams) > 3
    # A message's header, and the statistics' scope fields, name it.
    assert {v for odids, _ in rows for v in odids.split(";")} == {str(DOMAIN)}
    assert max(len(odids.split(";")) for odids, _ in rows) == 3
    assert sum(len(ids.split(";")) for _, ids in rows if ids) == _metered()


@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ValueError), (2**32, ValueError), ("7", TypeError), (7.0, TypeError), (True, TypeError)],
)
def test_an_observation_domain_out_of_range_is_refused_before_metering(
    tmp_path: Path, value: object, error: type[Exception]
) -> None:
    path = tmp_path / "x.ipfix"
    with pytest.raises(error, match="observation_domain_id"):
        ff.Meter(CAP).write_ipfix(path, observation_domain_id=value)  # type: ignore[arg-type]
    assert not path.exists()


def test_the_command_lines_observation_domain_goes_with_ipfix_out_in_range(
    tmp_path: Path,
) -> None:
    r = _cli("-o", str(tmp_path / "f.csv"), "--observation-domain", "3")
    assert r.returncode == 2
    assert b"--observation-domain goes with IPFIX out" in r.stderr
    r = _cli("-o", str(tmp_path / "f.ipfix"), "--observation-domain", str(2**32))
    assert r.returncode == 2
    assert b"--observation-domain" in r.stderr and b"Traceback" not in r.stderr
    assert not (tmp_path / "f.csv").exists() and not (tmp_path / "f.ipfix").exists()
