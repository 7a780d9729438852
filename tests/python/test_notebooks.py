"""Every notebook in notebooks/ runs top to bottom (nbclient, a kernel on
this interpreter, matplotlib's Agg backend) without a cell error; their
cells assert what they show, so a run is a test. The committed notebooks
carry no outputs and no execution counts (outputs are stripped in git)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
# The checks inside the notebooks run these tools as independent oracles.
TOOLS = ("tshark", "capinfos", "tcptrace", "ipfixDump")


def test_there_are_notebooks() -> None:
    assert [p.name for p in PATHS] == ["exploratory-analysis.ipynb", "third-party-ipfix.ipynb"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for i, cell in enumerate(code):
        assert cell.outputs == [], f"{path.name}: code cell {i} has outputs (strip them)"
        assert cell.execution_count is None, f"{path.name}: code cell {i} has an execution count"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"the notebooks' checks need {', '.join(missing)} (make tools)")
    # The kernel is this interpreter (the .venv with ferrofix), drawing with
    # Jupyter's inline backend (as for a user: each figure an image/png
    # output; a MPLBACKEND such as Agg would draw nothing into the notebook).
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
        kernel_manager_class=_this_interpreter(),
    )
    client.execute()  # raises CellExecutionError naming the cell on any error
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # Every figure the code makes is drawn into the notebook.
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    made = sum(src.count("plt.subplots(") + src.count("plt.figure(") for src in code)
    drawn = sum(
        1 for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    )
    assert drawn >= made, (path.name, drawn, made)


def _this_interpreter() -> Any:
    """A kernel manager that starts ipykernel on ``sys.executable`` whatever
    kernelspec the machine has installed."""
    from jupyter_client.manager import KernelManager

    class ThisInterpreter(KernelManager):  # type: ignore[misc]
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
            return [self.connection_file if c == "{connection_file}" else c for c in cmd]

    return ThisInterpreter
