"""``ferrofix.plot``: what each figure draws, read back from the Axes'
artists, against numpy's values and by-hand worked lists (the ECDF line is
the sorted values and i/n, bars are value_counts, an IQR trim by hand)."""

from __future__ import annotations

from typing import Any

import pytest
from test_flows_accessor import _ts

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
np = pytest.importorskip("numpy")


def test_ecdf_line_is_the_sorted_values_and_their_fractions(plt: Any, fp: Any) -> None:
    values = pd.Series([3.0, 1.0, None, 2.0, 2.0], name="rtt")
    ax = fp.ecdf(values)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1.0, 2.0, 2.0, 3.0])
    np.testing.assert_array_equal(line.get_ydata(), [0.25, 0.5, 0.75, 1.0])
    assert ax.get_xlabel() == "rtt"
    rng = np.random.default_rng(1)
    v = rng.exponential(size=300)
    _, mine = plt.subplots()
    assert fp.ecdf(v, ax=mine) is mine
    line = mine.get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), np.sort(v))
    np.testing.assert_array_equal(line.get_ydata(), np.arange(1, 301) / 300)


def test_iqr_trim_by_hand(fp: Any) -> None:
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 100, None]
    # numpy's linear percentiles of the ten numbers: Q1 = 3.25 (position
    # 2.25), Q3 = 7.75 (6.75); IQR 4.5; fences -3.5 and 14.5: 100 goes
    assert fp.iqr_trim(values).tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    # factor 0: the fences are Q1 and Q3 themselves
    assert fp.iqr_trim(values, factor=0).tolist() == [4, 5, 6, 7]


def test_density_histogram_with_and_without_trimming(fp: Any) -> None:
    values = pd.Series([1, 2, 2, 3, 3, 3, 4, 100], name="x")
    ax = fp.density(values, bins=4)
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, np.histogram(values, bins=4, density=True)[0])
    trimmed = fp.density(values, bins=3, trim=True)
    # Q1 = 2, Q3 = 3.25, IQR 1.25: fences 0.125 and 5.125
    kept = [1, 2, 2, 3, 3, 3, 4]
    heights = [p.get_height() for p in trimmed.patches]
    np.testing.assert_allclose(heights, np.histogram(kept, bins=3, density=True)[0])
    assert trimmed.get_xlabel() == "x (IQR-trimmed)"


