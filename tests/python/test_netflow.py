"""NetFlow v9 and v5 export payloads from real exporters (tests/data/netflow/,
provenance in tests/data/SOURCES.md) read by ferrofix, against Wireshark's
cflow dissector run live on the same datagrams.

A case is one exporter's files in order (templates first, then data); each
file holds one datagram (``netflow5.dat`` holds 12 v5 datagrams, split here
by the v5 header's count). ferrofix reads the files concatenated, as one
stream; tshark reads them wrapped in a pcap, one UDP datagram each, from one
exporter, so its template cache carries over as ferrofix's does. Every flow
tshark shows is compared with ferrofix's record at the same position, field
by field: every field tshark decodes (``netflow_oracle.py`` attaches each to
its template field by its bytes) must be in ferrofix's record as the same IE,
in the same place, with the same value (``oracle.compare_tshark``); times
are checked against tshark's own reading of the header (v9/v5
SysUpTime-relative ``timestart``/``timeend`` made absolute with the packet's
UNIX time and SysUpTime). Skipped where tshark is not installed (``make
test`` installs it on Debian).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import ferrofix as ff
import netflow_oracle as no
import oracle as oc
from netflow_oracle import tsh

DATA = Path(__file__).resolve().parents[1] / "data" / "netflow"
PCAPS = DATA.parent / "pcap"
FL = "fluent-plugin-netflow__netflow."
LS = "logstash-codec-netflow__netflow"

CASES: list[list[str]] = [
    [FL + "v5.dump"],
    [FL + "v9.template.dump", FL + "v9.dump"],
    [FL + "v9.template.flowStartMilliseconds.dump", FL + "v9.flowStartMilliseconds.dump"],
    [FL + "v9.mpls-template.dump", FL + "v9.mpls-data.dump"],
    [FL + "v9.sampler_template.dump", FL + "v9.sampler.dump"],
    [LS + "5.dat"],
    [LS + "5_test_juniper_mx80.dat"],
    [LS + "5_test_microtik.dat"],
    [LS + "9_cisco_asr1001x_tpl259.dat"],
    [LS + "9_test_0length_fields_tpl_data.dat"],
    [LS + "9_test_cisco_1941K9.dat"],
    [LS + "9_test_cisco_aci_tpl256-258.dat", LS + "9_test_cisco_aci_data256.dat"],
    [LS + "9_test_cisco_asa_1_tpl.dat", LS + "9_test_cisco_asa_1_data.dat"],
    [
        LS + "9_test_cisco_asa_2_tpl_26x.dat",
        LS + "9_test_cisco_asa_2_tpl_27x.dat",
        LS + "9_test_cisco_asa_2_data.dat",
    ],
    [
        LS + "9_test_cisco_asr9k_opttpl256.dat",
        LS + "9_test_cisco_asr9k_opttpl257.dat",
        LS + "9_test_cisco_asr9k_opttpl334.dat",
        LS + "9_test_cisco_asr9k_tpl260.dat",
        LS + "9_test_cisco_asr9k_tpl266.dat",
        LS + "9_test_cisco_asr9k_data256.dat",
        LS + "9_test_cisco_asr9k_data260.dat",
    ],
    [
        LS + "9_test_cisco_nbar_opttpl260.dat",
        LS + "9_test_cisco_nbar_tpl262.dat",
        LS + "9_test_cisco_nbar_data262.dat",
    ],
    [LS + "9_test_cisco_wlc_tpl.dat", LS + "9_test_cisco_wlc_data261.dat"],
    [LS + "9_test_field_layer2segmentid_tpl.dat", LS + "9_test_field_layer2segmentid_data.dat"],
    [
        LS + "9_test_fortigate_fortios_521_tpl.dat",
        LS + "9_test_fortigate_fortios_521_data256.dat",
        LS + "9_test_fortigate_fortios_521_data257.dat",
    ],
    [
        LS + "9_test_fortigate_fortios_542_appid_tpl258-269.dat",
        LS + "9_test_fortigate_fortios_542_appid_data258_262.dat",
    ],
    [LS + "9_test_huawei_netstream_tpl.dat", LS + "9_test_huawei_netstream_data.dat"],
    [LS + "9_test_iptnetflow_reduced_size_encoding_tpldata260.dat"],
    [LS + "9_test_juniper_srx_tplopt.dat"],
    [LS + "9_test_macaddr_tpl.dat", LS + "9_test_macaddr_data.dat"],
    [LS + "9_test_nprobe_tpl.dat", LS + "9_test_nprobe_data.dat"],
    [LS + "9_test_nprobe_dpi.dat"],
    [
        LS + "9_test_paloalto_81_tpl256-263.dat",
        LS + "9_test_paloalto_81_data257_1flowset_in_large_zerofilled_packet.dat",
    ],
    [LS + "9_test_paloalto_panos_tpl.dat", LS + "9_test_paloalto_panos_data.dat"],
    [LS + "9_test_softflowd_tpl_data.dat"],
    [LS + "9_test_streamcore_tpl_data256.dat"],
    [LS + "9_test_streamcore_tpl_data260.dat"],
    [
        LS + "9_test_ubnt_edgerouter_tpl.dat",
        LS + "9_test_ubnt_edgerouter_data1024.dat",
        LS + "9_test_ubnt_edgerouter_data1025.dat",
    ],
    [LS + "9_test_unknown_tpl266_292_data.dat"],
    [LS + "9_test_valid01.dat"],
]


def datagrams(name: str) -> list[bytes]:
    """The datagrams of a payload file: v5 ones split by their count."""
    data = (DATA / name).read_bytes()
    if struct.unpack_from("!H", data)[0] != 5:
        return [data]
    out = []
    while data:
        n = 24 + 48 * struct.unpack_from("!H", data, 2)[0]
        out.append(data[:n])
        data = data[n:]
    return out


def pcap(payloads: list[bytes], path: Path) -> None:
    """Classic pcap, Ethernet/IPv4/UDP from 192.0.2.1:40000 to port 2055."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, p in enumerate(payloads):
            udp = struct.pack("!HHHH", 40000, 2055, 8 + len(p), 0) + p
            ip = struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(udp),
                i,
                0,
                64,
                17,
                0,
                b"\xc0\0\2\1",
                b"\xc0\0\2\2",
            )
            frame = b"\0\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip + udp
            f.write(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame)


