"""ferrofix.dask on a ``distributed.LocalCluster`` of worker processes: 24
IPFIX files (a real exporter's records split into files with different
column sets, so the schema is a union) and real captures, read and metered
on the workers, equal row for row (after a sort) to the single-machine
``read_ipfix``/``meter`` of the same files; column projection reaches the
decoder; the functions and their arguments pickle."""

from __future__ import annotations

import pickle
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ferrofix as ff

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")
ffd = pytest.importorskip("ferrofix.dask")

DATA = Path(__file__).resolve().parents[1] / "data"
SOURCE = DATA / "ipfix" / "ipfixcol2__example_flows.ipfix"
CAPTURES = [
    DATA / "pcap" / "nfstream__1kxun.pcap",
    DATA / "pcap" / "nfstream__iphone.pcap",
    DATA / "pcap" / "ipfixprobe__mixed.pcap",
]
N_FILES = 24


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=3,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The exporter's records in 24 files; every third file lacks two of
    the columns (so the files' templates differ)."""
    whole = ff.read_ipfix(SOURCE)
    assert len(whole) >= N_FILES
    out = tmp_path_factory.mktemp("ipfix")
    paths = []
    for i in range(N_FILES):
        part = whole.iloc[i::N_FILES]
        if i % 3 == 0:
            part = part.drop(columns=["ingressInterface", "egressInterface"])
        path = out / f"part-{i:02d}.ipfix"
        ff.write_ipfix(part, path, export_time=1_700_000_000 + i)
        paths.append(path)
    return paths


def _packets(path: Path) -> int:
    """Packets in a capture, as Wireshark's capinfos counts them."""
    if shutil.which("capinfos") is None:
        pytest.skip("capinfos (Wireshark) is not installed")
    out = subprocess.run(["capinfos", "-c", "-M", str(path)], capture_output=True, text=True)
    return int(out.stdout.split("Number of packets:")[1].split()[0])


def _sorted(df: Any) -> Any:
    df = df.astype({c: "string[pyarrow]" for c, t in df.dtypes.items() if t == "category"})
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def test_files_on_a_cluster_equal_the_single_machine_read(client: Any, files: list[Path]) -> None:
    ddf = ffd.read_ipfix([str(p) for p in files])
    assert ddf.npartitions == N_FILES
    single = ff.read_ipfix(files)
    assert list(ddf.columns) == list(single.columns)  # known before any partition ran
    got = ddf.compute()
    assert len(got) == len(single) == sum(len(ff.read_ipfix(p)) for p in files)
    pd.testing.assert_frame_equal(_sorted(got), _sorted(single), check_dtype=False)
    # The files without the two columns have nulls there.
    assert got["ingressInterface"].isna().sum() == sum(
        len(ff.read_ipfix(p)) for i, p in enumerate(files) if i % 3 == 0
    )


def test_a_glob_and_a_projection(client: Any, files: list[Path]) -> None:
    ddf = ffd.read_ipfix(str(files[0].parent / "part-*.ipfix"))
    assert ddf.npartitions == N_FILES
    total = ddf["octetDeltaCount"].sum().compute()
    assert total == int(ff.read_ipfix(files)["octetDeltaCount"].sum())
    by_port = ddf.groupby("destinationTransportPort")["packetDeltaCount"].sum().compute()
    want = ff.read_ipfix(files).groupby("destinationTransportPort")["packetDeltaCount"].sum()
    assert by_port.sort_index().tolist() == want.sort_index().tolist()


def test_urls_through_fsspec_are_opened_by_the_workers(client: Any, files: list[Path]) -> None:
    """A file:// URL glob, as an s3:// one would be: expanded by fsspec,
    opened on the workers; the same frame as the local paths give."""
    ddf = ffd.read_ipfix(f"file://{files[0].parent}/part-*.ipfix")
    assert ddf.npartitions == N_FILES
    pd.testing.assert_frame_equal(
        _sorted(ddf.compute()), _sorted(ff.read_ipfix(files)), check_dtype=False
    )


def test_projection_reaches_the_decoder(files: list[Path], monkeypatch: Any) -> None:
    """Dask asks each partition for the projected columns only."""
    seen: list[list[str]] = []
    real = ffd._read_ipfix

    def spy(path: Any, *, columns: Any = None, **kw: Any) -> Any:
        seen.append(list(columns))
        return real(path, columns=columns, **kw)

    monkeypatch.setattr(ffd, "_read_ipfix", spy)
    ddf = ffd.read_ipfix([str(p) for p in files[:3]])
    ddf[["octetDeltaCount", "sourceIPv4Address"]].compute(scheduler="sync")
    parts = [c for c in seen if c]  # the meta's empty read asks for the whole schema first
    assert parts[-3:] == [["octetDeltaCount", "sourceIPv4Address"]] * 3


def test_captures_metered_on_a_cluster_equal_the_single_machine_meter(client: Any) -> None:
    ddf = ffd.meter([str(p) for p in CAPTURES])
    assert ddf.npartitions == len(CAPTURES)
    got = ddf.compute()
    single = pd.concat([ff.meter(p) for p in CAPTURES], ignore_index=True)
    assert list(got.columns) == list(single.columns)
    keys = ["flowId", "flowStartMilliseconds", "octetDeltaCount", "reverseOctetDeltaCount"]
    a = _sorted(got[keys])
    b = _sorted(single[keys])
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    stats = ffd.meter_stats([str(p) for p in CAPTURES])
    assert stats["records"].sum() == len(single)
    assert stats["packets"].tolist() == [_packets(p) for p in CAPTURES]


def test_health_per_file(client: Any, files: list[Path]) -> None:
    h = ffd.read_ipfix_health([str(p) for p in files])
    assert sorted(set(h["source"])) == sorted(str(p) for p in files)
    assert h["records"].sum() == len(ff.read_ipfix(files))


def test_what_is_sent_to_workers_pickles(files: list[Path]) -> None:
    ddf = ffd.read_ipfix([str(p) for p in files[:2]])
    graph = dict(ddf.__dask_graph__())
    assert pickle.loads(pickle.dumps(graph)) is not None
