"""The stream of Arrow batches that :class:`~ferrofix.IpfixScan` and
:class:`~ferrofix.Meter` share, and the import of the optional pandas and
pyarrow with a message that says what to install.

Apart from :mod:`ferrofix._arrow` (the IPFIX reader's functions, whose
signatures need ``typing`` and ``pathlib`` when imported) so that the meter,
and the ``ferrofix meter`` command with it, start without those
(``BENCHMARKS.md``, the command's start); the conversion to pandas is
:mod:`ferrofix._arrow`'s, imported when a DataFrame is asked for.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

from ._errors import FerrofixWarning

# ``typing`` itself is not imported at run time (see the module's docs);
# type checkers take this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import pandas as pd
    import pyarrow as pa

    from ._arrow import DtypeBackend
    from ._reader import Policy


def _need(module: str, why: str) -> Any:
    try:
        return __import__(module)
    except ImportError as e:
        raise ImportError(
            f"{why} needs {module}: pip install {module} (or pip install 'ferrofix[pandas]')"
        ) from e


def _pandas(why: str) -> Any:
    """pandas, for building a DataFrame: importing it here (never at
    ``import ferrofix``) also registers the ``df.flows`` accessor, so that
    every frame ferrofix returns has it (see :mod:`ferrofix.flows`)."""
    pd = _need("pandas", why)
    from . import flows  # noqa: F401  (registers DataFrame.flows)

    return pd


class _BatchStream:
    """What :class:`~ferrofix.IpfixScan` and :class:`~ferrofix.Meter` share: batches
    from an extension object ``_s`` (``next_batch``, ``take_warnings``,
    ``schema``, ``__arrow_c_stream__``), read once, as batches, pyarrow,
    an Arrow C stream or pandas."""

    _s: Any
    _policy: Policy
    _name = "IpfixScan"
    # Whether every warning of ``_s`` is shown (the scanner collects its
    # skipped problems only under "warn", and always warns of columns it
    # could not learn), or only under the "warn" policy.
    _always_warn = True

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of every batch (a ``pyarrow.Schema``)."""
        pa = _need("pyarrow", f"{self._name}.schema")
        return pa.schema(self._s.schema)

    def _warn(self) -> None:
        if self._always_warn or self._policy == "warn":
            for msg in self._s.take_warnings():
                warnings.warn(msg, FerrofixWarning, stacklevel=3)

    #: The stream was read to its end (reading it again raises).
    _ended = False

    def _not_ended(self) -> None:
        if self._ended:
            raise RuntimeError(
                f"this {self._name} was already read to its end (it is read once: "
                f"make a new {self._name} to read it again)"
            )

    def batches(self) -> Iterator[Any]:
        """Iterate the batches as objects implementing ``__arrow_c_array__``
        (no pyarrow needed)."""
        self._not_ended()
        while True:
            try:
                b = self._s.next_batch()
            finally:
                self._warn()
            if b is None:
                self._ended = True
                return
            yield b

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        pa = _need("pyarrow", f"iterating a {self._name}")
        for b in self.batches():
            yield pa.record_batch(b)

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        self._not_ended()
        return self._s.__arrow_c_stream__(requested_schema)

    def to_arrow(self) -> pa.Table:
        """Read the rest of the stream into a ``pyarrow.Table``."""
        pa = _need("pyarrow", f"{self._name}.to_arrow")
        schema = self.schema
        return pa.Table.from_batches(list(self), schema=schema)

    def to_pandas(self, *, dtype_backend: DtypeBackend = "pyarrow") -> pd.DataFrame:
        """Read the rest of the stream into a pandas DataFrame (see
        :func:`read_ipfix` for ``dtype_backend``)."""
        if dtype_backend not in ("pyarrow", "numpy_nullable", "numpy"):
            raise ValueError(
                "dtype_backend must be 'pyarrow', 'numpy_nullable' or 'numpy', "
                f"not {dtype_backend!r}"
            )
        from ._arrow import _arrow_frame, _to_pandas

        if dtype_backend != "pyarrow":
            return _to_pandas(self.to_arrow(), dtype_backend)
        _pandas("a DataFrame")
        schema = self.schema
        batches = list(self)
        # Columns as lists of chunks, no batch or table holding them: each
        # column's Arrow memory can go as soon as pandas has its own copy
        # (the address keys become narrower categorical codes).
        chunks = [[b.column(i) for b in batches] for i in range(len(schema))]
        del batches
        return _arrow_frame(schema, chunks)
