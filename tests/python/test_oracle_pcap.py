"""ferrofix's decode of the IPFIX in real export captures against tshark.

The captures (tests/data/pcap/, provenance in tests/data/SOURCES.md) hold
IPFIX exports over UDP, some from several exporters.  ferrofix does not read
captures of exports yet, so the set-up extracts the UDP payloads with tshark
(the test is skipped when tshark is not installed):

    tshark -r CAPTURE -n --disable-protocol cflow -Y "udp && !icmp && !icmpv6" \
           -T fields -E occurrence=f -e frame.number -e ip.src -e ipv6.src \
           -e udp.srcport -e udp.payload

(cflow off: it dissects sampled frames inside IPFIX records into more ip/udp
fields.)  Payloads are grouped by exporter (source address, source UDP port)
in capture order; each exporter is one transport session (RFC 7011 section
8 scopes templates to it), so its IPFIX messages (version 10; NetFlow v9/v5
datagrams are skipped) are concatenated into one stream and decoded by a
Reader of its own.  A case made of several captures (a template capture,
then its data) reads them in order.

The oracle, Wireshark's cflow dissector run over the same captures by
scripts/oracle_pcap.py, is committed under tests/data/oracle/pcap/; per
exporter we check the datagrams it found, then, record by record, the
message index, observation domain, template ID, offset in the exporter's
stream, export time, the (PEN, IE) list and every value through
``oracle.compare_tshark``, with test_oracle.py's minimum compared share.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from test_oracle import ALLOWED_SKIPS, MIN_COMPARED

import ferrofix as ff
import oracle as oc

CASES = oc.load_pcap_cases()
UDP_FILTER = "udp && !icmp && !icmpv6"
FIELDS = ["frame.number", "ip.src", "ipv6.src", "udp.srcport", "udp.payload"]

Exporter = tuple[str, int]


@dataclass
class Stream:
    """One exporter's IPFIX datagrams, in capture order."""

    frames: list[tuple[int, int]] = field(default_factory=list)  # (file index, frame)
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Extracted:
    streams: dict[Exporter, Stream]  # in order of first IPFIX datagram
    skipped: list[tuple[int, int, int]]  # (file, frame, version) of non-IPFIX payloads


def udp_payloads(path: str) -> list[tuple[int, Exporter, bytes]]:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed: cannot extract the export payloads")
    cmd = [tshark, "-r", path, "-n", "--disable-protocol", "cflow", "-Y", UDP_FILTER]
    cmd += ["-T", "fields", "-E", "occurrence=f", "-E", "separator=/t"]
    for name in FIELDS:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    got = []
    for line in out.splitlines():
        frame, ip4, ip6, port, payload = line.split("\t")
        got.append((int(frame), (ip4 or ip6, int(port)), bytes.fromhex(payload)))
    return got


@cache
def extract(case: oc.PcapCase) -> Extracted:
    streams: dict[Exporter, Stream] = {}
    skipped = []
    for file, path in enumerate(case.paths()):
        for frame, exporter, payload in udp_payloads(str(path)):
            version = int.from_bytes(payload[:2], "big")
            if version != 10:  # NetFlow v9/v5: not IPFIX
                skipped.append((file, frame, version))
                continue
            stream = streams.setdefault(exporter, Stream())
            stream.frames.append((file, frame))
            stream.data += payload
    return Extracted(streams, skipped)


def decode(data: bytes) -> list[tuple[Any, list[tuple[int, int, Any]]]]:
    reader = ff.Reader(data, on_bad_records="skip")
    return list(reader.records(meta=True, as_="fields", records="all"))


