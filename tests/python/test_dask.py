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
dask = pytest.importorskip("dask")
fsspec = pytest.importorskip("fsspec")
fsspec_memory = pytest.importorskip("fsspec.implementations.memory")

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
    assert list(got.columns) == [*single.columns, "capture"]
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


# -- URLs, storage_options, the capture column, options ----------------------


def test_urls_for_meter_stats_and_health_on_a_cluster(client: Any, files: list[Path]) -> None:
    """file:// URLs (as s3:// ones would be) reach every function: each is
    opened on the workers through fsspec, not handed to ferrofix as a path
    (which raised FileNotFoundError)."""
    urls = [f"file://{p}" for p in CAPTURES]
    got = ffd.meter(urls).compute()
    assert len(got) == sum(len(ff.meter(p)) for p in CAPTURES)
    assert sorted(set(got["capture"].astype(str))) == sorted(urls)
    stats = ffd.meter_stats(urls)
    assert stats["source"].tolist() == urls
    assert stats["packets"].tolist() == [_packets(p) for p in CAPTURES]
    health = ffd.read_ipfix_health(f"file://{files[0].parent}/part-*.ipfix")
    assert len(health["source"].unique()) == N_FILES
    # the fixture wrote every record of the exporter's file once
    assert health["records"].sum() == len(ff.read_ipfix(SOURCE))


class _KeyedMemory(fsspec_memory.MemoryFileSystem):  # type: ignore[misc]
    """fsspec's in-memory file system under its own protocol that, like a
    cloud store, needs its credentials: an instance made without
    ``token="sesame"`` (what ``storage_options`` carries) refuses."""

    protocol = "ffkeyed"

    def __init__(self, *args: Any, token: str | None = None, **kw: Any) -> None:
        if token != "sesame":
            raise PermissionError(f"no credentials (token={token!r})")
        super().__init__(*args, **kw)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str):
            path = path.removeprefix("ffkeyed://")
        return super()._strip_protocol(path)


@pytest.fixture
def keyed(files: list[Path]) -> Iterator[str]:
    """Two captures and three IPFIX files in the keyed in-memory store."""
    fsspec.register_implementation("ffkeyed", _KeyedMemory, clobber=True)
    fs = _KeyedMemory(token="sesame")
    for p in CAPTURES[:2]:
        fs.pipe(f"/ff/cap/{p.name}", p.read_bytes())
    for p in files[:3]:
        fs.pipe(f"/ff/ipfix/{p.name}", p.read_bytes())
    try:
        with dask.config.set(scheduler="sync"):  # the store lives in this process
            yield "ffkeyed://ff"
    finally:
        fs.rm("/ff", recursive=True)


def test_storage_options_reach_every_function(keyed: str, files: list[Path]) -> None:
    creds = {"token": "sesame"}
    for call in (
        lambda: ffd.meter(f"{keyed}/cap/*.pcap"),
        lambda: ffd.meter_stats(f"{keyed}/cap/*.pcap"),
        lambda: ffd.read_ipfix_health(f"{keyed}/ipfix/*.ipfix"),
        lambda: ffd.read_ipfix(f"{keyed}/ipfix/*.ipfix"),
    ):
        with pytest.raises(PermissionError, match="credentials"):
            call()
    caps = ffd.meter(f"{keyed}/cap/*.pcap", storage_options=creds).compute()
    assert len(caps) == sum(len(ff.meter(p)) for p in CAPTURES[:2])
    stats = ffd.meter_stats(f"{keyed}/cap/*.pcap", storage_options=creds)
    assert sorted(stats["packets"]) == sorted(_packets(p) for p in CAPTURES[:2])
    health = ffd.read_ipfix_health(f"{keyed}/ipfix/*.ipfix", storage_options=creds)
    whole = ff.read_ipfix(SOURCE)
    assert health["records"].sum() == sum(len(whole.iloc[i::N_FILES]) for i in range(3))
    df = ffd.read_ipfix(f"{keyed}/ipfix/*.ipfix", storage_options=creds).compute()
    assert len(df) == health["records"].sum()
    # fsspec's own memory:// URLs, no options
    mem = fsspec.filesystem("memory")
    mem.pipe("/ffplain/a.pcap", CAPTURES[0].read_bytes())
    try:
        with dask.config.set(scheduler="sync"):
            assert ffd.meter_stats("memory://ffplain/a.pcap")["packets"].tolist() == [
                _packets(CAPTURES[0])
            ]
    finally:
        mem.rm("/ffplain", recursive=True)


