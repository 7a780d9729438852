"""The ``ferrofix`` command line: one family of subcommands.

summary and stat say what is in a file; convert turns IPFIX, NetFlow or a
capture of export traffic into CSV, Parquet or JSON lines (csv is
python-ipfix's ipfix2csv); meter turns packet captures into flow records;
collect listens for exporters (or reads files) into rotated IPFIX and
Parquet files. Each reads - as standard input, shows a progress bar on a
terminal, and fails with one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import _cli

EPILOG = """\
exit status: 0 done, 1 an error (one line on stderr: ferrofix CMD: FILE: REASON),
2 a usage error, 130 interrupted (Ctrl-C), 141 standard output closed (| head).
'ferrofix CMD --help' shows each command's options and examples.
"""


def parser() -> argparse.ArgumentParser:
    """The ``ferrofix`` argument parser, every subcommand added."""
    from . import _collect_cli, _compat_cli, _convert_cli, _meter_cli, _summary_cli

    p = argparse.ArgumentParser(
        prog="ferrofix",
        description=(__doc__ or "").split("\n\n")[1].replace("\n", " "),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _summary_cli.add_parser(sub)
    _compat_cli.add_parsers(sub, only="stat")
    _convert_cli.add_parser(sub)
    _compat_cli.add_parsers(sub, only="csv")
    _meter_cli.add_parser(sub)
    _collect_cli.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ferrofix`` command."""
    try:
        args = parser().parse_args(argv)
        return _cli.run(args)
    except KeyboardInterrupt:
        return _cli.EXIT_INTERRUPTED
    except BrokenPipeError:  # --help into | head
        _cli._quiet_stdout()
        return _cli.EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
