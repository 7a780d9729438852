"""Run python-ipfix 0.9.7's own doctest examples against ferrofix.compat.

Run as a script (a fresh interpreter: ``install()`` must come before
anything imports ipfix). The examples are read from the source files of the
installed python-ipfix (``make test`` installs ipfix==0.9.7 from PyPI),
without importing it; ``ferrofix.compat.install()`` then makes their
``import ipfix.*`` resolve to ferrofix.compat. Prints one JSON object: per
module, the examples run and, for each failure, its source, expected and
actual output.
"""

from __future__ import annotations

import doctest
import importlib.util
import io
import json
import sys
from pathlib import Path


class Runner(doctest.DocTestRunner):
    """Collects each failing example with what it printed."""

    def __init__(self) -> None:
        super().__init__(optionflags=doctest.ELLIPSIS)
        self.failed: list[dict[str, str]] = []

    def report_failure(self, out, test, example, got):  # type: ignore[no-untyped-def]
        self.failed.append({"source": example.source, "want": example.want, "got": got})

    def report_unexpected_exception(self, out, test, example, exc_info):  # type: ignore[no-untyped-def]
        got = f"{exc_info[0].__name__}: {exc_info[1]}"
        self.failed.append({"source": example.source, "want": example.want, "got": got})


def main() -> int:
    spec = importlib.util.find_spec("ipfix")
    if spec is None or not spec.submodule_search_locations:
        print(json.dumps({"error": "python-ipfix is not installed"}))
        return 0
    where = Path(next(iter(spec.submodule_search_locations)))
    import ferrofix.compat

    ferrofix.compat.install()
    modules: dict[str, object] = {}
    parser = doctest.DocTestParser()
    for path in sorted(where.glob("*.py")):
        name = f"ipfix.{path.stem}"
        runner = Runner()
        run = 0
        # The docstrings of the source text: the module is never imported.
        for piece in _docstrings(path.read_text(encoding="utf-8")):
            test = parser.get_doctest(piece, {}, name, str(path), 0)
            if test.examples:
                run += runner.run(test, out=io.StringIO().write).attempted
        if run:
            modules[name] = {"examples": run, "failures": runner.failed}
    print(json.dumps({"source": str(where), "modules": modules}))
    return 0


def _docstrings(text: str) -> list[str]:
    """The docstrings of a module's source (module, classes, functions)."""
    import ast

    tree = ast.parse(text)
    docs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            d = ast.get_docstring(node, clean=False)
            if d:
                docs.append(d)
    return docs


if __name__ == "__main__":
    sys.exit(main())