def expected_time(key: str, text: str, head: dict[str, Any]) -> datetime:
    if key.startswith("cflow.abstime"):
        whole, frac = text.removesuffix(" UTC").split(".")
        t = datetime.strptime(whole, "%b %d, %Y %H:%M:%S").replace(tzinfo=UTC)
        return t.replace(microsecond=int(frac[:6]))
    # SysUpTime-relative seconds: the packet's UNIX time minus how long
    # before the packet's SysUpTime the reading was, at the millisecond (v5
    # adds the header's nanoseconds). Both are 32-bit millisecond counters
    # that wrap (RFC 3954 §5.1), so the difference is taken modulo 2^32,
    # signed.
    now_ms = head["secs"] * 1000 + head["nsecs"] // 1_000_000
    back = (round(head["uptime"] * 1000) - round(float(text) * 1000)) % 2**32
    back = back - 2**32 if back >= 2**31 else back
    return datetime.fromtimestamp((now_ms - back) / 1000, UTC)


def _epoch(text: str) -> float:
    t = expected_time("cflow.abstime", text, {})
    return t.timestamp()


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[-1].split("__")[1])
def test_netflow_against_tshark(case: list[str], tmp_path: Path) -> None:
    payloads = [d for name in case for d in datagrams(name)]
    pcap(payloads, tmp_path / "x.pcap")
    reader = ff.Reader(b"".join(payloads), on_bad_records="skip")
    got = list(reader.records(records="all", as_="fields"))
    assert reader.health.malformed_values == 0, reader.health.problems
    assert check_against_tshark(tmp_path / "x.pcap", [2055], got) > 0


# The sampling options record ferrofix makes of a v5 header's sampling
# (observationDomainId, samplingAlgorithm, samplingInterval).
V5_SAMPLING = [(0, 149), (0, 35), (0, 34)]


