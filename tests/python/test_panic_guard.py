"""Panics never cross into Python (issue 13). A test-only hook
(``_ferrofix.arm_test_panic``) makes the next pass through a named entry point
panic; each entry must raise ``ferrofix.InternalError`` naming its input,
and the interpreter must survive, for every consumer we document: records,
pyarrow, polars, DuckDB and pandas through the Arrow C stream, and the
writer. Consumers of the C stream run in a child interpreter, so that an
abort (a panic unwinding into Arrow's C callback) fails the test instead of
killing pytest."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ferrofix as ff
from ferrofix import _ferrofix

FILE = Path(__file__).resolve().parents[1] / "data" / "ipfix" / "ipfixcol2__example_flows.ipfix"
COLUMNS = ["sourceIPv4Address", "octetDeltaCount"]


@pytest.fixture(autouse=True)
def _disarm() -> Iterator[None]:
    yield
    _ferrofix.arm_test_panic(None)


def _raises_internal(point: str, call: Callable[[], Any], label: str = FILE.name) -> str:
    _ferrofix.arm_test_panic(point)
    with pytest.raises(ff.InternalError) as ei:
        call()
    msg = str(ei.value)
    assert f"forced panic at {point}" in msg, msg
    assert label in msg, msg
    return msg


def _drain_reader(r: Any) -> None:
    while r.next_batch() is not None:
        pass


READER_POINTS = [
    "reader.configure",
    "reader.next_batch",
    "reader.cache_sizes",
    "reader.take_warnings",
    "reader.templates",
    "reader.health",
]


def test_reader_new() -> None:
    _raises_internal("reader.new", lambda: _ferrofix._Reader(str(FILE)))


@pytest.mark.parametrize("point", READER_POINTS)
def test_reader_methods(point: str) -> None:
    r = _ferrofix._Reader(str(FILE))
    r.next_batch()  # some state: the offset is named in the error
    method = point.split(".")[1]
    call = {"configure": lambda: r.configure("tuple")}.get(method, getattr(r, method))
    msg = _raises_internal(point, call)
    assert "byte offset" in msg, msg
    # A panic at the entry touched no state: the reader goes on.
    assert r.next_batch() is not None


@pytest.mark.parametrize("kind", ["reader", "scanner"])
def test_state_a_panic_interrupted_is_not_used_again(kind: str) -> None:
    """A panic in the middle of decoding (the object's state locked)."""
    if kind == "reader":
        obj: Any = _ferrofix._Reader(str(FILE))
    else:
        obj = _ferrofix._Scanner(str(FILE), columns=COLUMNS, batch_size=10)
    obj.next_batch()
    msg = _raises_internal(f"{kind}.decode", obj.next_batch)
    assert "byte offset" in msg, msg
    with pytest.raises(ff.InternalError, match="stopped after an earlier internal error"):
        obj.next_batch()
    with pytest.raises(ff.InternalError, match="stopped after an earlier internal error"):
        obj.health()


def test_iter_records_and_read_ipfix() -> None:
    _raises_internal("reader.next_batch", lambda: list(ff.iter_records(FILE)))
    _raises_internal("scanner.next_batch", lambda: ff.read_ipfix(FILE, columns=COLUMNS))
    _raises_internal("scanner.new", lambda: ff.read_ipfix(FILE, columns=COLUMNS))
    # Unarmed, the same calls work (the hook fires once).
    assert len(ff.read_ipfix(FILE, columns=COLUMNS)) > 0


SCANNER_POINTS = [
    "scanner.schema",
    "scanner.next_batch",
    "scanner.last_template",
    "scanner.template_columns",
    "scanner.health",
    "scanner.take_warnings",
    "scanner.finished",
    "scanner.local_addresses",
    "scanner.stop",
    "scanner.live_counters",
    "scanner.arrow_c_stream",
]


@pytest.mark.parametrize("point", SCANNER_POINTS)
def test_scanner_methods(point: str) -> None:
    s = _ferrofix._Scanner(str(FILE), columns=COLUMNS)
    method = point.split(".")[1]
    calls: dict[str, Callable[[], Any]] = {
        "schema": lambda: s.schema,
        "arrow_c_stream": lambda: s.__arrow_c_stream__(),
    }
    _raises_internal(point, calls.get(method) or getattr(s, method))


def test_collector() -> None:
    _raises_internal(
        "scanner.listen",
        lambda: ff.Collector(udp="127.0.0.1:0", columns=COLUMNS),
        label="collector",
    )


WRITER_POINTS = [
    ("writer.add_template", lambda w: w.add_template(["octetDeltaCount"], 256)),
    ("writer.write", lambda w: w.write(256, {"octetDeltaCount": 1})),
    ("writer.write_many", lambda w: w.write_many(256, [{"octetDeltaCount": 1}])),
    ("writer.write_arrow", lambda w: w.write_arrow(_table())),
    ("writer.withdraw", lambda w: w.withdraw(256)),
    ("writer.withdraw_all", lambda w: w.withdraw_all()),
    ("writer.flush", lambda w: w.flush()),
    ("writer.stats", lambda w: w.stats()),
    ("writer.close", lambda w: w.close()),
]


def _table() -> Any:
    import pyarrow as pa

    return pa.table({"octetDeltaCount": pa.array([1, 2], pa.uint64())})


@pytest.mark.parametrize(("point", "call"), WRITER_POINTS)
def test_writer_methods(tmp_path: Path, point: str, call: Callable[[Any], Any]) -> None:
    out = tmp_path / "out.ipfix"
    w = _ferrofix._Writer(str(out))
    if point != "writer.add_template":
        w.add_template(["octetDeltaCount"], 256)
    _raises_internal(point, lambda: call(w), label="out.ipfix")
    _raises_internal("writer.new", lambda: _ferrofix._Writer(str(out)), label="out.ipfix")


def test_functions() -> None:
    _raises_internal("parse_iespec", lambda: ff.parse_spec("octetDeltaCount"), label="IESpec")
    _raises_internal("describe_ies", lambda: ff.describe("octetDeltaCount"), label="IEs")


STREAM_CONSUMERS = {
    "pyarrow": "import pyarrow as pa; pa.table(scan)",
    "pyarrow-reader": (
        "import pyarrow as pa; r = pa.RecordBatchReader.from_stream(scan); r.read_all()"
    ),
    "polars": "import polars as pl; pl.DataFrame(scan)",
    "duckdb": "import duckdb; duckdb.sql('select count(*) from scan').fetchall()",
    "pandas": "scan.to_pandas()",
}


CAPTURE = FILE.parents[1] / "pcap" / "nfstream__1kxun.pcap"
SOURCES = {
    "scan": f"ff.scan_ipfix({str(FILE)!r}, columns={COLUMNS!r}, batch_size=100)",
    "meter": f"ff.Meter({str(CAPTURE)!r}, batch_size=10)",
}


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("consumer", sorted(STREAM_CONSUMERS))
def test_arrow_c_stream_consumers_survive(consumer: str, source: str) -> None:
    """The panic happens inside the stream's get_next, called from the
    consumer's C++/Rust code; the child must come back with a Python error
    naming the input and the place, not abort."""
    script = textwrap.dedent(
        f"""
        import ferrofix as ff
        from ferrofix import _ferrofix
        scan = {SOURCES[source]}
        _ferrofix.arm_test_panic("scanner.stream_next")
        try:
            {STREAM_CONSUMERS[consumer]}
        except BaseException as e:
            print("ERROR", type(e).__module__, type(e).__name__, e)
        else:
            print("NO ERROR")
        print("ALIVE")
        """
    )
    if consumer == "pandas":
        # to_pandas reads batch by batch through next_batch, not the C stream.
        point = "meter.packets" if source == "meter" else "scanner.next_batch"
        script = script.replace("scanner.stream_next", point)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
    out = p.stdout
    assert "ALIVE" in out and "NO ERROR" not in out, out
    assert "forced panic at scanner." in out or "forced panic at meter." in out, out
    label = CAPTURE.name if source == "meter" else FILE.name
    assert label in out and ("byte offset" in out or "at byte" in out), out
    assert "PanicException" not in out, out


METER_POINTS = [
    "meter.schema",
    "meter.next_batch",
    "meter.packets",
    "meter.position",
    "meter.total_bytes",
    "meter.take_warnings",
    "meter.stats",
    "meter.write_ipfix",
    "meter.arrow_c_stream",
]


def test_meter_new() -> None:
    _raises_internal("meter.new", lambda: _ferrofix._Meter([str(CAPTURE)]), label="captures")


@pytest.mark.parametrize("point", METER_POINTS)
def test_meter_methods(point: str) -> None:
    m = _ferrofix._Meter([str(CAPTURE)], batch_size=10)
    calls: dict[str, Callable[[], Any]] = {
        "schema": lambda: m.schema,
        "packets": m.next_batch,
        "arrow_c_stream": lambda: m.__arrow_c_stream__(),
    }
    method = point.split(".")[1]
    _raises_internal(point, calls.get(method) or getattr(m, method), label=CAPTURE.name)
    if point == "meter.packets":
        # The panic interrupted metering: that state is not used again.
        with pytest.raises(ff.InternalError, match="earlier internal error"):
            m.next_batch()


def test_a_listener_thread_panic_reaches_the_reader() -> None:
    """A listener thread that panics sends an InternalError to the reader
    instead of going silent (the collector's other listeners go on)."""
    import socket

    c = ff.Collector(udp="127.0.0.1:0", columns=COLUMNS, interval=0.05, on_bad_records="error")
    try:
        host, port = c.addresses[0][1], c.addresses[0][2]
        _ferrofix.arm_test_panic("listener.udp")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\x00\x0a\x00\x10" + bytes(12), (host, port))
        with pytest.raises(ff.InternalError, match=r"UDP listener on 127\.0\.0\.1:\d+ stopped"):
            for _ in c.batches(duration=5):
                pass
    finally:
        c.stop()
