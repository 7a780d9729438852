"""Writing benchmarks (issue "Exporting"): ferrofix from an Arrow table, from
a pandas DataFrame and from Python tuples, beside python-ipfix's
``export_tuple``, all writing the 10-IE records of the benchmark file to a
file in ``bench-data/``. The inputs are built before the clock starts: the
table and the DataFrame by ferrofix's reader, the tuples by each library's
own reader (python-ipfix's naive datetimes, ferrofix's aware ones), so each
writer gets values of the types it documents. The writers return how many
records they were given; run.py reads every output back afterwards
(``count_written``, outside the timing) and checks the count."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from report import COLUMNS, ROOT

OUT = ROOT / "bench-data"


def arrow_table(path: Path) -> Any:
    import ferrofix as ff

    return ff.scan_ipfix(path, columns=COLUMNS, addresses="int").to_arrow()


def pandas_frame(path: Path) -> Any:
    import ferrofix as ff

    return ff.read_ipfix(path, columns=COLUMNS)


def ff_tuples(path: Path, limit: int) -> list[tuple[Any, ...]]:
    import ferrofix as ff

    it = ff.iter_records(path, columns=COLUMNS, as_="tuple")
    return list(itertools.islice(it, limit))


def ipfix_tuples(path: Path, limit: int) -> list[tuple[Any, ...]]:
    import ipfix.ie
    import ipfix.reader

    with open(path, "rb") as f:
        it = ipfix.reader.from_stream(f).tuple_iterator(ipfix.ie.spec_list(COLUMNS))
        return list(itertools.islice(it, limit))


def ff_write_table(data: Any, name: str) -> int:
    """``write_ipfix`` of a table (Arrow or pandas) to a file (or, for the
    name ``/dev/null``, to nothing: the encoder without the file system)."""
    import ferrofix as ff

    dest = Path(name) if name.startswith("/") else OUT / name
    ff.write_ipfix(data, dest, export_time=1_700_000_000)
    return len(data)


def ff_write_tuples(rows: list[tuple[Any, ...]], name: str) -> int:
    """``Writer.write_records`` of tuples to a file."""
    import ferrofix as ff

    with ff.Writer(OUT / name, export_time=1_700_000_000) as w:
        tid = w.add_template(COLUMNS)
        w.write_records(tid, rows)
    return len(rows)


def ipfix_write_tuples(rows: list[tuple[Any, ...]], name: str) -> int:
    """python-ipfix: ``to_stream`` + ``export_tuple`` per record."""
    import ipfix.ie
    import ipfix.template
    import ipfix.writer

    with open(OUT / name, "wb") as f:
        w = ipfix.writer.to_stream(f)
        w.set_domain(0)
        w.add_template(ipfix.template.from_ielist(256, ipfix.ie.spec_list(COLUMNS)))
        w.set_export_template(256)
        for r in rows:
            w.export_tuple(r)
        w.flush()
    return len(rows)


def compat_write_tuples(rows: list[tuple[Any, ...]], name: str) -> int:
    """ferrofix.compat: the same python-ipfix calls, ``ferrofix.compat``'s
    modules."""
    from ferrofix.compat import ie, template, writer

    with open(OUT / name, "wb") as f:
        w = writer.to_stream(f)
        w.set_domain(0)
        w.add_template(template.from_ielist(256, ie.spec_list(COLUMNS)))
        w.set_export_template(256)
        for r in rows:
            w.export_tuple(r)
        w.flush()
    return len(rows)


def remove(name: str | None) -> None:
    """Delete an earlier run's output, so the next run writes a new file."""
    if name is not None:
        (OUT / name).unlink(missing_ok=True)


def count_written(name: str) -> int:
    """Records in a written file, counted by ferrofix's reader."""
    path = OUT / name
    import ferrofix as ff

    return sum(b.num_rows for b in ff.scan_ipfix(path, columns=["octetDeltaCount"]).batches())
