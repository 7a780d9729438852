"""The common figures of flow analysis, drawn with matplotlib.

Every function draws on ``ax=`` (an existing ``matplotlib.axes.Axes``) or,
without one, on a new figure's Axes, and returns the Axes, as pandas'
plotting does. Needs matplotlib (``pip install 'ferrofix[plot]'``); it is
imported with this module, never by ``import ferrofix``.

>>> import ferrofix as ff, ferrofix.plot as fp
>>> flows = ff.meter("trace.pcap")                                # doctest: +SKIP
>>> ax = fp.ecdf(flows.flows.duration().dt.total_seconds())       # doctest: +SKIP
>>> fp.density(flows["meanTcpRttMilliseconds"], trim=True)       # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Literal

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes

__all__ = ["counts_over_time", "density", "ecdf", "ecdf_values", "iqr_trim", "top_n"]

Floats = npt.NDArray[np.float64]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    _, new = plt.subplots()
    return new


def _values(values: Any) -> Floats:
    """Numbers as float64 without nulls (Timedeltas as seconds)."""
    s = pd.Series(values)
    if pd.api.types.is_timedelta64_dtype(s.dtype) or (
        isinstance(s.dtype, pd.ArrowDtype) and "duration" in str(s.dtype)
    ):
        s = pd.to_timedelta(s).dt.total_seconds()
    v = np.asarray(s.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)
    return v[~np.isnan(v)]


def ecdf_values(values: Any) -> tuple[Floats, Floats]:
    """The empirical CDF of the non-null values: the values sorted, and at
    the i-th (from 1) of n, the fraction i/n of values at or below it."""
    x = np.sort(_values(values))
    return x, np.arange(1, len(x) + 1, dtype=np.float64) / max(len(x), 1)


def _labels(
    values: Any, ax: Axes, label: str | None, xlabel: str | None
) -> tuple[str | None, str | None]:
    """(the line's legend label, the x axis label to set or None): the
    legend's is ``label``, else the Series name; the axis's is ``xlabel``,
    else the Series name when the Axes has no x label yet (so a second
    line drawn on it keeps the first's)."""
    name = None if getattr(values, "name", None) is None else str(values.name)
    axis = xlabel if xlabel is not None else None if ax.get_xlabel() else name
    return (label if label is not None else name), axis


def ecdf(
    values: Any,
    *,
    ax: Axes | None = None,
    label: str | None = None,
    xlabel: str | None = None,
    **kwargs: Any,
) -> Axes:
    """Draw the empirical CDF of ``values`` (a Series, array or list; nulls
    left out, Timedeltas in seconds) as a step line through the points of
    :func:`ecdf_values` (its data are exactly those points); ``kwargs`` go
    to ``Axes.step``.

    Two labels, kept apart: ``xlabel`` is the x axis's (say what the values
    are and their unit: ``xlabel="handshake RTT (ms)"`` for microseconds
    divided by 1000, which keep the microsecond column's name); without it,
    the Series name, if the Axes has no x label yet. ``label`` is the
    line's, for a legend (``ax.legend()``) when several share the Axes;
    without it, the Series name."""
    ax = _axes(ax)
    x, y = ecdf_values(values)
    line_label, axis_label = _labels(values, ax, label, xlabel)
    ax.step(x, y, where="post", label=line_label, **kwargs)
    if axis_label is not None:
        ax.set_xlabel(axis_label)
    ax.set_ylabel("fraction at or below")
    ax.set_ylim(0, 1.02)
    return ax


def iqr_trim(values: Any, factor: float = 1.5) -> Floats:
    """The non-null values within Tukey's fences: from Q1 - factor * IQR to
    Q3 + factor * IQR inclusive, where Q1 and Q3 are the 25th and 75th
    percentiles (linear interpolation, numpy's and pandas' default) and
    IQR = Q3 - Q1. Order kept."""
    v = _values(values)
    if len(v) == 0:
        return v
    q1, q3 = np.percentile(v, [25, 75])
    lo, hi = q1 - factor * (q3 - q1), q3 + factor * (q3 - q1)
    kept: Floats = v[(v >= lo) & (v <= hi)]
    return kept


def _kde(v: Floats, grid: Floats) -> Floats:
    """A Gaussian kernel density estimate with Scott's bandwidth
    (n ** -1/5 times the sample standard deviation)."""
    sd = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
    bw = sd * len(v) ** (-1 / 5) if sd > 0 else 1.0
    z = (grid[:, None] - v[None, :]) / bw
    dens: Floats = np.exp(-0.5 * z * z).sum(axis=1) / (len(v) * bw * np.sqrt(2 * np.pi))
    return dens


def density(
    values: Any,
    *,
    kind: Literal["hist", "kde"] = "hist",
    trim: bool = False,
    factor: float = 1.5,
    bins: int | str = 50,
    ax: Axes | None = None,
    label: str | None = None,
    xlabel: str | None = None,
    **kwargs: Any,
) -> Axes:
    """Draw the density of ``values`` (nulls left out): a histogram
    normalised to unit area (``kind="hist"``, ``bins`` as numpy takes
    them) or a Gaussian KDE on 256 points over the values' range
    (``kind="kde"``). ``trim=True`` first keeps only the values within
    :func:`iqr_trim`'s fences (``factor``). ``kwargs`` go to
    ``Axes.hist`` or ``Axes.plot``. ``xlabel`` (the axis's) and ``label``
    (the legend's) as :func:`ecdf` takes them; a trimmed plot's x label
    ends with ``" (IQR-trimmed)"``."""
    if kind not in ("hist", "kde"):
        raise ValueError(f"kind is 'hist' or 'kde', not {kind!r}")
    ax = _axes(ax)
    v = iqr_trim(values, factor) if trim else _values(values)
    line_label, axis_label = _labels(values, ax, label, xlabel)
    if axis_label is not None:
        ax.set_xlabel(axis_label + (" (IQR-trimmed)" if trim else ""))
    if kind == "hist":
        ax.hist(v, bins=bins, density=True, label=line_label, **kwargs)
    else:
        lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
        grid = np.linspace(lo, hi, 256)
        dens = _kde(v, grid) if len(v) else np.zeros_like(grid)
        ax.plot(grid, dens, label=line_label, **kwargs)
    ax.set_ylabel("density")
    return ax


def counts_over_time(
    df: pd.DataFrame,
    freq: str = "1min",
    *,
    by: tuple[str, ...] = ("start", "end"),
    shade_partial: bool = True,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Draw how many records start (``by`` holding ``"start"``) and end
    (``"end"``) in each interval of length ``freq`` (a pandas frequency:
    ``"1min"``, ``"10s"``), as stairs (``Axes.stairs``, one
    ``StepPatch`` each, labelled ``"by start"`` and ``"by end"``): each
    interval's count drawn across the whole interval, from its start edge
    to the next. Intervals are aligned to ``freq`` in UTC (a record falls
    in the interval whose floor its time is), run from the one holding the
    earliest record's time to the one holding the latest's, and those
    without records count 0. A StepPatch's data (``get_data()``) are the
    counts and the n + 1 edges (matplotlib date numbers of naive UTC
    times). ``kwargs`` go to ``Axes.stairs``.

    Partial intervals: the records' times start inside the first interval
    and end inside the last, so those two count records over part of an
    interval only (fewer than a whole interval of the same traffic would).
    With ``shade_partial`` (default), the parts of them outside the
    records' span (first interval's start to the earliest time, the
    latest time to the last interval's end) are shaded grey, so a low
    first or last step reads as partial, not as a drop; the counts are
    never scaled. Times come from ``df.flows.start()`` / ``end()``."""
    from .flows import FlowsAccessor

    acc = FlowsAccessor(df)
    times = {}
    for which in by:
        if which not in ("start", "end"):
            raise ValueError(f"by holds 'start' and/or 'end', not {which!r}")
        t = acc.start() if which == "start" else acc.end()
        times[which] = t.dropna().dt.tz_localize(None)
    ax = _axes(ax)
    known = [t for t in times.values() if len(t)]
    if known:
        first = min(t.min() for t in known)
        last = max(t.max() for t in known)
        lo, hi = first.floor(freq), last.floor(freq)
        edges = pd.date_range(lo, hi + pd.tseries.frequencies.to_offset(freq), freq=freq)
        for which, t in times.items():
            counts = t.dt.floor(freq).value_counts().reindex(edges[:-1], fill_value=0)
            ax.stairs(
                counts.to_numpy(dtype=np.int64),
                edges.to_numpy(),
                label=f"by {which}",
                **kwargs,
            )
        if shade_partial:
            shade: dict[str, Any] = {"color": "0.85", "zorder": 0, "linewidth": 0}
            if first > edges[0]:
                ax.axvspan(edges[0], first, label="outside the records' span", **shade)
            if last < edges[-1]:
                ax.axvspan(last, edges[-1], **shade)
    ax.set_xlabel(f"time (UTC), {freq} intervals")
    ax.set_ylabel("records")
    ax.legend()
    return ax


def top_n(
    values: Any,
    n: int = 10,
    *,
    ax: Axes | None = None,
    horizontal: bool = False,
    rotation: float | None = None,
    **kwargs: Any,
) -> Axes:
    """Draw the ``n`` most frequent non-null values of ``values`` (say
    ``df["destinationTransportPort"]``) as bars, most frequent first, their
    heights (widths, ``horizontal=True``) the counts of
    ``Series.value_counts()`` and their tick labels the values as text.
    Only values that occur are drawn: a categorical's categories that no
    row holds (a filtered frame keeps its address columns' categories) are
    left out, so fewer than ``n`` bars when fewer values occur.

    Long labels (addresses, networks): ``horizontal=True`` puts them on the
    y axis, one per line; vertical bars' tick labels are turned by
    ``rotation`` degrees (default: 0 when every label is at most 6
    characters, a port; else 45, anchored at their right end under their
    bar). ``kwargs`` go to ``Axes.bar``/``Axes.barh``."""
    ax = _axes(ax)
    counts = pd.Series(values).value_counts(dropna=True)
    counts = counts[counts > 0].head(n)
    pos = np.arange(len(counts))
    labels = [str(v) for v in counts.index]
    heights = counts.to_numpy(dtype=np.int64)
    name = getattr(values, "name", None)
    if horizontal:
        ax.barh(pos, heights, **kwargs)
        ax.set_yticks(pos, labels)
        ax.invert_yaxis()
        ax.set_xlabel("records")
    else:
        ax.bar(pos, heights, **kwargs)
        if rotation is None:
            rotation = 0.0 if all(len(label) <= 6 for label in labels) else 45.0
        turned: dict[str, Any] = {"ha": "right", "rotation_mode": "anchor"} if rotation else {}
        ax.set_xticks(pos, labels, rotation=rotation, **turned)
        ax.set_ylabel("records")
    if name is not None:
        ax.set_title(f"top {n} {name}")
    return ax
