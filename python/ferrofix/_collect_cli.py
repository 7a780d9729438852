"""``ferrofix collect``: listen, write rotated IPFIX and Parquet files, show
a status line."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ._collect import DEFAULT_COLUMNS, Collector


class _Rotating:
    """Files of one format, a new one every ``every`` seconds."""

    def __init__(self, out: Path, fmt: str, every: float) -> None:
        self.out, self.fmt, self.every = out, fmt, every
        self.opened = 0.0
        self.sink: Any = None
        self.path: Path | None = None
        self.files: list[Path] = []

    def _open(self, batch: Any) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = self.out / f"flows-{stamp}-{len(self.files):04d}.{self.fmt}"
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            self.sink = pq.ParquetWriter(path, batch.schema)
        else:
            from ._writer import Writer

            self.sink = Writer(path)
        self.path, self.opened = path, time.monotonic()
        self.files.append(path)

    def write(self, batch: Any) -> None:
        if self.sink is not None and time.monotonic() - self.opened >= self.every:
            self.close()
        if self.sink is None:
            self._open(batch)
        if self.fmt == "parquet":
            self.sink.write_batch(batch)
        else:
            self.sink.write_table(batch)

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None


def run(args: argparse.Namespace) -> int:
    import pyarrow as pa

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if not formats or any(f not in ("ipfix", "parquet") for f in formats):
        print("ferrofix collect: --format takes ipfix and/or parquet", file=sys.stderr)
        return 2
    collector = Collector(
        udp=args.udp or None,
        tcp=args.tcp or None,
        columns=args.column or DEFAULT_COLUMNS,
        interval=args.interval,
        batch_size=args.batch_size,
    )
    # Ctrl-C or SIGTERM: stop listening, write what was received, close.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: collector.stop())
    listening = ", ".join(f"{t} {h}:{p}" for t, h, p in collector.addresses)
    print(f"ferrofix collect: listening on {listening}, writing {out}", file=sys.stderr)
    writers = [_Rotating(out, f, args.rotate) for f in formats]
    started = last = time.monotonic()
    try:
        for b in collector.batches(duration=args.duration):
            batch = pa.record_batch(b)
            for w in writers:
                w.write(batch)
            now = time.monotonic()
            if args.status and now - last >= 1.0:
                last = now
                _status(collector, now - started)
    finally:
        for w in writers:
            w.close()
    _status(collector, time.monotonic() - started, end="\n")
    for w in writers:
        for f in w.files:
            print(f)
    return 0


def _status(collector: Collector, elapsed: float, end: str = "\r") -> None:
    s = collector.status()
    rate = s.records / elapsed if elapsed > 0 else 0.0
    exporters = len({k[0] for k in collector.health.sequence if isinstance(k, tuple)})
    print(
        f"{s.received} datagrams/messages, {s.records} records ({rate:,.0f}/s), "
        f"{exporters} exporters, {s.other_datagrams} other datagrams",
        end=end,
        file=sys.stderr,
        flush=True,
    )


def add_parser(sub: Any) -> None:
    c = sub.add_parser("collect", help="listen for IPFIX/NetFlow and write rotated files")
    c.add_argument("--udp", action="append", help="UDP address to listen on, e.g. :4739")
    c.add_argument("--tcp", action="append", help="TCP address to listen on")
    c.add_argument("-o", "--output", required=True, help="directory for the files")
    c.add_argument("--format", default="ipfix,parquet", help="ipfix and/or parquet")
    c.add_argument("--rotate", type=float, default=300.0, help="seconds per file (300)")
    c.add_argument("--duration", type=float, help="stop after this many seconds")
    c.add_argument("--interval", type=float, default=1.0, help="flush after idle seconds")
    c.add_argument("--batch-size", type=int, default=65536)
    c.add_argument("--column", action="append", help="IE to keep (repeatable)")
    c.add_argument("--no-status", dest="status", action="store_false")
    c.set_defaults(func=run)
