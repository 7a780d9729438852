"""The arguments of ``ferrofix csv`` and ``ferrofix stat`` (python-ipfix's
``ipfix2csv`` and ``ipfixstat``), kept apart from the commands themselves
(``ferrofix.compat._cli``) so that building the ``ferrofix`` parser does
not import ``ferrofix.compat``: every other command starts without it.
"""

from __future__ import annotations

import argparse
from typing import Any

from . import _cli as _shared


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--spec", "-s", metavar="specfile", action="append", help="file of extra IESpecs"
    )
    p.add_argument("--file", "-f", metavar="file", help="IPFIX file to read (default or -: stdin)")
    p.add_argument("--gzip", "-z", action="store_true", help="gzip-compressed input")
    p.add_argument("--bzip2", "-j", action="store_true", help="bzip2-compressed input")
    p.add_argument(
        "--netflow9", "-9", action="store_true", help="NetFlow v9 input (recognised anyway)"
    )
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(inputs_attr="file")


def _csv(args: argparse.Namespace) -> int:
    from .compat import _cli

    return _cli.run_csv(args)


def _stat(args: argparse.Namespace) -> int:
    from .compat import _cli

    return _cli.run_stat(args)


CSV_EXAMPLES = """\
examples:
  ferrofix csv -f flows.ipfix sourceIPv4Address destinationIPv4Address octetDeltaCount
  zcat flows.ipfix.gz | ferrofix csv flowStartMilliseconds packetDeltaCount
  ferrofix csv -c tcp -p 4739 sourceIPv4Address octetDeltaCount   # collect over TCP

Output as python-ipfix's ipfix2csv's, byte for byte; 'ferrofix convert' has
more (every IE by default, Parquet, JSON lines, NetFlow, captures).
"""

STAT_EXAMPLES = """\
examples:
  ferrofix stat -f flows.ipfix
  ferrofix stat -z < flows.ipfix.gz

Output as python-ipfix's ipfixstat's, byte for byte ('ferrofix summary' has
record counts and transport health, for NetFlow and captures too).
"""


def add_parsers(sub: Any, only: str | None = None) -> None:
    """Add ``csv`` and ``stat`` (or ``only`` one of them) to the ``ferrofix``
    command's subcommands."""
    raw = _shared.HelpFormatter
    if only in (None, "csv"):
        c = sub.add_parser(
            "csv",
            help="records as CSV (python-ipfix's ipfix2csv)",
            description="The records holding every IE named, as CSV (python-ipfix's ipfix2csv).",
            epilog=CSV_EXAMPLES,
            formatter_class=raw,
        )
        c.add_argument("ienames", metavar="ie", nargs="+", help="column(s) by IE name")
        _common(c)
        c.add_argument("--collect", "-c", metavar="transport", help="collect over 'tcp'")
        c.add_argument("--bind", "-b", default="", help="address to collect on (default all)")
        c.add_argument(
            "--port",
            "-p",
            type=_shared.number(int, 0, 65535),
            default=4739,
            help="port (default 4739)",
        )
        c.set_defaults(func=_csv)
    if only in (None, "stat"):
        s = sub.add_parser(
            "stat",
            help="template statistics (python-ipfix's ipfixstat)",
            description="Every template with its instances, replacements, data sets and "
            "bytes, and the sets without a template (python-ipfix's ipfixstat).",
            epilog=STAT_EXAMPLES,
            formatter_class=raw,
        )
        _common(s)
        s.set_defaults(func=_stat)