def check_against_tshark(
    path: Path,
    ports: list[int],
    got: list[list[tuple[int, int, Any]]],
    first_frame: int = 1,
    ipfix: bool = False,
) -> int:
    """ferrofix's records (``records="all"``, ``as_="fields"``) against the
    flows tshark's cflow dissector shows in the capture at ``path`` (export
    to ``ports``), from packet ``first_frame`` on: the same number, in
    order; in each, every field tshark decodes (netflow_oracle.py) as the
    same IE at the same place, with the same value; no field but those.
    With ``ipfix``, IPFIX messages in the capture too. Returns the number
    of values compared."""
    flows, heads = no.run(path, ports, first_frame, ipfix=ipfix)
    # NetFlow v5 sampling, which tshark shows in the header, is an options
    # record in ferrofix: compare it with the header, then set it aside.
    sampled = [h for h in heads if int(tsh.get(h, "cflow.samplerate", "0"))]
    sampling = [r for r in got if [(p, i) for p, i, _v in r] == V5_SAMPLING]
    assert [(r[1][2], r[2][2]) for r in sampling] == [
        (int(tsh.get(h, "cflow.samplingmode")), int(tsh.get(h, "cflow.samplerate")))
        for h in sampled
    ]
    got = [r for r in got if r not in sampling]
    assert len(got) == len(flows), (len(got), len(flows))
    compared = 0
    skipped: Counter[str] = Counter()
    mismatches = []
    for i, (rec, flow) in enumerate(zip(got, flows, strict=True)):
        ies = [(f[0], f[1]) for f in flow.fields]
        assert [(p, n) for p, n, _v in rec] == ies, f"flow {i} (v{flow.version}): fields differ"
        for (pen, fid, value), f, uptime in zip(rec, flow.fields, flow.uptime, strict=True):
            verdict = _compare(value, f, uptime, flow.head)
            if isinstance(verdict, str):
                skipped[verdict] += 1
            elif not verdict:
                mismatches.append(
                    (i, f"{pen}/{fid}", f[3], f[2] if f[2] is not None else f[5], value)
                )
            else:
                compared += 1
    assert not mismatches, mismatches[:10]
    assert not set(skipped) - set(oc.TSHARK_SKIPS), dict(skipped)
    assert compared == sum(len(f.fields) for f in flows) - sum(skipped.values())
    return compared


def _compare(value: Any, f: list[Any], uptime: bool, head: dict[str, Any]) -> oc.Verdict:
    """One field: a SysUpTime time made absolute against tshark's reading of
    the header, anything else by oracle.compare_tshark."""
    pen, fid, text, key, ftype = f[:5]
    if not uptime:
        return oc.compare_tshark(value, text, key, ftype, pen, fid, f[5] if len(f) > 5 else None)
    if key is None:
        return oc.MISMATCH
    if key.startswith("cflow.abstime"):
        # tshark quirk: in a template with LAST_SWITCHED before
        # FIRST_SWITCHED it shows FIRST_SWITCHED's SysUpTime milliseconds
        # as an absolute time ("Jan 1, 1970 ...").
        key, text = "cflow.timestart", f"{_epoch(text):.3f}"
    return bool(value == expected_time(key, text, head))


AK = "akvorado__netflow--testdata--"
# NetFlow captures from ../shared/data (tests/data/pcap/, SOURCES.md), read
# as one capture each (templates before data, as akvorado's tests do).
CAPTURES: list[list[str]] = [
    [AK + "template.pcap", AK + "data.pcap"],
    [AK + "data+templates.pcap"],
    [AK + "icmp-template.pcap", AK + "icmp-data.pcap"],
    [
        AK + "multiplesamplingrates-options-template.pcap",
        AK + "multiplesamplingrates-options-data.pcap",
        AK + "multiplesamplingrates-template.pcap",
        AK + "multiplesamplingrates-data.pcap",
    ],
    [AK + "nat.pcap"],
    [AK + "nfv5.pcap"],
    [AK + "options-template.pcap", AK + "options-data.pcap"],
    [AK + "samplingrate-template.pcap", AK + "samplingrate-data.pcap"],
    ["scapy__netflowv9.pcap"],
    ["pmacct__101-NFv9-CISCO-cust_primitives--traffic-00.pcap"],
    ["pmacct__102-NFv9-CISCO-f2rd-pretag-sampling-reload--traffic-00.pcap"],
    ["pmacct__111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources--traffic-00.pcap"],
]


