"""Sources: paths, bytes-likes, binary file objects; gzip and zstd by magic
number; streamed one message at a time."""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

import pytest

import ferrofix as ff

DATA = Path(__file__).resolve().parents[1] / "data" / "ipfix"
FILE = DATA / "ipfixcol__02-odid4.ipfix"


def count(src: object) -> int:
    return sum(1 for _ in ff.iter_records(src))  # type: ignore[arg-type]


def test_every_source_kind_gives_the_same_records(tmp_path: Path) -> None:
    raw = FILE.read_bytes()
    n = count(FILE)
    assert n == 117  # MANIFEST: 117 records decodable in-file
    assert count(str(FILE)) == n
    assert count(raw) == n
    assert count(bytearray(raw)) == n
    assert count(memoryview(raw)) == n
    assert count(io.BytesIO(raw)) == n
    with FILE.open("rb") as f:
        assert count(f) == n
    gz = tmp_path / "x.ipfix.gz"
    gz.write_bytes(gzip.compress(raw))
    assert count(gz) == n
    assert count(gzip.compress(raw)) == n
    with gz.open("rb") as f:
        assert count(f) == n


def test_zstd(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    raw = FILE.read_bytes()
    z = tmp_path / "x.ipfix.zst"
    z.write_bytes(zstandard.ZstdCompressor().compress(raw))
    assert list(ff.iter_records(z)) == list(ff.iter_records(raw))


def test_every_frame_and_member_of_a_compressed_file(tmp_path: Path) -> None:
    """A zstd file of several frames (as `zstd -T`, pzstd or `cat a.zst
    b.zst` make), with a skippable frame between them, and a gzip file of
    several members, give every record (the zstd reader stopped after the
    first frame and dropped the rest without a word)."""
    zstandard = pytest.importorskip("zstandard")
    raw = FILE.read_bytes()
    half = int.from_bytes(raw[2:4], "big")  # the first message's length
    first, rest = raw[:half], raw[half:]
    z = zstandard.ZstdCompressor()
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    zst = tmp_path / "frames.ipfix.zst"
    zst.write_bytes(z.compress(first) + skippable + z.compress(rest))
    gz = tmp_path / "members.ipfix.gz"
    gz.write_bytes(gzip.compress(first) + gzip.compress(rest))
    assert count(zst) == count(gz) == count(raw) == 117
    with zst.open("rb") as f:
        assert count(f) == 117


def test_zstd_cli_file(tmp_path: Path) -> None:
    if shutil.which("zstd") is None:
        pytest.skip("zstd command not installed")
    import subprocess

    dst = tmp_path / "y.ipfix.zst"
    subprocess.run(["zstd", "-q", "-o", str(dst), str(FILE)], check=True)
    assert count(dst) == 117


class CountingReader(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.max_read = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = len(self.data) - self.pos if n < 0 else n
        self.max_read = max(self.max_read, n)
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out


def test_file_objects_are_streamed_not_slurped() -> None:
    raw = FILE.read_bytes() * 200  # ~1.6 MB of messages (templates refreshed)
    src = CountingReader(raw)
    it = ff.iter_records(src)
    next(it)
    assert src.pos < len(raw) // 10  # one batch read, not the whole stream
    assert src.max_read <= 1 << 20
    assert 1 + sum(1 for _ in it) == 117 * 200


def test_source_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ff.Reader(tmp_path / "nope.ipfix")
    with pytest.raises(TypeError, match="source must be"):
        ff.Reader(12345)  # type: ignore[arg-type]
    with FILE.open("r", encoding="latin-1") as text:
        with pytest.raises(OSError, match="did not return bytes"):
            list(ff.iter_records(text))  # type: ignore[arg-type]
    assert list(ff.iter_records(b"")) == []


def test_health_counts_bytes_and_messages() -> None:
    r = ff.Reader(FILE)
    list(r)
    h = r.health
    assert h.bytes == FILE.stat().st_size
    assert h.messages == 15  # MANIFEST: IPFIX x15 msg
    assert h.data_records + h.options_records == 117


def test_bytes_are_read_in_place() -> None:
    """A bytes source is not copied: the reader holds the object itself
    (one reference more while it is open) and reads it after the caller
    has let go of it; a bytearray, which may change, is copied."""
    import sys

    raw = FILE.read_bytes()
    ref = list(ff.iter_records(FILE))
    data = bytes(raw)  # a fresh object only this test refers to
    before = sys.getrefcount(data)
    r = ff.Reader(data)
    assert sys.getrefcount(data) == before + 1
    del data
    assert list(r) == ref
    r.close()
    held = bytearray(raw)
    before = sys.getrefcount(held)
    r = ff.Reader(held)
    assert sys.getrefcount(held) == before
    held[:] = b"\0" * len(held)  # the copy is unaffected
    assert list(r) == ref


def test_bytes_of_captures_and_compressed_data_in_place() -> None:
    """Captures and gzip data given as bytes read as their files do, with
    the Arrow path's worker threads reading them without the GIL."""
    pcap = Path(__file__).resolve().parents[1] / "data" / "pcap" / "nDPI__netflowv9.pcap"
    cap = pcap.read_bytes()
    assert list(ff.iter_records(cap)) == list(ff.iter_records(pcap))
    gz = gzip.compress(FILE.read_bytes())
    assert list(ff.iter_records(gz)) == list(ff.iter_records(FILE))
    one = ff.read_ipfix(FILE.read_bytes())
    many = ff.read_ipfix([FILE.read_bytes()] * 4, workers=2)
    assert len(many) == 4 * len(one) > 0
