"""The ``ferrofix`` command line.

``ferrofix summary FILE`` prints a stream's templates, record counts per
template, the first records and the transport-health counters.
``ferrofix collect --udp :4739 -o DIR`` collects IPFIX and NetFlow into
rotated IPFIX and Parquet files. ``ferrofix meter CAPTURE... -o flows.ipfix``
meters packet captures into flow records. ``ferrofix csv IE...`` and ``ferrofix
stat`` do what python-ipfix's ipfix2csv and ipfixstat do, with their options.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ._errors import FerrofixError
from ._model import default_spec_files
from ._reader import Reader, RecordMeta


def _summary(args: argparse.Namespace) -> int:
    # --spec-file adds to the bundled spec files (QoF's, ferrofix's, ...).
    extra = [Path(p) for p in args.spec_file or []]
    reader = Reader(
        args.file,
        on_bad_records=args.on_bad_records,
        spec_files=default_spec_files() + extra,
    )
    counts: Counter[tuple[int, int]] = Counter()
    first: list[tuple[RecordMeta, dict[str, object]]] = []
    for meta, rec in reader.records(meta=True, records="all"):
        counts[(meta.observation_domain_id, meta.template_id)] += 1
        if len(first) < args.n:
            first.append((meta, rec))
    print(f"{reader.source}")
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
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ferrofix`` command."""
    p = argparse.ArgumentParser(prog="ferrofix", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="templates, record counts and first records of a file")
    s.add_argument("file")
    s.add_argument("-n", type=int, default=3, help="records to show (default 3)")
    s.add_argument("--spec-file", action="append", help="extra IESpec file (repeatable)")
    s.add_argument("--on-bad-records", choices=["error", "warn", "skip"], default="warn")
    s.set_defaults(func=_summary)
    from ._collect_cli import add_parser

    add_parser(sub)
    from ._meter_cli import add_parser as add_meter

    add_meter(sub)
    from .compat._cli import add_parsers

    add_parsers(sub)
    args = p.parse_args(argv)
    try:
        return int(args.func(args))
    except (FerrofixError, OSError, ValueError) as e:
        print(f"ferrofix: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ferrofix: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