def one_capture(names: list[str]) -> bytes:
    """Classic pcap files as one (the later ones' file headers dropped)."""
    datas = [(PCAPS / n).read_bytes() for n in names]
    assert all(d[:4] == datas[0][:4] for d in datas), "one pcap format"
    return datas[0] + b"".join(d[24:] for d in datas[1:])


def udp_ports(path: Path) -> list[int]:
    out = subprocess.run(
        ["tshark", "-r", str(path), "-n", "-T", "fields", "-e", "udp.dstport"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted({int(p) for p in out.split()})


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("names", CAPTURES, ids=lambda c: c[-1].removesuffix(".pcap"))
def test_netflow_captures_against_tshark(names: list[str], tmp_path: Path) -> None:
    """Captures of NetFlow v9/v5 export traffic read directly (no template
    missing, nothing skipped) against tshark, on the capture followed by
    its packets again: tshark decodes no data that comes before its
    template (akvorado's data+templates packet has such a flowset, which
    ferrofix holds, then translates with its own packet's times), so the
    second pass, where every template is known, is compared with tshark,
    and the first pass must give the same records as the second."""
    from test_oracle_pcap import _packets

    data = one_capture(names)
    packets = _packets(data)
    twice = data + data[24:]
    path = tmp_path / "x.pcap"
    path.write_bytes(twice)
    r = ff.Reader(twice)
    got = list(r.records(records="all", meta=True, as_="fields"))
    assert got
    assert (r.health.sets_missing_template, r.health.problems_skipped) == (0, 0)
    assert r.health.malformed_values == 0
    first = [rec for m, rec in got if m.frame is not None and m.frame <= packets]
    second = [rec for m, rec in got if m.frame is not None and m.frame > packets]
    assert len(first) + len(second) == len(got)
    assert sorted(map(repr, first)) == sorted(map(repr, second))
    assert check_against_tshark(path, udp_ports(path), second, first_frame=packets + 1) > 0


@pytest.mark.parametrize(
    ("template", "data", "count"),
    [
        ("9_test_h3c_tpl3281.dat", "9_test_h3c_data3281.dat", 16),
        (
            "9_test_h3c_netstream_varstring_tpl3281.dat",
            "9_test_h3c_netstream_varstring_data3281.dat",
            1,
        ),
    ],
)
def test_h3c_records_match_the_packet_count(template: str, data: str, count: int) -> None:
    """H3C NetStream's templates declare IPv4 addresses of 2 bytes, on which
    tshark stops ("Malformed Packet"); ferrofix reads the records the packet
    header counts (RFC 3954 §5.1; these packets hold data only), with the
    odd-sized fields raw. The second exporter sends a variable-length VRF
    name (length 65535, as in IPFIX) beside FIRST/LAST_SWITCHED, whose
    records are rewritten field by field."""
    head = (DATA / (LS + data)).read_bytes()
    assert struct.unpack_from("!H", head, 2)[0] == count
    recs = list(ff.iter_records((DATA / (LS + template)).read_bytes() + head))
    assert len(recs) == count
    assert all(isinstance(r["octetDeltaCount"], int) for r in recs)
    assert all(r["flowStartMilliseconds"] <= r["flowEndMilliseconds"] for r in recs)


def test_malformed_netflow_names_what_and_where() -> None:
    """The logstash files malformed on purpose: v5 counts the payload does not
    hold. The error names the problem and its byte offset."""
    for name in [LS + "5_test_invalid01.dat", LS + "5_test_invalid02.dat"]:
        data = (DATA / name).read_bytes()
        count = struct.unpack_from("!H", data, 2)[0]
        with pytest.raises(ff.DecodeError) as e:
            list(ff.iter_records(data))
        if count > 30:
            # The count field (offset 2) is past v5's 30 records.
            assert e.value.offset == 2 and f"record count {count}" in str(e.value)
        else:
            # The count asks for more bytes than the payload holds.
            assert e.value.offset == 0 and f"{24 + 48 * count}" in str(e.value), str(e.value)
    # The v9 one only lies in its header count (2, for 3 templates and 3
    # records): the count is not used to frame v9 packets, so the 3 records
    # the packet holds are read, as tshark reads them.
    r = ff.Reader(DATA / (LS + "9_test_invalid01.dat"), on_bad_records="skip")
    assert len(list(r.records(records="all"))) == 3
    assert r.health.problems == []
