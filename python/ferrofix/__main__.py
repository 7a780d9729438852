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


# The subcommands in the order ``--help`` lists them: (name, module, the
# name its module's ``add_parsers`` takes, for the modules holding two).
COMMANDS = (
    ("summary", "_summary_cli", None),
    ("stat", "_compat_cli", "stat"),
    ("convert", "_convert_cli", None),
    ("csv", "_compat_cli", "csv"),
    ("meter", "_meter_cli", None),
    ("collect", "_collect_cli", None),
)


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``ferrofix`` argument parser, every subcommand added, or only
    ``command`` if it names one (what a command line runs: the other
    commands' modules are then neither imported nor their options built).
    """
    from importlib import import_module

    p = argparse.ArgumentParser(
        prog="ferrofix",
        description=(__doc__ or "").split("\n\n")[1].replace("\n", " "),
        epilog=EPILOG,
        formatter_class=_cli.HelpFormatter,
    )
    # ``prog``: what argparse would make of the usage of ``p`` (no
    # positionals yet), given so that it formats nothing (see _cli.HelpFormatter).
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", prog=p.prog)
    named = any(command == name for name, _, _ in COMMANDS)
    for name, module, only in COMMANDS:
        if named and command != name:
            continue
        m = import_module(f".{module}", __package__)
        if only is None:
            m.add_parser(sub)
        else:
            m.add_parsers(sub, only=only)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ferrofix`` command."""
    args_in = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser(args_in[0] if args_in else None).parse_args(args_in)
        return _cli.run(args)
    except KeyboardInterrupt:
        return _cli.EXIT_INTERRUPTED
    except BrokenPipeError:  # --help into | head
        _cli._quiet_stdout()
        return _cli.EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
