"""Byte-level builders for IPFIX test messages, written from RFC 7011 / RFC 6313
directly (not from ferrofix's code), so tests can state expected values."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

VARLEN = 65535


def field(ie_id: int, length: int, pen: int = 0) -> bytes:
    """A field specifier (RFC 7011 §3.2)."""
    if pen:
        return struct.pack("!HHI", ie_id | 0x8000, length, pen)
    return struct.pack("!HH", ie_id, length)


def template_record(tid: int, fields: Sequence[bytes]) -> bytes:
    return struct.pack("!HH", tid, len(fields)) + b"".join(fields)


def options_template_record(tid: int, scope: int, fields: Sequence[bytes]) -> bytes:
    return struct.pack("!HHH", tid, len(fields), scope) + b"".join(fields)


def set_(set_id: int, body: bytes) -> bytes:
    return struct.pack("!HH", set_id, 4 + len(body)) + body


def template_set(*records: bytes) -> bytes:
    return set_(2, b"".join(records))


def options_set(*records: bytes) -> bytes:
    return set_(3, b"".join(records))


def withdrawal(tid: int) -> bytes:
    """A withdrawal record: template id and field count 0 (RFC 7011 §8.1)."""
    return struct.pack("!HH", tid, 0)


def varlen(value: bytes, long_form: bool = False) -> bytes:
    """RFC 7011 §7: one length byte below 255, else 255 and two bytes."""
    if long_form or len(value) >= 255:
        return struct.pack("!BH", 255, len(value)) + value
    return struct.pack("!B", len(value)) + value


def message(
    sets: Iterable[bytes], *, odid: int = 0, seq: int = 0, export_time: int = 1_600_000_000
) -> bytes:
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), export_time, seq, odid) + body


def uint(v: int, n: int) -> bytes:
    return v.to_bytes(n, "big")


def sint(v: int, n: int) -> bytes:
    return v.to_bytes(n, "big", signed=True)
