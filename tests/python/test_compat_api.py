"""``ferrofix.compat`` has python-ipfix 0.9.7's public names, taken from
python-ipfix itself (the ``ipfix==0.9.7`` package ``make test`` installs):
every public function, class, method and constant of its modules, with the
same leading parameters in the same order, except those listed here, each
with the reason (also in the compat module's docstring)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

ipfix = pytest.importorskip("ipfix")
importlib.import_module("ipfix.message")
importlib.import_module("ipfix.reader")
importlib.import_module("ipfix.writer")
importlib.import_module("ipfix.v9pdu")

MODULES = ["types", "ie", "template", "message", "reader", "writer", "v9pdu", "ieutils"]

# Names python-ipfix's modules import for their own use (not its API).
IMPORTED = {"timezone", "lru_cache", "datetime", "warn"}

NOT_PROVIDED = {
    # python-ipfix's doctest helpers, run by its own test suite.
    ("types", "test_types_internals"): "doctest helper",
    ("ie", "test_ie_internals"): "doctest helper",
    # v9pdu's set-by-set decoding internals (v9pdu docstring, difference 3).
    ("v9pdu", "PduBuffer.set_iterator"): "set-by-set internals",
    ("v9pdu", "PduBuffer.active_template_ids"): "templates of the packet being decoded",
    ("v9pdu", "StreamPduBuffer.set_iterator"): "set-by-set internals",
    ("v9pdu", "StreamPduBuffer.next_set"): "set-by-set internals",
    ("v9pdu", "StreamPduBuffer.active_template_ids"): "templates of the packet being decoded",
}


def public(obj: Any) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def api(mod: Any) -> dict[str, Any]:
    return {
        n: getattr(mod, n)
        for n in public(mod)
        if n not in IMPORTED and not inspect.ismodule(getattr(mod, n))
    }


def leading_params(f: Any) -> list[str] | None:
    try:
        ps = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return None
    return [p.name for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def same_params(what: str, theirs: Any, ours: Any) -> None:
    """Ours takes their positional parameters first, in their order (it
    may take more after them)."""
    want, got = leading_params(theirs), leading_params(ours)
    if want is not None and got is not None:
        assert got[: len(want)] == want, (what, want, got)


@pytest.mark.parametrize("name", MODULES)
def test_module_has_python_ipfix_names(name: str) -> None:
    theirs = api(importlib.import_module(f"ipfix.{name}"))
    ours = importlib.import_module(f"ferrofix.compat.{name}")
    missing = []
    for n, obj in theirs.items():
        if (name, n) in NOT_PROVIDED:
            continue
        if not hasattr(ours, n):
            missing.append(n)
            continue
        mine = getattr(ours, n)
        if inspect.isclass(obj):
            for m in public(obj):
                if (name, f"{n}.{m}") in NOT_PROVIDED:
                    continue
                if not hasattr(mine, m):
                    missing.append(f"{n}.{m}")
                elif inspect.isfunction(getattr(obj, m)):
                    same_params(f"{n}.{m}", getattr(obj, m), getattr(mine, m))
        elif callable(obj):
            same_params(n, obj, mine)
    assert not missing, missing


# State of the v9 packet being decoded (v9pdu docstring, difference 3).
V9_STATE = {
    "accepted_tids",
    "base_epoch",
    "cur",
    "export_epoch",
    "last_tuple_iterator_ielist",
    "length",
    "mbuf",
    "odid",
    "reccount",
    "sequence",
    "sequences",
    "sysuptime_ms",
    "template_record_hook",
    "templates",
}


def test_instances_have_python_ipfix_attributes() -> None:
    """The attributes python-ipfix's objects set in their constructors."""
    import io

    from ferrofix.compat import message, reader, v9pdu, writer

    made = [
        (ipfix.message.MessageBuffer(), message.MessageBuffer(), set()),
        (ipfix.reader.from_stream(io.BytesIO()), reader.from_stream(io.BytesIO()), set()),
        (ipfix.writer.to_stream(io.BytesIO()), writer.to_stream(io.BytesIO()), set()),
        (ipfix.v9pdu.from_stream(io.BytesIO()), v9pdu.from_stream(io.BytesIO()), V9_STATE),
    ]
    for theirs, ours, absent in made:
        want = {k for k in vars(theirs) if not k.startswith("_")}
        assert want - public(ours) == absent, type(ours).__name__


def test_not_provided_list_is_current() -> None:
    """Each name listed as not provided is python-ipfix's and absent here."""
    for (name, dotted), _why in NOT_PROVIDED.items():
        theirs = importlib.import_module(f"ipfix.{name}")
        ours = importlib.import_module(f"ferrofix.compat.{name}")
        obj_t: Any = theirs
        obj_o: Any = ours
        for part in dotted.split("."):
            obj_t = getattr(obj_t, part)
            obj_o = getattr(obj_o, part, None)
        assert obj_o is None, dotted
