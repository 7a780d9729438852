"""Hostile inputs for the hardening tests, built from the format specs
(pcapng: draft-ietf-opsawg-pcapng §4.1-4.3; IPFIX: RFC 7011 §3; NetFlow v9:
RFC 3954 §5), and a runner that reads one in a child process under a memory
limit, so a crash, an abort or runaway memory fails a test instead of
taking pytest down."""

from __future__ import annotations

import gzip
import json
import os
import resource
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from ipfixmsg import field, message, set_, template_record, template_set


def pcapng_with_tsoffset(offset_s: int, t: int = 1) -> bytes:
    """A 112-byte little-endian pcapng: a section header, an Ethernet
    interface with if_tsresol 6 (µs) and the given if_tsoffset (seconds),
    and one enhanced packet block at time `t`."""
    shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    shb = struct.pack("<II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body
    shb += struct.pack("<I", len(shb))
    opts = struct.pack("<HHB3x", 9, 1, 6) + struct.pack("<HHq", 14, 8, offset_s)
    opts += struct.pack("<HH", 0, 0)
    idb_body = struct.pack("<HHI", 1, 0, 65535) + opts
    idb = struct.pack("<II", 1, 12 + len(idb_body)) + idb_body
    idb += struct.pack("<I", len(idb))
    frame = bytes(range(8))  # 8 captured bytes (not a valid frame: not needed)
    epb_body = struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(frame), len(frame)) + frame
    epb = (
        struct.pack("<II", 6, 12 + len(epb_body)) + epb_body + struct.pack("<I", 12 + len(epb_body))
    )
    out = shb + idb + epb
    assert len(out) == 112, len(out)
    return out


def v9_header(count: int = 0) -> bytes:
    """A NetFlow v9 packet header (RFC 3954 §5.1): version, count, uptime,
    UNIX seconds, sequence, source id."""
    return struct.pack("!HHIIII", 9, count, 1000, 1_600_000_000, 0, 0)


# A template of octetDeltaCount (8 bytes) and ipHeaderPacketSection (313,
# octetArray) fixed at 1000 bytes: 1008-byte records, 64 per message.
TEMPLATE_ID = 256
RECORD_LEN = 1008
RECORDS_PER_MESSAGE = 64


def valid_message(seq: int) -> bytes:
    """One IPFIX message with the template and 64 records (octetDeltaCount
    = 1..64)."""
    tmpl = template_set(template_record(TEMPLATE_ID, [field(1, 8), field(313, 1000)]))
    body = b"".join(
        struct.pack("!Q", i) + bytes([i]) * 1000 for i in range(1, RECORDS_PER_MESSAGE + 1)
    )
    return message([tmpl, set_(TEMPLATE_ID, body)], seq=seq)


TAILS = {
    # Zeros where a message header should be: version 0.
    "zeros": lambda: bytes(1 << 20),
    # A NetFlow v9 header followed by endless zero "padding".
    "v9-padding": lambda: v9_header() + bytes(1 << 20),
    # A message header whose length promises 65535 bytes; 100 come.
    "short-length": lambda: struct.pack("!HHIII", 10, 65535, 0, 0, 0) + bytes(84),
}


def write_gzip_stream(path: Path, valid_bytes: int, tail: str) -> tuple[int, int]:
    """A gzip file holding about `valid_bytes` of valid IPFIX messages, then
    the hostile `tail`. The messages are one gzip member repeated (RFC 1952
    §2.2: a gzip file is a series of members), so a multi-GB stream is a
    small file. Returns (bytes of valid messages, records in them)."""
    msg = valid_message(0)
    per_member = 256
    member_bytes = len(msg) * per_member
    members = max(1, -(-valid_bytes // member_bytes))
    member = gzip.compress(msg * per_member, compresslevel=9)
    with path.open("wb") as f:
        for _ in range(members):
            f.write(member)
        f.write(gzip.compress(TAILS[tail]()))
    n_messages = members * per_member
    return n_messages * len(msg), n_messages * RECORDS_PER_MESSAGE


CHILD = textwrap.dedent(
    """
    import json, sys
    import ferrofix as ff
    path, mode = sys.argv[1], sys.argv[2]
    out = {"records": 0, "error": None, "offset": None, "health": None}
    try:
        if mode == "scan":
            s = ff.scan_ipfix(path, columns=["octetDeltaCount"], on_bad_records="error")
            for b in s.batches():
                out["records"] += b.num_rows
        elif mode == "skip":
            s = ff.scan_ipfix(path, columns=["octetDeltaCount"], on_bad_records="skip")
            for b in s.batches():
                out["records"] += b.num_rows
            h = s.health
            out["health"] = {"problems_skipped": h.problems_skipped, "bytes": h.bytes,
                             "messages": h.messages, "problems": h.problems[:3]}
        elif mode == "read_ipfix":
            out["records"] = len(ff.read_ipfix(path))
        elif mode == "iter_records":
            for _ in ff.iter_records(path):
                out["records"] += 1
        elif mode == "polars":
            import polars as pl
            out["records"] = pl.DataFrame(ff.scan_ipfix(path, columns=["octetDeltaCount"])).height
        else:
            raise SystemExit("unknown mode " + mode)
    except Exception as e:
        out["error"] = type(e).__name__
        out["message"] = str(e)
        out["offset"] = getattr(e, "offset", None)
        out["ferrofix"] = isinstance(e, ff.FerrofixError)
    print(json.dumps(out))
    """
)


def read_in_child(path: Path, mode: str, *, data_limit: int = 1 << 30) -> dict[str, Any]:
    """Read `path` in a child interpreter whose data segment (heap and
    anonymous mappings: RLIMIT_DATA) is capped at `data_limit` bytes. The
    child's exit status is asserted: a signal (an abort, a crash) or an
    exit without a result fails the caller's test."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

    p = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), mode],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limit,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert p.returncode == 0, f"child exited with {p.returncode}: {p.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    result["stderr"] = p.stderr
    return result
