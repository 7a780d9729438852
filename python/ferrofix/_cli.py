"""What every ``ferrofix`` subcommand shares: the progress bar, ``-`` as
standard input, and turning an error into the one line a shell user
expects (``ferrofix <cmd>: <file>: <reason>``, exit 1; Ctrl-C exits 130
and a closed stdout, as in ``| head``, exits 141, both silently)."""

from __future__ import annotations

import argparse
import os
import signal
import stat
import sys
import time
import warnings
from collections.abc import Callable

# ``typing`` is not imported at run time (the command's start); type
# checkers take this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

#: Exit statuses: an error, options that do not go together (as
#: argparse's own usage errors), Ctrl-C (128 + SIGINT), stdout closed by
#: its reader (128 + SIGPIPE, what ``yes | head`` reports).
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 1, 2, 130, 141


class UsageError(Exception):
    """Options that do not go together (found once parsed): one line and
    exit 2, as argparse's own usage errors."""


def terminal_columns() -> int:
    """The terminal's width as :func:`shutil.get_terminal_size` documents
    it (``COLUMNS`` if a positive integer, else the terminal of
    ``sys.__stdout__``, else 80), without importing :mod:`shutil` (and
    with it bz2, lzma and zlib) at every command's start."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's ``RawDescriptionHelpFormatter`` (every ``ferrofix``
    parser's) given the terminal's width through its ``width`` argument
    (less 2, as argparse takes it) from :func:`terminal_columns`. argparse
    makes a formatter to check each ``add_argument``, and without a width
    each one imports :mod:`shutil` to find it: about 2 ms of ``ferrofix
    meter``'s 26 on 3.11 (``BENCHMARKS.md``, CLI start). Help and errors
    read the same (``tests/python/test_cli_start.py``)."""

    # argparse calls it with ``prog`` only (3.14 also passes ``color`` on).
    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
        **kwargs: Any,
    ) -> None:
        if width is None:
            width = terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width, **kwargs)


#: The table formats (:mod:`ferrofix._cli_output` writes them) and the
#: extensions that ask for each.
FORMATS = ("csv", "parquet", "jsonl")
EXTENSIONS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


#: Compression asked for by an output's last extension.
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


def output_format(
    output: str | None,
    fmt: str | None,
    default: str = "csv",
    extensions: dict[str, str] | None = None,
) -> tuple[str, str | None]:
    """(format, compression) of an output: the format asked for
    (``--format``), else the name's extension (``extensions``, after a
    compression suffix such as ``.gz``); standard output (``None``, ``-``)
    and what is not a regular file (``/dev/null``, a FIFO) take
    ``default`` when no extension says. An extension that names no format
    is an error, never a silent choice."""
    exts = EXTENSIONS if extensions is None else extensions
    if output in (None, "-"):
        return (fmt or default), None
    stem, suffix = os.path.splitext(output)
    compression = COMPRESSIONS.get(suffix.lower())
    if compression is not None:
        suffix = os.path.splitext(stem)[1]
    if fmt:
        return fmt, compression
    if suffix.lower() in exts:
        return exts[suffix.lower()], compression
    if not suffix and compression is None and not _regular_or_absent(output):
        return default, None
    names = sorted(e for e in exts if e not in (".pq", ".ndjson", ".json"))
    shown = suffix + (os.path.splitext(output)[1] if compression else "") or "(none)"
    raise ValueError(
        f"{output}: cannot tell the format from the extension {shown!r}: use "
        f"{', '.join(names[:-1])} or {names[-1]}, or --format "
        f"{{{','.join(sorted(set(exts.values())))}}}"
    )


def format_of(output: str | None, fmt: str | None, default: str = "csv") -> str:
    """The format asked for (``--format``), else the output's extension,
    else ``default`` (see :func:`output_format`)."""
    return output_format(output, fmt, default)[0]


