"""ff.meter(workers=n): the flow tables on n threads give the records of one
(flowIds aside: they are numbered per worker), on real captures."""

from __future__ import annotations

from pathlib import Path

import meter_oracle as mo
import pytest

import ferrofix as ff

DATA = Path(__file__).resolve().parent.parent / "data" / "pcap"
# The oracle captures kept in the repository: every link type,
# encapsulation, fragment and time case the meter is tested on.
IN_REPO = [name for name, where, _ in mo.cases() if where == "tests"]


def _rows(capture: Path, workers: int, **kw: object) -> tuple[list[tuple[object, ...]], int]:
    """The rows without flowId, sorted, and how many flowIds."""
    df = ff.meter(capture, workers=workers, **kw)  # type: ignore[arg-type]
    rows = df.drop(columns=["flowId"]).astype(str).itertuples(index=False, name=None)
    return sorted(rows), df["flowId"].nunique()


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("timeouts", [{}, {"idle_timeout": 1.0, "active_timeout": 5.0}])
def test_workers_give_the_records_of_one(workers: int, timeouts: dict[str, float]) -> None:
    capture = DATA / "nfstream__1kxun.pcap"
    one = _rows(capture, 1, **timeouts)
    assert len(one[0]) > 100
    assert _rows(capture, workers, **timeouts) == one


@pytest.mark.parametrize("name", IN_REPO)
def test_workers_on_every_capture(name: str) -> None:
    """Two workers take the frames apart between them and assign
    fragments in order: the same records and the same counters as one."""
    capture = DATA / name
    one, two = ff.Meter(capture, decapsulate=True), ff.Meter(capture, decapsulate=True, workers=2)
    rows = [
        sorted(
            m.to_pandas().drop(columns=["flowId"]).astype(str).itertuples(index=False, name=None)
        )
        for m in (one, two)
    ]
    assert rows[0] == rows[1]
    # peak_flows is each worker's peak summed (documented): at least one's.
    s1, s2 = one.stats, two.stats
    assert s2.pop("peak_flows") >= s1.pop("peak_flows")
    assert s1 == s2


def test_workers_stats_add_up() -> None:
    capture = DATA / "nfstream__1kxun.pcap"
    one, two = ff.Meter(capture), ff.Meter(capture, workers=2)
    n1 = sum(b.num_rows for b in one)
    n2 = sum(b.num_rows for b in two)
    assert n1 == n2
    for key in ("packets", "flows", "records"):
        assert one.stats[key] == two.stats[key]


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        ff.Meter(DATA / "nfstream__1kxun.pcap", workers=0)
