"""README claims about captures of export traffic with no other test: any
byte order, Linux cooked v2 and MPLS link layers, and plain files read
through a memory map. The captures are built here around the messages of a
real IPFIX file; tshark (where installed) must see each frame as IPFIX, and
ferrofix must read from each capture the records it reads from the file."""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from craft import checksum

import ferrofix as ff

FILE = Path(__file__).resolve().parents[1] / "data" / "ipfix" / "ipfixcol2__example_flows.ipfix"
SRC, DST = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 2])


def messages(data: bytes) -> list[bytes]:
    out, at = [], 0
    while at + 16 <= len(data):
        (length,) = struct.unpack_from("!H", data, at + 2)
        out.append(data[at : at + length])
        at += length
    return out


def ipv4_udp(payload: bytes, ident: int) -> bytes:
    udp = struct.pack("!HHHH", 40000, 4739, 8 + len(payload), 0) + payload
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident, 0, 64, 17, 0, SRC, DST)
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + udp


def ethernet_mpls(ip: bytes) -> bytes:
    # Two labels (RFC 3032): 100, then 200 with the bottom-of-stack bit.
    labels = struct.pack("!II", (100 << 12) | 64, (200 << 12) | (1 << 8) | 64)
    return bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + struct.pack("!H", 0x8847) + labels + ip


def sll2(ip: bytes) -> bytes:
    # Linux cooked v2: protocol, reserved, ifindex, ARPHRD, type, addr len, addr.
    return struct.pack("!HHIHBB8s", 0x0800, 0, 3, 1, 0, 6, bytes([2, 0, 0, 0, 0, 1, 0, 0])) + ip


def pcap(frames: list[bytes], linktype: int, endian: str) -> bytes:
    out = [struct.pack(endian + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for i, f in enumerate(frames):
        out.append(struct.pack(endian + "IIII", 1_700_000_000 + i, 0, len(f), len(f)) + f)
    return b"".join(out)


CASES: list[tuple[str, int, str, Callable[[bytes], bytes]]] = [
    ("big-endian Ethernet+MPLS", 1, ">", ethernet_mpls),
    ("little-endian Ethernet+MPLS", 1, "<", ethernet_mpls),
    ("big-endian Linux cooked v2", 276, ">", sll2),
]


@pytest.mark.parametrize("name,linktype,endian,frame", CASES, ids=[c[0] for c in CASES])
def test_a_capture_gives_the_files_records(
    tmp_path: Path, name: str, linktype: int, endian: str, frame: Callable[[bytes], bytes]
) -> None:
    msgs = messages(FILE.read_bytes())
    cap = tmp_path / "export.pcap"
    cap.write_bytes(pcap([frame(ipv4_udp(m, i)) for i, m in enumerate(msgs)], linktype, endian))
    want = ff.read_ipfix(str(FILE))
    exporter = ["exporterIPv4Address", "exporterIPv6Address", "exporterTransportPort"]
    got = ff.read_ipfix(str(cap))
    assert got["exporterIPv4Address"].astype(str).unique().tolist() == ["192.0.2.1"]
    got = got.drop(columns=exporter, errors="ignore")
    assert list(got.columns) == list(want.columns)
    assert got.astype(str).values.tolist() == want.astype(str).values.tolist()
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed: the capture's frames were not checked")
    out = subprocess.run(
        ["tshark", "-n", "-r", str(cap), "-d", "udp.port==4739,cflow", "-T", "fields",
         "-e", "cflow.version"],
        capture_output=True, check=True,
    ).stdout.decode().split()  # fmt: skip
    assert out == ["10"] * len(msgs), "tshark does not see every frame as IPFIX"


def test_plain_files_are_memory_mapped(tmp_path: Path) -> None:
    """While a reader of a plain file is open, the file is mapped into the
    process (Linux lists it in /proc/self/maps); a gzip file is not (it is
    read as a stream)."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("no /proc/self/maps on this system")
    plain = tmp_path / "plain.ipfix"
    plain.write_bytes(FILE.read_bytes())
    r = ff.Reader(str(plain))
    next(r.records())
    assert str(plain) in maps.read_text()
    r.close()
    assert str(plain) not in maps.read_text()
    import gzip

    packed = tmp_path / "packed.ipfix.gz"
    packed.write_bytes(gzip.compress(FILE.read_bytes()))
    r = ff.Reader(str(packed))
    next(r.records())
    assert str(packed) not in maps.read_text()
    r.close()