def _regular_or_absent(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


def refuse_overwriting_inputs(output: str | None, inputs: list[str]) -> None:
    """Fail, before anything is opened for writing, if ``output`` is one of
    the ``inputs`` (the same file by another name included): writing it
    would truncate the data being read."""
    if output in (None, "-"):
        return
    try:
        out = os.stat(output)
    except OSError:
        return
    if not stat.S_ISREG(out.st_mode):
        return
    for name in inputs:
        if name == "-":
            continue
        try:
            st = os.stat(name)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (out.st_dev, out.st_ino):
            raise ValueError(
                f"the output {output} is the input {name}: writing it would destroy "
                "what is being read"
            )


def not_export_traffic(health: Any, name: str) -> str | None:
    """For a packet capture that held no IPFIX or NetFlow message (its
    transport health ``health``): what it is and the command that meters
    it; None for anything else."""
    cap = getattr(health, "capture", None)
    if not cap or health.messages or not cap.get("packets"):
        return None
    shown = "-" if name == "-" else name
    return (
        f"a packet capture ({cap['packets']:,} packets) with no IPFIX or NetFlow export "
        f"traffic in it; to meter its packets into flows: ferrofix meter {shown}"
    )


def number(
    kind: type[int] | type[float],
    low: float | None = None,
    high: float | None = None,
    *,
    above: bool = False,
    what: str = "",
) -> Callable[[str], Any]:
    """An argparse ``type``: a ``kind`` from ``low`` (exclusive with
    ``above``) to ``high``, so that a value out of range is a usage error
    naming the option (exit 2), not a failure part-way through."""
    noun = what or ("a whole number" if kind is int else "a number")

    def convert(text: str) -> int | float:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{noun} expected, not {text!r}") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"{noun} expected, not {text!r}")
        if low is not None and (v <= low if above else v < low):
            bound = f"more than {low:g}" if above else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, not {text}")
        if high is not None and v > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, not {text}")
        return v

    convert.__name__ = kind.__name__
    return convert


class Progress:
    """A one-line progress bar on stderr while it is a terminal (``enabled``
    false: calling it does nothing). Called with the bytes done so far;
    ``total`` (bytes) makes it a bar, without it a count and a rate."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        self.total, self.enabled = total, enabled and sys.stderr.isatty()
        self.started = self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.2:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9) / 1e6
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            size = f"{done / 1e6:,.0f}/{self.total / 1e6:,.0f} MB"
            line = f"[{bar:<30}] {frac:6.1%} {size} {rate:,.0f} MB/s"
        else:
            line = f"{done / 1e6:,.0f} MB read, {rate:,.0f} MB/s"
        print(f"\r{line}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled:
            print("\r" + " " * 79 + "\r", end="", file=sys.stderr, flush=True)


class _Interrupt:
    """Ctrl-C while the core reads a Python file object: the extension
    turns the ``KeyboardInterrupt`` raised inside ``read1`` into an I/O
    error (or, in a pre-scan, drops it and reads on), so the handler
    also sets ``seen``, :class:`Stdin` raises again on every later read,
    and :func:`run` exits 130 whatever the error became."""

    seen = False

    @classmethod
    def handler(cls, signum: int, frame: Any) -> None:
        cls.seen = True
        raise KeyboardInterrupt


class Stdin:
    """Standard input for the core (``-``): its binary buffer, refusing
    to read once Ctrl-C was pressed (see :class:`_Interrupt`)."""

    def __init__(self) -> None:
        self._f: Any = sys.stdin.buffer

    def read1(self, n: int = -1) -> bytes:
        if _Interrupt.seen:
            raise KeyboardInterrupt
        return bytes(self._f.read1(n))

    def read(self, n: int = -1) -> bytes:
        if _Interrupt.seen:
            raise KeyboardInterrupt
        return bytes(self._f.read(n))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def source(name: str) -> Any:
    """``-`` is standard input (read as it comes; sought back only if it
    is a redirected file), else the path."""
    return Stdin() if name == "-" else name


def input_size(name: str) -> int | None:
    """The size of a regular file (the progress bar's total), else None."""
    if name == "-":
        return None
    try:
        st = os.stat(name)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def check_input(name: str) -> None:
    """Fail early, naming the file, on a path that cannot be read."""
    if name != "-":
        with open(name, "rb"):
            pass


class CountingReader:
    """A binary file object counting the bytes read through it (progress
    for readers that take a Python file object)."""

    def __init__(self, f: IO[bytes], progress: Callable[[int], object]) -> None:
        self._f, self._progress, self.count = f, progress, 0

    def read(self, n: int = -1) -> bytes:
        b = self._f.read(n)
        self.count += len(b)
        self._progress(self.count)
        return b

    def read1(self, n: int = -1) -> bytes:
        read1 = getattr(self._f, "read1", None)
        b = read1(n) if read1 is not None else self._f.read(n)
        self.count += len(b)
        self._progress(self.count)
        return b

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def open_output(name: str | None, binary: bool) -> tuple[Any, bool]:
    """The output file object, and whether it is standard output
    (``None`` or ``-``)."""
    if name in (None, "-"):
        return (sys.stdout.buffer if binary else sys.stdout), True
    return open(name, "wb" if binary else "w", newline="" if not binary else None), False


def _reason(e: BaseException, where: str | None, named: list[str]) -> tuple[str | None, str]:
    """(file, reason) of an error: an OSError's own file name first; a
    message that already names one of ``named`` (the inputs, the output)
    is not prefixed with the input again."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return os.fsdecode(e.filename), e.strerror
    text = str(e).strip().replace("\n", " ") or type(e).__name__
    if isinstance(e, ImportError) or not isinstance(e, OSError | ValueError | LookupError):
        text = f"{type(e).__name__}: {text}" if not isinstance(e, ImportError) else text
    # The core's label of a file object: here it is standard input.
    text = text.removeprefix("<file object>: ")
    if where and text.startswith(f"{where}: "):
        text = text[len(where) + 2 :]
    if any(i != "-" and i in text for i in named):
        return None, text
    return where, text


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush does
    not fail again on the closed pipe (Python's documented remedy)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class _Warnings:
    """``warnings.showwarning`` for a command: one line each, counted."""

    def __init__(
        self,
        command: str,
        where: Callable[[], str | None],
        named: list[str] | None = None,
        others: list[str] | None = None,
    ) -> None:
        self.command, self.where, self.count = command, where, 0
        # Files a message may name itself (then not named again before it):
        # the inputs, and the output or the collector (``others``).
        self.others = [n for n in others or [] if n != "-"]
        self.named = [n for n in named or [] if n != "-"] + self.others

    def __call__(self, message: Warning | str, *_: Any, **__: Any) -> None:
        # After Ctrl-C, the interruption as the core reported it is not
        # shown; what the output or the collector says still is (messages
        # lost over UDP before the export stopped).
        if _Interrupt.seen and not any(o in str(message) for o in self.others):
            return
        # Data before its template is the stream's way (RFC 7011 §8: a
        # collector may start mid-stream), shown but no failure; malformed
        # or cut-short input is.
        if "arrived before its template" not in str(message):
            self.count += 1
        place = None if any(n in str(message) for n in self.named) else self.where()
        prefix = f"ferrofix {self.command}: {place}: " if place else f"ferrofix {self.command}: "
        print(f"{prefix}warning: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run a parsed subcommand (``args.func``), the shell's way: warnings
    as one line each (and exit 1 at the end), errors as one line and exit 1, Ctrl-C 130, a closed
    stdout 141. ``args.inputs_attr`` names the argument holding the
    file(s) the command reads: each is opened first (a missing one fails
    before any work), and an error is said to be about the one being read
    (``args.current``).
    ``FERROFIX_TRACEBACK=1`` lets an unexpected exception through."""
    command = args.command
    # ``inputs_attr``: the argument naming the input(s): one name, a list
    # (empty: none, e.g. a collector listening), or None for standard input.
    attr = getattr(args, "inputs_attr", None)
    named = getattr(args, attr) if attr else []
    inputs: list[str] = ["-"] if named is None else [named] if isinstance(named, str) else named
    args.current = inputs[0] if inputs else None

    def where() -> str | None:
        cur: str | None = args.current
        return "<stdin>" if cur == "-" else cur

    # What else a message may name: the output, a collector's address.
    others = [
        v
        for v in (getattr(args, "output", None), getattr(args, "export", None))
        if isinstance(v, str) and v != "-"
    ]
    shown = _Warnings(command, where, inputs, others)
    warnings.showwarning = shown
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _Interrupt.handler)
    try:
        for name in inputs:
            args.current = name
            check_input(name)
        args.current = inputs[0] if inputs else None
        status = int(args.func(args))
        if _Interrupt.seen:
            return EXIT_INTERRUPTED
        # Problems skipped (each warned of): the output is all there was
        # to read, but not all the input held.
        return EXIT_ERROR if status == 0 and shown.count else status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except UsageError as e:
        print(f"ferrofix {command}: error: {e} (see ferrofix {command} --help)", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:
        if _Interrupt.seen:
            return EXIT_INTERRUPTED
        if os.environ.get("FERROFIX_TRACEBACK") and not isinstance(e, OSError | ValueError):
            raise
        if isinstance(e, OSError) and e.errno == 32:  # EPIPE, raised as a plain OSError
            _quiet_stdout()
            return EXIT_BROKEN_PIPE
        place, reason = _reason(e, where(), inputs + others)
        print(f"ferrofix {command}: {place + ': ' if place else ''}{reason}", file=sys.stderr)
        return EXIT_ERROR
