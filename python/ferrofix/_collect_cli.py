"""``ferrofix collect``: listen, write rotated IPFIX files and a
Hive-partitioned Parquet dataset (``DIR/date=.../hour=.../exporter=.../``,
the layout of :func:`ferrofix.write_dataset`), show a status line."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _cli

if TYPE_CHECKING:
    from ._collect import Collector

#: A length of time on the command line: more than 0 seconds.
_seconds = _cli.number(float, 0, 1e9, above=True, what="a number of seconds")


class _Rotating:
    """Files of one format, a new one every ``every`` seconds: IPFIX files
    named by time; Parquet added to the dataset at ``out`` (the batches of
    each period written together, a file per partition)."""

    def __init__(self, out: Path, fmt: str, every: float) -> None:
        self.out, self.fmt, self.every = out, fmt, every
        self.opened = 0.0
        self.sink: Any = None
        self.path: Path | None = None
        self.files: list[Path] = []

    def _open(self, batch: Any) -> None:
        if self.fmt == "parquet":
            self.sink = []  # the period's batches
            self.opened = time.monotonic()
            return
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = self.out / f"flows-{stamp}-{len(self.files):04d}.{self.fmt}"
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
            self.sink.append(batch)
        else:
            self.sink.write_table(batch)

    def close(self) -> None:
        if self.sink is None:
            return
        if self.fmt == "parquet":
            from ._dataset import DEFAULT_PARTITIONS, _write

            written = _write(self.sink, self.out, DEFAULT_PARTITIONS)
            self.files += [Path(f) for f in sorted(written)]
        else:
            self.sink.close()
        self.sink = None


def run(args: argparse.Namespace) -> int:
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if not formats or any(f not in ("ipfix", "parquet") for f in formats):
        print("ferrofix collect: --format takes ipfix and/or parquet", file=sys.stderr)
        return 2
    if args.input and (args.udp or args.tcp):
        raise ValueError("either files to read or --udp/--tcp to listen on, not both")
    if not args.input and not (args.udp or args.tcp):
        raise ValueError("nothing to collect from: give --udp/--tcp addresses, or files (- stdin)")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    writers = [_Rotating(out, f, args.rotate) for f in formats]
    try:
        if args.input:
            _replay(args, writers)
        else:
            _listen(args, writers, out)
    finally:
        for w in writers:
            w.close()
    for w in writers:
        for f in w.files:
            print(f)
    return 0


def _replay(args: argparse.Namespace, writers: list[_Rotating]) -> None:
    """Files (IPFIX, NetFlow, captures of export traffic) instead of
    sockets: what the collector would have written from them."""
    from ._arrow import scan_ipfix
    from ._collect import DEFAULT_COLUMNS

    for name in args.input:
        args.current = name
        scan = scan_ipfix(
            _cli.source(name),
            columns=args.column or DEFAULT_COLUMNS,
            batch_size=args.batch_size,
            on_bad_records=args.on_bad_records or "error",
        )
        progress = _cli.Progress(_cli.input_size(name), args.status)
        try:
            for batch in scan:
                for w in writers:
                    w.write(batch)
                if progress.enabled:
                    progress(scan.health.bytes)
        finally:
            progress.done()


def _listen(args: argparse.Namespace, writers: list[_Rotating], out: Path) -> None:
    import pyarrow as pa

    from ._collect import DEFAULT_COLUMNS, Collector

    collector = Collector(
        udp=args.udp or None,
        tcp=args.tcp or None,
        columns=args.column or DEFAULT_COLUMNS,
        interval=args.interval,
        batch_size=args.batch_size,
        on_bad_records=args.on_bad_records or "skip",
    )
    # Ctrl-C or SIGTERM: stop listening, write what was received, close
    # (a collector's normal end: exit 0).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: collector.stop())
    listening = ", ".join(f"{t} {h}:{p}" for t, h, p in collector.addresses)
    print(f"ferrofix collect: listening on {listening}, writing {out}", file=sys.stderr)
    # The status line is redrawn only on a terminal; the last one is kept.
    live = args.status and sys.stderr.isatty()
    started = last = time.monotonic()
    for b in collector.batches(duration=args.duration):
        batch = pa.record_batch(b)
        for w in writers:
            w.write(batch)
        now = time.monotonic()
        if live and now - last >= 1.0:
            last = now
            _status(collector, now - started)
    _status(collector, time.monotonic() - started, end="\n")


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


EXAMPLES = """\
examples:
  ferrofix collect --udp :4739 --tcp :4739 -o flows/          # until Ctrl-C
  ferrofix collect --udp 127.0.0.1:2055 -o flows/ --duration 60 --format parquet
  ferrofix collect export.pcap -o flows/          # replay a capture of export traffic
  nc -l 4739 | ferrofix collect - -o flows/

Ctrl-C (or SIGTERM) stops listening, writes what came and exits 0. The written
files are listed on standard output.
"""


def add_parser(sub: Any) -> None:
    c = sub.add_parser(
        "collect",
        help="listen for IPFIX/NetFlow (or replay files) and write rotated files",
        description="Collect IPFIX and NetFlow v9/v5 over UDP, IPFIX over TCP, into "
        "rotated IPFIX and/or Parquet files of the chosen IEs; or read the same from "
        "files (IPFIX, NetFlow, captures of export traffic; - for standard input).",
        epilog=EXAMPLES,
        formatter_class=_cli.HelpFormatter,
    )
    c.add_argument("input", nargs="*", help="files to read instead of listening (- for stdin)")
    c.add_argument("--udp", action="append", help="UDP address to listen on, e.g. :4739")
    c.add_argument("--tcp", action="append", help="TCP address to listen on")
    c.add_argument("-o", "--output", required=True, help="directory for the files")
    c.add_argument("--format", default="ipfix,parquet", help="ipfix and/or parquet")
    c.add_argument("--rotate", type=_seconds, default=300.0, help="seconds per file (300)")
    c.add_argument("--duration", type=_seconds, help="stop after this many seconds")
    c.add_argument("--interval", type=_seconds, default=1.0, help="flush after idle seconds")
    c.add_argument("--batch-size", type=_cli.number(int, 1), default=65536)
    c.add_argument("--column", action="append", help="IE to keep (repeatable)")
    c.add_argument(
        "--on-bad-records",
        choices=["error", "warn", "skip"],
        default=None,
        help="malformed input: listening skips it (default), files stop at it (default)",
    )
    c.add_argument(
        "--no-status",
        "--no-progress",
        dest="status",
        action="store_false",
        help="no status line / progress bar (there is none when stderr is not a terminal)",
    )
    c.set_defaults(func=run, inputs_attr="input")