def _exporter(item: dict[str, Any]) -> Exporter:
    addr, port = item["exporter"]
    return addr, port


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def compare_fields(
    fields: list[tuple[int, int, Any]],
    rec: dict[str, Any],
    where: str,
    skipped: Counter[str],
    mismatches: list[str],
) -> tuple[int, int]:
    """Compare one record's values with tshark's; (fields seen, compared)."""
    total = compared = 0
    for i, ((pen, fid, value), f) in enumerate(zip(fields, rec["fields"], strict=True)):
        extra = f[5] if len(f) > 5 else None
        verdict = oc.compare_tshark(value, f[2], f[3], f[4], pen, fid, extra)
        if isinstance(verdict, str) and f[2] is None:
            bits = oc.compare_tshark_bitfields(value, extra)
            verdict = verdict if isinstance(bits, str) else bits
        total += 1
        if isinstance(verdict, str):
            skipped[verdict] += 1
            continue
        compared += 1
        if not verdict:
            theirs_shown = f[2] if f[2] is not None else extra
            mismatches.append(
                f"{where} field {i} ({pen}/{fid} {f[3]}): "
                f"ferrofix {_show(value)} vs tshark {theirs_shown!r}"
            )
    return total, compared


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_same_datagrams_as_tshark(case: oc.PcapCase) -> None:
    """Our extraction sees the exporters and IPFIX datagrams cflow decoded."""
    oracle = oc.load_tshark_pcap(case.name)
    got = extract(case)
    assert list(got.streams) == [_exporter(s) for s in oracle["streams"]]
    for s in oracle["streams"]:
        exporter = _exporter(s)
        frames = [(m["file"], m["frame"]) for m in oracle["messages"] if _exporter(m) == exporter]
        stream = got.streams[exporter]
        assert stream.frames == frames, f"exporter {exporter}: datagrams differ"
        assert (len(stream.frames), len(stream.data)) == (s["messages"], s["bytes"])
    # cflow's non-IPFIX datagrams (NetFlow v9) are what we skipped.
    ours = {(f, n): v for f, n, v in got.skipped}
    for s in oracle["skipped"]:
        assert ours.get((s["file"], s["frame"])) == s["version"], s


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_records_against_tshark(case: oc.PcapCase) -> None:
    oracle = oc.load_tshark_pcap(case.name)
    got = extract(case)
    total = compared = 0
    skipped: Counter[str] = Counter()
    mismatches: list[str] = []
    decoded = 0
    for exporter, stream in got.streams.items():
        ours = decode(bytes(stream.data))
        decoded += len(ours)
        theirs = [r for r in oracle["records"] if _exporter(r) == exporter]
        assert len(ours) == len(theirs), (
            f"exporter {exporter}: {len(ours)} records, tshark decoded {len(theirs)}"
        )
        export = {
            m["index"]: m["export_time"] for m in oracle["messages"] if _exporter(m) == exporter
        }
        for n, ((meta, fields), rec) in enumerate(zip(ours, theirs, strict=True)):
            where = (
                f"exporter {exporter} record {n} (msg {rec['msg']}, template {rec['template_id']})"
            )
            got_id = (meta.message_index, meta.observation_domain_id, meta.template_id, meta.offset)
            assert got_id == (rec["msg"], rec["odid"], rec["template_id"], rec["offset"]), (
                f"{where}: (message, domain, template, offset) {got_id}"
            )
            assert int(meta.export_time.timestamp()) == export[rec["msg"]], f"{where}: export time"
            assert [(p, i) for p, i, _v in fields] == [(f[0], f[1]) for f in rec["fields"]], (
                f"{where}: fields (PEN, IE) differ"
            )
            t, c = compare_fields(fields, rec, where, skipped, mismatches)
            total += t
            compared += c
    assert decoded == len(oracle["records"]), "records per capture"
    unexplained = set(skipped) - ALLOWED_SKIPS["tshark"]
    assert not unexplained, f"fields not compared for reasons not allowed: {dict(skipped)}"
    assert not mismatches, (
        f"{len(mismatches)} of {compared} compared fields differ from tshark:\n"
        + "\n".join(mismatches[:25])
    )
    if total:
        need = MIN_COMPARED["tshark"]
        assert compared / total >= need, (
            f"only {compared}/{total} fields ({compared / total:.0%}) compared with tshark, "
            f"need {need:.0%}; skipped: {dict(skipped)}"
        )


def _packets(data: bytes) -> int:
    """Packets in a capture, counted by a walk of its records (classic pcap
    headers or pcapng packet blocks): numbers the frames of a second file."""
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        n = at = 0
        big = data[8:12] == b"\x1a\x2b\x3c\x4d"
        while at + 8 <= len(data):
            kind, length = struct.unpack_from(">II" if big else "<II", data, at)
            n += kind in (2, 3, 6)
            at += length
        return n
    order = ">" if data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d") else "<"
    n, at = 0, 24
    while at + 16 <= len(data):
        at += 16 + struct.unpack_from(order + "I", data, at + 8)[0]
        n += 1
    return n


