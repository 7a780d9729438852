"""``ferrofix.write_dataset``: a Hive-partitioned Parquet dataset that
pandas, polars, DuckDB and Dask read without ferrofix; appending adds files;
the IEs stay in the Parquet schema. Partition values are checked against
the records' own times (Python's datetime) and the capture's senders
(tshark); IE numbers against IANA's registry."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC
from pathlib import Path

import pytest

import ferrofix as ff

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")

DATA = Path(__file__).resolve().parents[1] / "data"
FILE = DATA / "ipfix" / "ipfixcol2__example_flows.ipfix"
CAPTURE = DATA / "pcap" / "ferrofix__ipfix-udp-fragments.pcap"
LAYOUT = re.compile(
    r"date=(\d{4}-\d\d-\d\d)/hour=(\d+)/exporter=([^/]+)/part-[0-9a-f]{32}-\d+\.parquet"
)


def _rows(path: Path) -> int:
    return len(ff.read_ipfix(path))


def test_layout_partition_values_and_ie_metadata(tmp_path: Path) -> None:
    written = ff.write_dataset(FILE, tmp_path)
    assert written
    want = ff.read_ipfix(FILE)
    got = 0
    for f in written:
        m = LAYOUT.search(Path(f).relative_to(tmp_path).as_posix())
        assert m, f
        date, hour, exporter = m.groups()
        assert exporter == "none"  # a file: no exporter address
        t = pq.read_table(f)
        got += t.num_rows
        for start in t.column("flowStartMilliseconds").to_pylist():
            assert start.astimezone(UTC).strftime("%Y-%m-%d") == date
            assert start.astimezone(UTC).hour == int(hour)
        # IANA: octetDeltaCount is IE 1, unsigned64 (PEN 0).
        md = t.schema.field("octetDeltaCount").metadata
        assert (md[b"ipfix.pen"], md[b"ipfix.id"], md[b"ipfix.type"]) == (b"0", b"1", b"unsigned64")
    assert got == len(want)


def test_a_capture_is_partitioned_by_its_exporters(tmp_path: Path) -> None:
    written = ff.write_dataset(CAPTURE, tmp_path)
    exporters = {LAYOUT.search(Path(f).as_posix()).group(3) for f in written}  # type: ignore[union-attr]
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    out = subprocess.run(
        ["tshark", "-r", str(CAPTURE), "-T", "fields", "-e", "ip.src", "-e", "ipv6.src"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    senders = {a for line in out.splitlines() for a in line.split("\t") if a}
    # ':' is escaped in the folder names, as Hive does.
    assert {e.replace("%3A", ":") for e in exporters} == senders


def test_append_and_read_without_ferrofix(tmp_path: Path) -> None:
    first = ff.write_dataset(FILE, tmp_path)
    second = ff.write_dataset(CAPTURE, tmp_path)
    assert set(first).isdisjoint(second) and all(Path(f).exists() for f in first)
    total = _rows(FILE) + _rows(CAPTURE)
    # The two writes hold different IEs: readers are given the union.
    schema = pa.unify_schemas([pq.read_schema(f) for f in first + second])
    import pyarrow.dataset as ds

    t = ds.dataset(tmp_path, partitioning="hive", schema=None).to_table()
    assert t.num_rows == total
    both = ds.dataset(
        tmp_path, partitioning="hive", schema=schema.append(pa.field("date", pa.string()))
    )
    assert both.count_rows() == total
    polars = pytest.importorskip("polars")
    n = polars.scan_parquet(
        f"{tmp_path}/**/*.parquet", hive_partitioning=True, missing_columns="insert"
    ).select(polars.len())
    assert n.collect().item() == total
    duckdb = pytest.importorskip("duckdb")
    q = f"select count(*), count(distinct exporter) from read_parquet('{tmp_path}/**/*.parquet', hive_partitioning=true, union_by_name=true)"  # noqa: E501
    assert duckdb.sql(q).fetchall() == [(total, 3)]  # none, 127.0.0.1, ::1
    dd = pytest.importorskip("dask.dataframe")
    assert len(dd.read_parquet(str(tmp_path))) == total
    by = pd.read_parquet(tmp_path)
    assert len(by) == total
    assert int(by.loc[by.exporter == "none"].shape[0]) == _rows(FILE)


def test_several_files_share_one_schema(tmp_path: Path) -> None:
    """A list of sources is written with the union of their columns."""
    a = tmp_path / "a.ipfix"
    b = tmp_path / "b.ipfix"
    whole = ff.read_ipfix(FILE)
    ff.write_ipfix(whole.iloc[::2].drop(columns=["ingressInterface"]), a)
    ff.write_ipfix(whole.iloc[1::2], b)
    written = ff.write_dataset([a, b], tmp_path / "ds")
    schemas = {pq.read_schema(f).remove_metadata() for f in written}
    assert len(schemas) == 1
    assert "ingressInterface" in next(iter(schemas)).names


def test_convert_and_its_dataset(tmp_path: Path) -> None:
    """``ferrofix convert FILE --dataset DIR`` writes the same layout,
    appends, and names bad partition keys in one line."""
    import subprocess as sp
    import sys

    def convert(*args: str) -> sp.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "ferrofix", "convert", *args]
        return sp.run(cmd, capture_output=True, text=True, check=False)

    r = convert(str(CAPTURE), "--dataset", str(tmp_path))
    assert r.returncode == 0, r.stderr
    first = r.stdout.split()
    r = convert(str(FILE), "--dataset", str(tmp_path), "--partition-by", "date,protocolIdentifier")
    assert r.returncode == 0, r.stderr
    second = r.stdout.split()
    assert all(LAYOUT.search(f) for f in first)
    assert all(re.search(r"/date=[\d-]+/protocolIdentifier=\d+/part-", f) for f in second)
    rows = sum(pq.read_metadata(f).num_rows for f in first + second)
    assert rows == _rows(CAPTURE) + _rows(FILE)
    r = convert(str(FILE), "--dataset", str(tmp_path), "--partition-by", "nothing")
    assert r.returncode == 1 and "nothing" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
def test_spark_reads_the_dataset(tmp_path: Path) -> None:
    """Apache Spark (pyspark, local mode) reads the dataset as it reads any
    Hive-partitioned Parquet: every row, the partition column, the sums."""
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for Spark (make tools installs openjdk-17-jre-headless)")
    sql = pytest.importorskip("pyspark.sql")
    ff.write_dataset(CAPTURE, tmp_path)
    ff.write_dataset(FILE, tmp_path)
    spark = (
        sql.SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    try:
        spark.sparkContext.setLogLevel("ERROR")
        df = spark.read.option("mergeSchema", "true").parquet(str(tmp_path))
        assert df.count() == _rows(CAPTURE) + _rows(FILE)
        got = {
            r["exporter"]: int(r["s"])
            for r in df.groupBy("exporter")
            .agg({"octetDeltaCount": "sum"})
            .withColumnRenamed("sum(octetDeltaCount)", "s")
            .collect()
        }
        cap = ff.read_ipfix(CAPTURE)
        want = {"none": int(ff.read_ipfix(FILE)["octetDeltaCount"].sum())}
        for col in ("exporterIPv4Address", "exporterIPv6Address"):
            for addr, total in cap.groupby(col, observed=True)["octetDeltaCount"].sum().items():
                want[str(addr)] = int(total)
        assert got == want
    finally:
        spark.stop()
