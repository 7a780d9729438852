"""Write a deterministic RFC 5655 IPFIX file for the benchmarks.

One 10-IE template (flow times in milliseconds, IPv4 5-tuple, TCP flags,
packet and octet counts; 47-byte records), packed with :mod:`struct` so the
file does not depend on ferrofix. The template set opens the first message;
data sets fill messages up to 65535 bytes (RFC 7011 §3.1: the length field
is 16 bits). Each message header carries the number of data records sent
before it as its sequence number (§3.1) and observation domain 1.

Values come from a seeded ``random.Random`` and look like traffic: addresses
from a pool of about 5,000 hosts (a few talk a lot), a well-known service
port against an ephemeral one, flow starts spread over one hour with
durations of 0..60 s, log-uniform packet counts of 1..1000 and 40..1500
octets per packet.

    python3 benches/make_file.py                 # bench-data/flows-1m.ipfix
    python3 benches/make_file.py -n 1000 -o small.ipfix
    python3 benches/make_file.py --addresses random4 -n 2000000 -o hc4.ipfix

``--addresses random4`` draws every address at random from the whole IPv4
space (a collector's day: millions of distinct addresses, issue 13's
cardinality cliff) instead of the 5,000-host pool; ``random6`` does the same
with IPv6 addresses (the template then carries sourceIPv6Address and
destinationIPv6Address, 16 bytes each, 71-byte records).
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "bench-data" / "flows-1m.ipfix"
DEFAULT_RECORDS = 1_000_000
SEED = 5655

# (IANA name, IE id, length on the wire), in template order.
TEMPLATE = (
    ("flowStartMilliseconds", 152, 8),
    ("flowEndMilliseconds", 153, 8),
    ("sourceIPv4Address", 8, 4),
    ("destinationIPv4Address", 12, 4),
    ("sourceTransportPort", 7, 2),
    ("destinationTransportPort", 11, 2),
    ("protocolIdentifier", 4, 1),
    ("tcpControlBits", 6, 2),
    ("packetDeltaCount", 2, 8),
    ("octetDeltaCount", 1, 8),
)
COLUMNS = [name for name, _, _ in TEMPLATE]
TEMPLATE6 = tuple(
    {"sourceIPv4Address": ("sourceIPv6Address", 27, 16)}.get(
        name, {"destinationIPv4Address": ("destinationIPv6Address", 28, 16)}.get(name, (name, i, n))
    )
    for name, i, n in TEMPLATE
)
COLUMNS6 = [name for name, _, _ in TEMPLATE6]
ADDRESS_KINDS = ("pool", "random4", "random6")
TEMPLATE_ID = 256
ODID = 1

MSG_HEADER = struct.Struct("!HHIII")  # version, length, export time, sequence, odid
SET_HEADER = struct.Struct("!HH")  # set id, length
RECORD = struct.Struct("!QQ4s4sHHBHQQ")
RECORD_LEN = RECORD.size  # 47
RECORD6 = struct.Struct("!QQ16s16sHHBHQQ")  # 71
MAX_MESSAGE = 65535
TEMPLATE_SET_LEN = SET_HEADER.size + 4 + 4 * len(TEMPLATE)  # 48

# 2025-01-01T00:00:00Z: flows start within the hour after it.
BASE_MS = 1_735_689_600_000
HOUR_MS = 3_600_000
HOSTS = 5_000

WELL_KNOWN = (
    (443, 6, 40),
    (80, 6, 14),
    (53, 17, 16),
    (22, 6, 4),
    (25, 6, 2),
    (123, 17, 3),
    (993, 6, 2),
    (3306, 6, 2),
    (8080, 6, 3),
    (443, 17, 6),  # QUIC
    (5353, 17, 2),
    (0, 1, 2),  # ICMP: ports are 0
)
TCP_FLAGS = (0x1B, 0x1B, 0x1B, 0x1F, 0x12, 0x02, 0x18, 0x10, 0x14, 0x19, 0x11, 0x04)


def record_len(addresses: str = "pool") -> int:
    return RECORD6.size if addresses == "random6" else RECORD_LEN


def capacity(first: bool, addresses: str = "pool") -> int:
    """Records that fit in one message (the first also holds the template set)."""
    room = MAX_MESSAGE - MSG_HEADER.size - SET_HEADER.size
    if first:
        room -= TEMPLATE_SET_LEN
    return room // record_len(addresses)


def layout(n: int, addresses: str = "pool") -> list[int]:
    """Records per message for a file of ``n`` records."""
    sizes = []
    left = n
    first = True
    while left > 0 or first:
        k = min(left, capacity(first, addresses))
        sizes.append(k)
        left -= k
        first = False
    return sizes


def expected_size(n: int, addresses: str = "pool") -> int:
    """Size in bytes of the file for ``n`` records."""
    total = TEMPLATE_SET_LEN
    for k in layout(n, addresses):
        total += MSG_HEADER.size
        if k:
            total += SET_HEADER.size + k * record_len(addresses)
    return total


def template_set(addresses: str = "pool") -> bytes:
    template = TEMPLATE6 if addresses == "random6" else TEMPLATE
    fields = b"".join(struct.pack("!HH", ie, length) for _, ie, length in template)
    body = struct.pack("!HH", TEMPLATE_ID, len(template)) + fields
    return SET_HEADER.pack(2, SET_HEADER.size + len(body)) + body


def host_pool(rng: random.Random) -> list[bytes]:
    """About 5,000 distinct addresses: two internal /16s and public hosts."""
    seen: set[bytes] = set()
    pool: list[bytes] = []
    while len(pool) < HOSTS:
        r = rng.random()
        if r < 0.5:
            a = bytes((10, rng.choice((1, 20)), rng.randrange(256), rng.randrange(1, 255)))
        elif r < 0.6:
            a = bytes((192, 168, rng.randrange(4), rng.randrange(1, 255)))
        else:
            a = bytes((rng.randrange(1, 224), rng.randrange(256), rng.randrange(256)))
            a += bytes((rng.randrange(1, 255),))
        if a not in seen:
            seen.add(a)
            pool.append(a)
    return pool


def records(n: int, seed: int = SEED, addresses: str = "pool"):
    """Yield ``n`` packed records in order of flow start."""
    rng = random.Random(seed)
    pool = host_pool(rng)
    if addresses != "pool":
        size = 16 if addresses == "random6" else 4
        # Every endpoint drawn afresh from the whole address space (a
        # "host" index is then just an index into a fresh draw).
        pool = [rng.randbytes(size) for _ in range(2 * n)]
    services = [(port, proto) for port, proto, w in WELL_KNOWN for _ in range(w)]
    pack = RECORD6.pack if addresses == "random6" else RECORD.pack
    step = HOUR_MS / max(n, 1)
    for i in range(n):
        start = BASE_MS + int(i * step)
        end = start + rng.randrange(60_001)
        # Squared uniform index: low indices (busy hosts) come up more often.
        if addresses == "pool":
            client = pool[int(HOSTS * rng.random() ** 2)]
            server = pool[int(HOSTS * rng.random() ** 3)]
        else:
            client, server = pool[2 * i], pool[2 * i + 1]
        port, proto = rng.choice(services)
        eph = 0 if proto == 1 else rng.randrange(32768, 61000)
        flags = rng.choice(TCP_FLAGS) if proto == 6 else 0
        packets = min(1000, int(1000 ** rng.random()))
        octets = packets * rng.randrange(40, 1501)
        if rng.random() < 0.5:  # either direction of the conversation
            src, dst, sport, dport = client, server, eph, port
        else:
            src, dst, sport, dport = server, client, port, eph
        yield pack(start, end, src, dst, sport, dport, proto, flags, packets, octets)


def write(path: Path, n: int, seed: int = SEED, addresses: str = "pool") -> None:
    """Write the file (to a temporary name first, so a partial file never counts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    recs = records(n, seed, addresses)
    sent = 0
    # Export time: the end of the hour the flows cover plus a minute, in seconds.
    export_base = (BASE_MS + HOUR_MS) // 1000
    with open(tmp, "wb") as f:
        for index, k in enumerate(layout(n, addresses)):
            parts = [template_set(addresses)] if index == 0 else []
            if k:
                body = b"".join(next(recs) for _ in range(k))
                parts.append(SET_HEADER.pack(TEMPLATE_ID, SET_HEADER.size + len(body)) + body)
            payload = b"".join(parts)
            length = MSG_HEADER.size + len(payload)
            f.write(MSG_HEADER.pack(10, length, export_base + index, sent, ODID))
            f.write(payload)
            sent += k
    os.replace(tmp, path)


def count_records(path: Path) -> int:
    """Data records of this file's template in any file of such messages, by
    walking message and set headers (independent of ferrofix)."""
    n = 0
    with open(path, "rb") as f:
        while head := f.read(MSG_HEADER.size):
            length = MSG_HEADER.unpack(head)[1]
            body = f.read(length - MSG_HEADER.size)
            at = 0
            while at + SET_HEADER.size <= len(body):
                set_id, set_len = SET_HEADER.unpack_from(body, at)
                if set_len < SET_HEADER.size:
                    raise ValueError(f"{path}: set length {set_len} at message body {at}")
                if set_id == TEMPLATE_ID:
                    n += (set_len - SET_HEADER.size) // RECORD_LEN
                at += set_len
    return n


def ensure(
    path: Path = DEFAULT_PATH,
    n: int = DEFAULT_RECORDS,
    force: bool = False,
    addresses: str = "pool",
) -> bool:
    """Write the file unless it exists with the right size; True when written."""
    if not force and path.is_file() and path.stat().st_size == expected_size(n, addresses):
        return False
    write(path, n, addresses=addresses)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--records", type=int, default=DEFAULT_RECORDS)
    p.add_argument("-o", "--output", type=Path, default=DEFAULT_PATH)
    p.add_argument("--force", action="store_true", help="rewrite even if the file looks right")
    p.add_argument("--addresses", choices=ADDRESS_KINDS, default="pool")
    a = p.parse_args(argv)
    if a.records < 0:
        p.error("--records must be >= 0")
    wrote = ensure(a.output, a.records, a.force, a.addresses)
    verb = "wrote" if wrote else "kept"
    size = expected_size(a.records, a.addresses)
    print(f"{verb} {a.output} ({a.records} records, {size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
