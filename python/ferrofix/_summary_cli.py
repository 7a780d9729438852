"""``ferrofix summary``: what is in a file (templates per domain, records
per template, the first records, transport health)."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _cli

if TYPE_CHECKING:
    from ._reader import Reader, RecordMeta

EXAMPLES = """\
examples:
  ferrofix summary flows.ipfix
  ferrofix summary export.pcap -n 0          # a capture of export traffic
  ferrofix summary nf9.dat --spec-file vendor.iespec
  nc -l 4739 | ferrofix summary -
"""


def run(args: argparse.Namespace) -> int:
    from ._model import default_spec_files
    from ._reader import Reader

    # --spec-file adds to the bundled spec files (QoF's, ferrofix's, ...).
    extra = [Path(p) for p in args.spec_file or []]
    reader = Reader(
        _cli.source(args.file),
        on_bad_records=args.on_bad_records,
        spec_files=default_spec_files() + extra,
    )
    counts: Counter[tuple[int, int]] = Counter()
    first: list[tuple[RecordMeta, dict[str, object]]] = []
    progress = _cli.Progress(_cli.input_size(args.file), args.progress)
    try:
        for meta, rec in reader.records(meta=True, records="all"):
            counts[(meta.observation_domain_id, meta.template_id)] += 1
            if len(first) < args.n:
                first.append((meta, rec))
            if progress.enabled and meta.message_index % 256 == 0:
                progress(meta.offset)
    finally:
        progress.done()
    _report(reader, counts, first, args.file)
    return 0


def _report(
    reader: Reader,
    counts: Counter[tuple[int, int]],
    first: list[tuple[RecordMeta, dict[str, object]]],
    name: str,
) -> None:
    print("<stdin>" if name == "-" else reader.source)
    print("\ntemplates (domain/id: fields)")
    for t in reader.templates:
        kind = f" options, scope {t.scope_count}" if t.is_options else ""
        names = ", ".join(f.name for f in t.fields)
        print(f"  {t.observation_domain_id}/{t.template_id}{kind}: {names}")
    print("\nrecords per template (domain/id: count)")
    for (odid, tid), n in sorted(counts.items()):
        print(f"  {odid}/{tid}: {n}")
    print(f"\nfirst {len(first)} records")
    for meta, rec in first:
        print(f"  [{meta.observation_domain_id}/{meta.template_id}] {rec}")
    h = reader.health
    note = _cli.not_export_traffic(h, name)
    if note:
        print(f"\n{note}")
    print("\ntransport health")
    print(
        f"  {h.messages} messages, {h.bytes} bytes, {h.data_records} data records, "
        f"{h.options_records} options records"
    )
    print(
        f"  templates: {h.templates_learned} learned, {h.templates_replaced} replaced, "
        f"{h.templates_withdrawn} withdrawn"
    )
    print(
        f"  sets without template: {h.sets_missing_template}, "
        f"problems skipped: {h.problems_skipped}"
    )
    for key, s in h.sequence.items():
        # A capture's domains are keyed by (exporter, domain).
        where = f"exporter {key[0]} domain {key[1]}" if isinstance(key, tuple) else f"domain {key}"
        lost = (
            f"{s.lost_packets} packets lost" if s.lost_packets else f"{s.lost_records} records lost"
        )
        print(
            f"  {where}: {s.messages} messages, {s.records} records, {s.gaps} sequence gaps, {lost}"
        )


def add_parser(sub: Any) -> None:
    s = sub.add_parser(
        "summary",
        help="templates, record counts, first records and transport health of a file",
        description="What is in an IPFIX or NetFlow v9/v5 file, or a capture of export "
        "traffic: templates per observation domain, records per template, the first "
        "records, and the transport-health counters (sequence gaps, missing templates).",
        epilog=EXAMPLES,
        formatter_class=_cli.HelpFormatter,
    )
    s.add_argument("file", help="the file to read, or - for standard input")
    s.add_argument("-n", type=_cli.number(int, 0), default=3, help="records to show (default 3)")
    s.add_argument("--spec-file", action="append", help="extra IESpec file (repeatable)")
    s.add_argument(
        "--on-bad-records",
        choices=["error", "warn", "skip"],
        default="warn",
        help="malformed input or data without its template: stop, warn (default), skip",
    )
    s.add_argument("--no-progress", dest="progress", action="store_false")
    s.set_defaults(func=run, inputs_attr="file")
