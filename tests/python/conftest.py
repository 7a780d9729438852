"""The suite's one rule about skips: a test may skip where a tool or package
it needs is missing (a developer's machine), but not in CI. With
``FERROFIX_NO_SKIPS=1`` (``.ci/run`` sets it) every skip is a failure that
says what was missing, so an oracle tool that failed to install cannot
leave its tests silently unrun."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from typing import Any

import pytest

NO_SKIPS = os.environ.get("FERROFIX_NO_SKIPS", "") not in ("", "0")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under FERROFIX_NO_SKIPS=1 (CI runs every test): {reason}"


@pytest.fixture
def plt() -> Iterator[Any]:
    """pyplot on the non-interactive Agg backend (only the plot tests need
    matplotlib), every figure closed after the test."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


@pytest.fixture
def fp(plt: Any) -> Any:
    import ferrofix.plot

    return ferrofix.plot