def test_each_row_names_its_capture(tmp_path: Path) -> None:
    """flowIds restart in every capture; the capture column tells two
    captures' rows apart and ties a row to its file (tcp_series)."""
    a, b = tmp_path / "mon1.pcap", tmp_path / "mon2.pcap"
    shutil.copy(CAPTURES[0], a)
    shutil.copy(CAPTURES[1], b)
    with dask.config.set(scheduler="sync"):
        ddf = ffd.meter([str(a), str(b)])
        assert isinstance(ddf["capture"].dtype, pd.CategoricalDtype)
        assert ddf["capture"].cat.known
        assert list(ddf["capture"].cat.categories) == [str(a), str(b)]
        got = ddf.compute()
        projected = ddf[["flowId", "capture"]].compute()
        without = ffd.meter([str(a), str(b)], capture_column=None).compute()
    per = got.groupby("capture", observed=True).size().to_dict()
    assert per == {str(a): len(ff.meter(CAPTURES[0])), str(b): len(ff.meter(CAPTURES[1]))}
    assert got["flowId"].duplicated().any()  # 1, 2, ... in both captures
    assert not got[["capture", "flowId"]].duplicated().any()
    assert projected["capture"].astype(str).tolist() == got["capture"].astype(str).tolist()
    assert "capture" not in without.columns
    # the same capture twice, and the column alone
    with dask.config.set(scheduler="sync"):
        twice = ffd.meter([str(a), str(a)])
        alone = twice[["capture"]].compute()
    assert list(twice["capture"].cat.categories) == [str(a)]
    assert len(alone) == 2 * len(ff.meter(CAPTURES[0]))
    row = got[(got["capture"] == str(b)) & (got["protocolIdentifier"] == 6)].iloc[0]
    (s,) = ff.tcp_series(row["capture"], [int(row["flowId"])]).values()
    assert len(s.forward["time_ns"]) == row["packetDeltaCount"]


def test_options_per_file_and_the_refused_ones(files: list[Path]) -> None:
    names = ["octetDeltaCount", "ingressInterface"]
    with dask.config.set(scheduler="sync"):
        got = ffd.read_ipfix(
            [str(p) for p in files[:4]],
            columns=names,
            require="all",
            dtype_backend="numpy_nullable",
            batch_size=3,
        ).compute()
        metered = ffd.meter(
            [str(CAPTURES[0])], dtype_backend="numpy_nullable", batch_size=5, capture_column=None
        ).compute()
    # require="all": files 0 and 3 lack ingressInterface, so none of their records
    whole = ff.read_ipfix(SOURCE)
    assert len(got) == sum(len(whole.iloc[i::N_FILES]) for i in (1, 2))
    assert got["ingressInterface"].notna().all()
    assert str(got["octetDeltaCount"].dtype) == "UInt64"
    single = ff.meter(CAPTURES[0], dtype_backend="numpy_nullable")
    assert len(metered) == len(single)
    # the single-machine frame's dtypes, but addresses as strings (not categories)
    want = ["string" if str(t) == "category" else str(t) for t in single.dtypes]
    assert [str(t) for t in metered.dtypes] == want
    # object columns stay as ferrofix made them (Dask's string conversion
    # would turn the histogram arrays into their text)
    hist = [x.tolist() for x in metered["tcpRttHistogram"].dropna()]
    assert sorted(hist) == sorted(x.tolist() for x in single["tcpRttHistogram"].dropna())
    assert hist
    for bad in ("n_rows", "workers", "by_template"):
        with pytest.raises(TypeError, match=bad):
            ffd.read_ipfix([str(files[0])], **{bad: 1})
    with pytest.raises(TypeError, match="workers"):
        ffd.meter([str(CAPTURES[0])], workers=2)
    with pytest.raises(TypeError, match="nonsense"):
        ffd.meter([str(CAPTURES[0])], nonsense=2)


def test_partitions_have_the_accessor(files: list[Path]) -> None:
    """A Dask DataFrame has no flows accessor (the README says so); its
    partitions, pandas frames, do."""
    with dask.config.set(scheduler="sync"):
        ddf = ffd.read_ipfix([str(p) for p in files[:2]])
        assert not hasattr(ddf, "flows")
        got = ddf.map_partitions(lambda p: p.flows.duration()).compute()
    df = pd.concat([ff.read_ipfix(p) for p in files[:2]], ignore_index=True)
    want = pd.to_datetime(df["flowEndMilliseconds"]) - pd.to_datetime(df["flowStartMilliseconds"])
    assert got.tolist() == want.tolist()
