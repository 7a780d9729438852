"""``ferrofix csv`` and ``ferrofix stat``: python-ipfix's ``ipfix2csv`` and
``ipfixstat`` scripts, with their options, on ferrofix.compat.

``ferrofix csv IE... [-f FILE] [-s SPECFILE] [-z|-j] [-9] [-c tcp -b ADDR
-p PORT]`` writes the records holding every IE named as CSV (one header
line of IE names, values as python-ipfix's ``unparse`` shows them);
``ferrofix stat [-f FILE] [-s SPECFILE] [-z|-j] [-9]`` prints every
template with how often it came, was replaced, and how many data sets and
bytes used it, and the sets that came without a template.

Differences from python-ipfix's scripts: gzip files are also recognised
without ``-z`` (and zstd by ``csv``); ``-9`` is accepted but not needed by
``csv`` (NetFlow v9 is recognised by its version), and works when
collecting too; ``stat`` reads IPFIX only, as python-ipfix's did, and says
so instead of a traceback; a record
python-ipfix's ``unparse`` could not show aborted ipfix2csv, here the
value's ``str()`` is written.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import gzip
import sys
import warnings
from collections.abc import Callable
from typing import IO, Any, cast

from .. import _cli
from . import ie, message, reader, template


def _init(specfiles: list[str] | None) -> None:
    ie.clear_infomodel()
    ie.use_iana_default()
    ie.use_5103_default()
    for sf in specfiles or []:
        ie.use_specfile(sf)


def _open(args: argparse.Namespace) -> IO[bytes]:
    f = _open_plain(args)
    total = None if args.file in (None, "-") else _cli.input_size(args.file)
    progress = _cli.Progress(total, args.progress)
    if not progress.enabled:
        return f
    args.progress_bar = progress
    return cast(IO[bytes], _cli.CountingReader(f, progress))


def _close(args: argparse.Namespace, f: IO[bytes]) -> None:
    bar = getattr(args, "progress_bar", None)
    if bar is not None:
        bar.done()
    if args.file not in (None, "-"):
        f.close()


def _open_plain(args: argparse.Namespace) -> IO[bytes]:
    if args.file in (None, "-"):
        return sys.stdin.buffer
    if args.bzip2:
        return cast(IO[bytes], bz2.open(args.file, "rb"))
    with open(args.file, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if args.gzip or gzipped:
        return cast(IO[bytes], gzip.open(args.file, "rb"))
    return open(args.file, "rb")


def _unparse(col: ie.InformationElement, v: Any) -> str:
    try:
        return str(col.unparse(v))
    except (TypeError, ValueError):
        return str(v)


def stream_to_csv(instream: IO[bytes], ienames: list[str], out: IO[str]) -> int:
    """Write the records of ``instream`` holding every IE of ``ienames`` as
    CSV to ``out``; returns the records written."""
    cols = ie.spec_list(ienames)
    w = csv.writer(out, dialect="unix")
    w.writerow([e.name for e in cols])
    n = 0
    for rec in reader.from_stream(instream).tuple_iterator(cols):
        w.writerow([_unparse(c, v) for v, c in zip(rec, cols, strict=True)])
        n += 1
    return n


def run_csv(args: argparse.Namespace) -> int:
    """``ferrofix csv``."""
    _init(args.spec)
    if args.collect:
        if args.collect != "tcp":
            raise ValueError(f"unsupported transport {args.collect}: only 'tcp'")

        import socketserver

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                sys.stderr.write(f"connection from {self.client_address}\n")
                stream_to_csv(cast(IO[bytes], self.rfile), args.ienames, sys.stdout)
                sys.stdout.flush()

        sys.stderr.write(f"starting TCP CP on {args.bind}:{args.port}; Ctrl-C to stop\n")
        with socketserver.TCPServer((args.bind, args.port), Handler) as server:
            server.serve_forever()
        return 0
    f = _open(args)
    try:
        with warnings.catch_warnings():
            # Records lacking an IE are left out, as ipfix2csv did silently
            # (its output, not a problem with the input).
            warnings.filterwarnings("ignore", message=r".* records whose template lacks")
            stream_to_csv(f, args.ienames, sys.stdout)
    except template.IpfixDecodeError as e:
        raise ValueError(str(e)) from None
    finally:
        _close(args, f)
    return 0


class TemplateStats:
    """Counts per (domain, template id): instances, replacements, data sets
    and their bytes; and data sets that came without their template."""

    def __init__(self, instream: IO[bytes]) -> None:
        self.templates: dict[tuple[int, int], template.Template] = {}
        self.count: dict[tuple[int, int], int] = {}
        self.replaced: dict[tuple[int, int], int] = {}
        self.sets: dict[tuple[int, int], int] = {}
        self.bytes: dict[tuple[int, int], int] = {}
        self.missing_sets: dict[tuple[int, int], int] = {}
        self.missing_bytes: dict[tuple[int, int], int] = {}
        self.r = reader.from_stream(instream)
        self.r.msg.template_record_hook = self._template
        self.r.msg.ignored_data_set_hook = self._data_set
        self.r.msg.unknown_data_set_hook = self._unknown_set

    def _template(self, msg: message.MessageBuffer, tmpl: template.Template) -> None:
        key = (msg.odid, tmpl.tid)
        if key in self.templates:
            self.count[key] += 1
            if not self.templates[key].identical_to(tmpl):
                self.replaced[key] += 1
                self.templates[key] = tmpl
        else:
            self.templates[key] = tmpl
            self.count[key] = 1
            self.replaced[key] = self.sets[key] = self.bytes[key] = 0

    def _data_set(self, msg: message.MessageBuffer, tmpl: template.Template, setbuf: Any) -> None:
        key = (msg.odid, tmpl.tid)
        self.sets[key] = self.sets.get(key, 0) + 1
        self.bytes[key] = self.bytes.get(key, 0) + len(setbuf)

    def _unknown_set(self, msg: message.MessageBuffer, setbuf: Any) -> None:
        setid, setlen = message._sethdr_st.unpack_from(setbuf)
        key = (msg.odid, setid)
        self.missing_sets[key] = self.missing_sets.get(key, 0) + 1
        self.missing_bytes[key] = self.missing_bytes.get(key, 0) + setlen

    def run(self) -> None:
        # An IE no template holds: every data set goes to the ignored-set
        # hook, nothing is decoded (python-ipfix's ipfixstat's trick).
        never = ie.spec_list(["impossible(35566/32767)<unsigned8>[1]"])
        for _ in self.r.tuple_iterator(never):
            pass

    def report(self, out: Callable[[str], Any] = print) -> None:
        def total(d: dict[Any, int]) -> int:
            return sum(d.values())

        out(
            f"#\n# {len(self.templates)} templates, {total(self.count)} template sets, "
            f"{total(self.sets)} decodable sets, {total(self.replaced)} replacements, "
            f"{total(self.missing_sets)} missing sets total"
        )
        missing = dict(self.missing_sets)
        for key in sorted(self.templates):
            odid, tid = key
            tmpl = self.templates[key]
            kind = "Options Template" if tmpl.scopecount else "Template"
            out(f"#\n# {kind} {tid} in domain {odid} ({len(tmpl.ies)} IEs)\n#")
            for i, e in enumerate(tmpl.ies):
                out(str(e) + ("{scope}" if i < tmpl.scopecount else ""))
            out(
                f"# {self.count[key]} instances {self.replaced[key]} replacements "
                f"{self.sets.get(key, 0)} sets {self.bytes.get(key, 0)} bytes "
            )
            if key in missing:
                out(f"# {missing.pop(key)} sets missing template with this ID")
        if missing:
            out("#\n# Sets without templates")
            for (odid, tid), n in missing.items():
                out(f"# {n} sets missing template with ID {tid} in domain {odid}")


def run_stat(args: argparse.Namespace) -> int:
    """``ferrofix stat``."""
    _init(args.spec)
    f = _open(args)
    try:
        stats = TemplateStats(f)
        stats.run()
    except template.IpfixDecodeError as e:
        # stat reads message by message (its hooks see every set): IPFIX only.
        raise ValueError(f"{e} (ferrofix stat reads IPFIX)") from None
    finally:
        _close(args, f)
    stats.report()
    return 0