def test_density_kde(fp: Any) -> None:
    # one distinct value: zero spread, bandwidth 1: the standard normal's peak
    (line,) = fp.density([5.0, 5.0, 5.0], kind="kde").get_lines()
    np.testing.assert_allclose(line.get_ydata(), 1 / np.sqrt(2 * np.pi))
    # two values -1 and 1: sd sqrt(2), Scott's bandwidth sqrt(2) * 2 ** -0.2;
    # at 0 both kernels are exp(-0.5 / bw**2) / (bw sqrt(2 pi)), averaged
    (line,) = fp.density([-1.0, 1.0], kind="kde").get_lines()
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    bw = np.sqrt(2) * 2**-0.2
    assert x[0] == -1.0 and x[-1] == 1.0 and len(x) == 256
    middle = np.exp(-0.5 / bw**2) / (bw * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(np.interp(0.0, x, y), middle, rtol=1e-4)
    np.testing.assert_allclose(y, y[::-1])


def _stairs(ax: Any) -> dict[str, Any]:
    from matplotlib.patches import StepPatch

    return {p.get_label(): p for p in ax.patches if isinstance(p, StepPatch)}


def test_counts_over_time_by_start_and_end(fp: Any) -> None:
    from matplotlib.dates import date2num
    from matplotlib.patches import Rectangle, StepPatch

    df = pd.DataFrame(
        {
            "flowStartMilliseconds": _ts(
                ["2024-01-01 00:00:05", "2024-01-01 00:00:50", "2024-01-01 00:01:10"]
            ),
            "flowEndMilliseconds": _ts(
                ["2024-01-01 00:00:20", "2024-01-01 00:02:30", "2024-01-01 00:03:59"]
            ),
        }
    )
    ax = df.flows.plot_counts("1min")
    stairs = _stairs(ax)
    # The times run from 00:00:05 to 00:03:59: four whole minutes, 00:00 to
    # 00:04, so five edges; the last minute (00:03) is drawn a minute wide.
    edges = date2num(pd.date_range("2024-01-01 00:00", "2024-01-01 00:04", freq="1min"))
    for label, counts in (("by start", [2, 1, 0, 0]), ("by end", [1, 0, 1, 1])):
        values, got_edges, _ = stairs[label].get_data()
        np.testing.assert_array_equal(values, counts)
        np.testing.assert_allclose(got_edges, edges, rtol=0, atol=1e-9)
        # the drawn outline reaches the last edge at the last count's height
        xy = stairs[label].get_path().vertices
        top = xy[np.isclose(xy[:, 1], counts[-1])]
        assert np.isclose(top[:, 0].max(), edges[-1], atol=1e-9)
    # The parts of the first and last minutes outside 00:00:05-00:03:59 are
    # shaded: [00:00:00, 00:00:05] and [00:03:59, 00:04:00].
    shaded = sorted(
        (p.get_x(), p.get_x() + p.get_width())
        for p in ax.patches
        if isinstance(p, Rectangle) and not isinstance(p, StepPatch)
    )
    want = [("00:00:00", "00:00:05"), ("00:03:59", "00:04:00")]
    assert len(shaded) == 2
    for (lo, hi), (wlo, whi) in zip(shaded, want, strict=True):
        assert np.isclose(lo, date2num(pd.Timestamp(f"2024-01-01 {wlo}")), atol=1e-9)
        assert np.isclose(hi, date2num(pd.Timestamp(f"2024-01-01 {whi}")), atol=1e-9)
    assert "by start" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_counts_over_time_aligned_span_and_no_shading(plt: Any, fp: Any) -> None:
    """A time exactly on an edge falls in the interval that edge starts;
    shade_partial=False draws the stairs alone."""
    from matplotlib.dates import date2num

    df = pd.DataFrame(
        {
            "flowStartSeconds": _ts(["2024-01-01 00:00:00", "2024-01-01 00:00:10"], "s"),
            "flowEndSeconds": _ts(["2024-01-01 00:00:10", "2024-01-01 00:00:20"], "s"),
        }
    )
    _, ax = plt.subplots()
    fp.counts_over_time(df, "10s", by=("end",), ax=ax, shade_partial=False)
    (patch,) = ax.patches
    values, edges, _ = patch.get_data()
    np.testing.assert_array_equal(values, [1, 1])
    # ends at 00:00:10 and 00:00:20: the intervals [10, 20) and [20, 30)
    want = pd.date_range("2024-01-01 00:00:10", "2024-01-01 00:00:30", freq="10s")
    np.testing.assert_allclose(edges, date2num(want), rtol=0, atol=1e-9)


def test_top_n_bars_are_value_counts(plt: Any, fp: Any) -> None:
    ports = pd.Series(
        [443, 80, 443, 53, 443, 80, 22, None], name="destinationTransportPort", dtype="Int64"
    )
    ax = fp.top_n(ports, 2)
    assert [p.get_height() for p in ax.patches] == [3, 2]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["443", "80"]
    _, mine = plt.subplots()
    df = pd.DataFrame({"destinationTransportPort": pd.array(ports, dtype="UInt16")})
    assert df.flows.plot_top("destinationTransportPort", 3, ax=mine, horizontal=True) is mine
    assert [p.get_width() for p in mine.patches] == [3, 2, 1]
    assert [t.get_text() for t in mine.get_yticklabels()] == ["443", "80", "53"]


def test_top_n_leaves_out_categories_no_row_holds(plt: Any, fp: Any) -> None:
    """Address columns are categoricals, and a filtered frame keeps every
    category: only the values that occur are bars."""
    addrs = ["10.0.0.1", "10.0.0.2", "10.0.0.1", "192.168.100.200", "10.0.0.3", "10.0.0.3"]
    col = pd.Series(addrs, dtype="category", name="destinationIPv4Address")
    kept = col[[0, 1, 2, 3]]  # 10.0.0.3 is no longer held; still a category
    assert "10.0.0.3" in kept.cat.categories
    ax = fp.top_n(kept, 10)
    # by hand: 10.0.0.1 twice, then 10.0.0.2 and 192.168.100.200 once
    assert [p.get_height() for p in ax.patches] == [2, 1, 1]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "10.0.0.1" and sorted(labels[1:]) == ["10.0.0.2", "192.168.100.200"]
    # addresses are long: their tick labels are turned, anchored at their end
    assert all(t.get_rotation() == 45 and t.get_ha() == "right" for t in ax.get_xticklabels())
    _, mine = plt.subplots()
    ports = pd.Series([443, 80, 443], name="destinationTransportPort")
    fp.top_n(ports, ax=mine)
    assert all(t.get_rotation() == 0 for t in mine.get_xticklabels())
    _, flat = plt.subplots()
    fp.top_n(kept, ax=flat, rotation=0)
    assert all(t.get_rotation() == 0 for t in flat.get_xticklabels())


def test_axis_label_and_legend_label_are_apart(plt: Any, fp: Any) -> None:
    """Microseconds divided by 1000 keep the column's name: xlabel= says
    what they are; label= names the line in a legend and leaves the axis
    alone."""
    us = pd.Series([1500.0, 2500.0, 400.0], name="tcpHandshakeRttMicroseconds")
    _, ax = plt.subplots()
    fp.ecdf(us / 1000, ax=ax, xlabel="handshake RTT (ms)", label="all flows")
    assert ax.get_xlabel() == "handshake RTT (ms)"
    (line,) = ax.get_lines()
    assert line.get_label() == "all flows"
    np.testing.assert_array_equal(line.get_xdata(), [0.4, 1.5, 2.5])
    # a legend label alone: the axis keeps the Series name, and a second
    # line on the same Axes keeps the axis label the first set
    _, ax2 = plt.subplots()
    fp.ecdf(us, ax=ax2, label="forward")
    fp.ecdf(pd.Series([1.0], name="other"), ax=ax2, label="reverse")
    assert ax2.get_xlabel() == "tcpHandshakeRttMicroseconds"
    assert [ln.get_label() for ln in ax2.get_lines()] == ["forward", "reverse"]
    # density: the same two labels, the trim noted on the axis
    _, ax3 = plt.subplots()
    fp.density(us / 1000, ax=ax3, xlabel="RTT (ms)", label="hs", trim=True, bins=2)
    assert ax3.get_xlabel() == "RTT (ms) (IQR-trimmed)"
    assert ax3.patches[0].get_label() == "hs"
    _, ax4 = plt.subplots()
    fp.density(us, ax=ax4, label="hs", kind="kde")
    assert ax4.get_xlabel() == "tcpHandshakeRttMicroseconds"
    assert ax4.get_lines()[0].get_label() == "hs"
