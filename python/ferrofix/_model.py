"""The information model from Python: IESpec parsing and IE descriptions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import _ferrofix

BUNDLED_SPECS = ("cert", "qof", "ferrofix")
"""Spec files shipped with ferrofix: CERT/YAF IEs (PEN 6871), QoF (PEN 35566)."""


def spec_file(name: str) -> Path:
    """Path of a bundled spec file (``"cert"``, ``"qof"`` or ``"ferrofix"``)."""
    if name not in BUNDLED_SPECS:
        raise ValueError(f"no bundled spec file {name!r}; there are {BUNDLED_SPECS}")
    # Imported here: importlib.resources brings tempfile, shutil and the
    # compressors, a tenth of `import ferrofix`.
    from importlib import resources

    return Path(str(resources.files("ferrofix") / "specs" / f"{name}.iespec"))


def default_spec_files() -> list[Path]:
    """The spec files every reader loads unless told otherwise."""
    return [spec_file(n) for n in BUNDLED_SPECS]


@dataclass(frozen=True)
class IESpec:
    """The parts of an IESpec string ``name(pen/num)<type>[size]``."""

    name: str | None
    pen: int | None
    id: int | None
    type: str | None
    length: int | None

    def __str__(self) -> str:
        s = self.name or ""
        if self.id is not None:
            s += f"({self.pen}/{self.id})" if self.pen is not None else f"({self.id})"
        if self.type is not None:
            s += f"<{self.type}>"
        if self.length is not None:
            s += f"[{self.length}]"
        return s


def parse_spec(spec: str) -> IESpec:
    """Parse an IESpec string; raises :class:`ferrofix.SpecError` when malformed."""
    return IESpec(*_ferrofix.parse_iespec(spec))


@dataclass(frozen=True)
class InformationElement:
    """An Information Element as a reader's model knows it."""

    name: str
    pen: int
    id: int
    type: str
    semantics: str
    units: str
    length: int | None

    @property
    def spec(self) -> str:
        """The IESpec form."""
        s = f"{self.name}({self.pen}/{self.id})<{self.type}>"
        return s if self.length is None else f"{s}[{self.length}]"


def describe(
    names: str | list[str] | None = None,
    *,
    specs: list[str] | None = None,
    spec_files: list[str | Path] | None = None,
) -> list[InformationElement]:
    """Describe IEs by name or IESpec (one, or a list; all known IEs when
    ``names`` is None)."""
    if isinstance(names, str):
        names = [names]
    files = default_spec_files() if spec_files is None else list(spec_files)
    rows = _ferrofix.describe_ies(names, specs=list(specs or []), spec_files=files)
    return [InformationElement(*r) for r in rows]
