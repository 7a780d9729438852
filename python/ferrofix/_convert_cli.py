"""``ferrofix convert``: IPFIX, NetFlow v9/v5 or a capture of export
traffic to CSV, Parquet or JSON lines (python-ipfix's ``ipfix2csv``, grown
up: ``ferrofix csv`` keeps the compatible one)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import _cli, _cli_output
from ._arrow import scan_ipfix

EXAMPLES = """\
examples:
  ferrofix convert flows.ipfix -o flows.parquet
  ferrofix convert flows.ipfix -c sourceIPv4Address,destinationIPv4Address,octetDeltaCount
  ferrofix convert export.pcap -o - --format jsonl | head
  ferrofix convert nf9.dat --records options -o sampling.csv
  ferrofix convert flows.ipfix -c 'myCounter(99991/7)<unsigned32>' -o -
  nc -l 4739 | ferrofix convert - -o flows.csv
  ferrofix convert day.ipfix --dataset flows/        # flows/date=.../hour=.../exporter=.../

CSV: addresses as text, lists of numbers joined by ';', octet arrays as hex,
RFC 6313 structured values as JSON text. JSON lines: one object per record
with the IEs its template has, times in ISO 8601 UTC. Parquet keeps the
Arrow types (read it back with pandas, polars, DuckDB) and needs a file.
--dataset DIR adds the records to a Hive-partitioned Parquet dataset (by UTC
date and hour of the flow's start and by exporter; --partition-by for
others), the layout of ferrofix.write_dataset and `ferrofix collect`.
"""


def _columns(values: list[str] | None) -> list[str] | None:
    """``-c a,b -c c`` as [a, b, c]; an IESpec holds no comma."""
    if not values:
        return None
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


def _scan(args: argparse.Namespace) -> Any:
    """The input as the command line asks for it."""
    from ._model import default_spec_files

    return scan_ipfix(
        _cli.source(args.input),
        columns=_columns(args.columns),
        records=args.records,
        n_rows=args.n_rows,
        on_bad_records=args.on_bad_records,
        specs=list(args.spec or []),
        spec_files=default_spec_files() + [Path(p) for p in args.spec_file or []],
        export_ports=args.export_port,
    )


def run(args: argparse.Namespace) -> int:
    if args.dataset:
        return _dataset(args)
    fmt, compression = _cli.output_format(args.output, args.format)
    to_stdout = args.output in (None, "-")
    if fmt == "parquet" and to_stdout:
        raise ValueError("Parquet needs a file to write to: -o FILE.parquet")
    if fmt == "parquet" and compression:
        raise ValueError(f"{args.output}: Parquet compresses its own columns: name it .parquet")
    _cli.refuse_overwriting_inputs(args.output, [args.input])
    scan = _scan(args)
    progress = _cli.Progress(_cli.input_size(args.input), args.progress and not to_stdout)

    def tick() -> None:
        if progress.enabled:
            progress(scan.health.bytes)

    try:
        schema = scan.schema
        if not to_stdout:
            _cli_output.write_file(
                fmt, args.output, compression, schema, _limited(scan, args.n_rows), tick
            )
        else:
            out = _cli.open_output(args.output, binary=True)[0]
            _cli_output.write(fmt, out, schema, _limited(scan, args.n_rows), tick)
            out.flush()
    finally:
        progress.done()
    _say_if_no_export_traffic(args, scan)
    return 0


def _say_if_no_export_traffic(args: argparse.Namespace, scan: Any) -> None:
    """A packet capture without export traffic converts to no rows: said,
    and an error (exit 1), since the user most likely meant the meter."""
    note = _cli.not_export_traffic(scan.health, args.input)
    if note:
        raise ValueError(note)


def _dataset(args: argparse.Namespace) -> int:
    from ._dataset import DEFAULT_PARTITIONS, _write

    if args.output is not None:
        raise ValueError("--dataset DIR is where the records go: no -o with it")
    scan = _scan(args)
    progress = _cli.Progress(_cli.input_size(args.input), args.progress)

    def batches() -> Any:
        for b in _limited(scan, args.n_rows):
            if progress.enabled:
                progress(scan.health.bytes)
            yield b

    keys = tuple(_columns(args.partition_by) or DEFAULT_PARTITIONS)
    try:
        written = _write(batches(), Path(args.dataset), keys)
    finally:
        progress.done()
    for f in sorted(written):
        print(f)
    return 0


def _limited(scan: Any, n_rows: int | None) -> Any:
    """The scan's batches, cut at ``n_rows`` (the scan stops near it)."""
    left = n_rows
    for b in scan:
        if left is not None:
            if left <= 0:
                return
            b = b.slice(0, left)
            left -= b.num_rows
        yield b


def add_parser(sub: Any) -> None:
    c = sub.add_parser(
        "convert",
        help="IPFIX/NetFlow/captures of export traffic to CSV, Parquet or JSON lines",
        description="Decode an IPFIX or NetFlow v9/v5 stream, or a pcap/pcapng capture of "
        "export traffic (UDP, TCP, fragments), gzip/zstd too, into CSV, Parquet or JSON "
        "lines: one row per record, one column per IE.",
        epilog=EXAMPLES,
        formatter_class=_cli.HelpFormatter,
    )
    c.add_argument("input", help="the file to read, or - for standard input")
    c.add_argument(
        "-o",
        "--output",
        help="file to write, the format by extension (.csv, .parquet, .jsonl; .csv.gz, "
        ".jsonl.zst compressed); - or none: standard output",
    )
    c.add_argument(
        "--format", choices=_cli.FORMATS, help="csv, parquet or jsonl (over the extension)"
    )
    c.add_argument(
        "--dataset",
        metavar="DIR",
        help="add the records to a Hive-partitioned Parquet dataset in DIR (instead of -o)",
    )
    c.add_argument(
        "--partition-by",
        action="append",
        metavar="KEY[,KEY...]",
        help="dataset partitions: columns, or date, hour, exporter (default: date,hour,exporter)",
    )
    c.add_argument(
        "-c",
        "--columns",
        action="append",
        metavar="IE[,IE...]",
        help="IEs to keep, in this order: IANA names or IESpecs name(pen/id)<type>[size] "
        "(repeatable; default every IE of the stream's templates)",
    )
    c.add_argument(
        "--records",
        choices=["data", "options", "all"],
        default="data",
        help="data records (default), options records (sampling, interfaces...) or both",
    )
    c.add_argument(
        "-n", "--n-rows", type=_cli.number(int, 0), metavar="N", help="stop after N records"
    )
    c.add_argument("--spec", action="append", metavar="IESPEC", help="extra IE (repeatable)")
    c.add_argument("--spec-file", action="append", help="extra IESpec file (repeatable)")
    c.add_argument(
        "--export-port",
        type=_cli.number(int, 0, 65535),
        action="append",
        metavar="PORT",
        help="in a capture, read export traffic only to/from this port (repeatable)",
    )
    c.add_argument(
        "--on-bad-records",
        choices=["error", "warn", "skip"],
        default="error",
        help="malformed input or data without its template: stop (default), warn, skip",
    )
    c.add_argument("--no-progress", dest="progress", action="store_false")
    c.set_defaults(func=run, inputs_attr="input")
