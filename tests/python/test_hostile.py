"""Hostile inputs (issue 13): each is read in a child interpreter under a
memory limit (hostile.py), so an abort, a crash or memory that grows
with the input fails the test. Expected places come from how the inputs are
built (the byte counts of the generated streams), not from ferrofix."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import ferrofix as ff
from hostile import (
    RECORDS_PER_MESSAGE,
    pcapng_with_tsoffset,
    read_in_child,
    v9_header,
    valid_message,
    write_gzip_stream,
)


@pytest.mark.parametrize("mode", ["read_ipfix", "iter_records", "polars", "scan"])
def test_pcapng_timestamp_offset_overflow_is_an_error(tmp_path: Path, mode: str) -> None:
    """Defect 1: a 112-byte pcapng whose interface carries a huge
    if_tsoffset overflowed the timestamp arithmetic (a panic; through the
    Arrow C stream, an abort of the process)."""
    p = tmp_path / "tsoffset.pcapng"
    p.write_bytes(pcapng_with_tsoffset(2**62))
    r = read_in_child(p, mode)
    # polars wraps the stream's error in its own exception type.
    assert (r["error"] is not None and r["ferrofix"]) or mode == "polars", r
    assert "if_tsoffset" in r["message"], r
    assert "panicked" not in r["stderr"], r["stderr"]
    if mode != "polars":
        # The packet block starts after the 28-byte section header and the
        # 44-byte interface block; its timestamp 12 bytes in.
        assert r["offset"] == 28 + 44 + 12, r


def test_v9_header_and_zeros_is_bounded(tmp_path: Path) -> None:
    """Defect 2: a 1.5 MB gzip of a NetFlow v9 header followed by zeros took
    1.6 GB and 37 s and returned an empty frame with no error. Now: an error
    after at most one packet's worth (65,535 bytes) of padding, under a
    1 GiB data limit."""
    p = tmp_path / "v9-zeros.gz"
    p.write_bytes(gzip.compress(v9_header() + bytes(150_000_000)))
    r = read_in_child(p, "read_ipfix", data_limit=1 << 30)
    assert r["error"] == "DecodeError", r
    assert "65535" in r["message"], r
    # The zero "flowsets" start after the 20-byte header; the bound is hit
    # at the first one that would end past 65,535 bytes.
    assert 65_535 < r["offset"] <= 65_540, r
    r = read_in_child(p, "skip", data_limit=1 << 30)
    assert r["error"] is None and r["records"] == 0, r
    assert r["health"]["problems_skipped"] == 1, r


@pytest.mark.parametrize("tail", ["zeros", "v9-padding", "short-length"])
def test_multi_gb_stream_with_a_hostile_tail(tmp_path: Path, tail: str) -> None:
    """2 GiB of valid IPFIX (gzip) then a hostile tail, read under a 1 GiB
    data limit: every record before the tail arrives, in constant memory,
    and the tail is an error at its exact offset (error policy) or a
    counted problem (skip policy)."""
    p = tmp_path / f"big-{tail}.ipfix.gz"
    valid, records = write_gzip_stream(p, 2 << 30, tail)
    assert valid >= 2 << 30
    r = read_in_child(p, "scan")
    assert r["records"] == records, r
    assert r["error"] in ("DecodeError",), r
    expected_at = {"zeros": valid, "v9-padding": valid + 65_536, "short-length": valid}[tail]
    assert r["offset"] == expected_at, (r, valid)
    r = read_in_child(p, "skip")
    assert r["records"] == records and r["error"] is None, r
    assert r["health"]["problems_skipped"] == 1, r
    assert r["health"]["messages"] == records // RECORDS_PER_MESSAGE, r


def test_the_valid_message_builder_is_read_as_built() -> None:
    """The generator's records are what it says (64 per message, counts
    1..64), so the counts above test the reader, not the builder."""
    frame = ff.read_ipfix(valid_message(0) * 3, columns=["octetDeltaCount"])
    assert len(frame) == 3 * RECORDS_PER_MESSAGE
    assert list(frame["octetDeltaCount"][:RECORDS_PER_MESSAGE]) == list(range(1, 65))