def _as_one_capture(paths: list[Path]) -> tuple[bytes, list[int]]:
    """The case's captures as one capture (classic pcap files after the
    first lose their file header; pcapng files are sections already), and
    the frame number each file starts after."""
    out = bytearray()
    starts = []
    before = 0
    for i, path in enumerate(paths):
        data = path.read_bytes()
        starts.append(before)
        before += _packets(data)
        pcapng = data[:4] == b"\x0a\x0d\x0d\x0a"
        out += data if i == 0 or pcapng else data[24:]
    return bytes(out), starts


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_capture_read_directly_against_tshark(case: oc.PcapCase) -> None:
    """``ff.Reader`` reads the capture itself (no tshark at test time):
    per exporter, the records of the IPFIX datagrams tshark decoded, in
    order, with their packet, domain, template, export time and every value
    as in the committed oracle (NetFlow v9 records of the same captures,
    which the oracle leaves out, are set aside by packet)."""
    oracle = oc.load_tshark_pcap(case.name)
    data, starts = _as_one_capture(case.paths())
    reader = ff.Reader(data, on_bad_records="skip")
    ours = list(reader.records(meta=True, as_="fields", records="all"))
    frames = {(starts[m["file"]] + m["frame"]) for m in oracle["messages"]}
    ours = [(meta, fields) for meta, fields in ours if meta.frame in frames]
    frame_of = {
        (_exporter(m), m["index"]): starts[m["file"]] + m["frame"] for m in oracle["messages"]
    }
    export = {(_exporter(m), m["index"]): m["export_time"] for m in oracle["messages"]}
    total = compared = 0
    skipped: Counter[str] = Counter()
    mismatches: list[str] = []
    for s in oracle["streams"]:
        exporter = _exporter(s)
        mine = [(m, f) for m, f in ours if m.exporter == exporter]
        theirs = [r for r in oracle["records"] if _exporter(r) == exporter]
        assert len(mine) == len(theirs), f"exporter {exporter}: {len(mine)} vs {len(theirs)}"
        for n, ((meta, fields), rec) in enumerate(zip(mine, theirs, strict=True)):
            where = f"exporter {exporter} record {n} (msg {rec['msg']})"
            key = (exporter, rec["msg"])
            got = (meta.frame, meta.observation_domain_id, meta.template_id)
            assert got == (frame_of[key], rec["odid"], rec["template_id"]), where
            assert int(meta.export_time.timestamp()) == export[key], f"{where}: export time"
            assert [(p, i) for p, i, _v in fields] == [(f[0], f[1]) for f in rec["fields"]], where
            t, c = compare_fields(fields, rec, where, skipped, mismatches)
            total += t
            compared += c
    assert sum(len([r for r in oracle["records"]]) for _ in [0]) == len(ours)
    assert not mismatches, "\n".join(mismatches[:25])
    if total:
        assert compared / total >= MIN_COMPARED["tshark"], dict(skipped)
    assert not set(skipped) - ALLOWED_SKIPS["tshark"], dict(skipped)


SAMPLING = {34, 35, 48, 49, 50, 302, 304, 305, 306, 309, 310}
PARAMETERS = SAMPLING - {48, 302}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_sampling_per_exporter_as_tshark_shows_it(case: oc.PcapCase) -> None:
    """Sampling parameters of options records (samplingPacketInterval,
    samplingPopulation, samplerRandomInterval, ...) per exporter, domain
    and selector: the latest values tshark decoded, as ``health.sampling``."""
    oracle = oc.load_tshark_pcap(case.name)
    want: dict[tuple[Any, ...], dict[int, int]] = {}
    for r in oracle["records"]:
        fields = {f[1]: f[2] for f in r["fields"] if f[0] == 0 and f[1] in SAMPLING}
        if not fields.keys() & PARAMETERS:
            continue  # a data record naming its selector, not a sampler's parameters
        addr, port = _exporter(r)
        name = f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
        selector = int(fields.get(302, fields.get(48, "0")))
        want[(name, r["odid"], selector)] = {k: int(v, 0) for k, v in fields.items()}
    data, _starts = _as_one_capture(case.paths())
    reader = ff.Reader(data, on_bad_records="skip")
    list(reader.records(records="all"))
    got = {
        key: {ff.describe(name)[0].id: v for name, v in values.items()}
        for key, values in reader.health.sampling.items()
    }
    assert got == want
