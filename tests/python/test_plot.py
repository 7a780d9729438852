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


def test_counts_over_time_by_start_and_end(fp: Any) -> None:
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
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    minutes = pd.date_range("2024-01-01 00:00", "2024-01-01 00:03", freq="1min").to_numpy()
    for label, counts in (("by start", [2, 1, 0, 0]), ("by end", [1, 0, 1, 1])):
        np.testing.assert_array_equal(lines[label].get_xdata(), minutes)
        np.testing.assert_array_equal(lines[label].get_ydata(), counts)


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
