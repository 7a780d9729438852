"""python-ipfix 0.9.7's own doctest examples, run against ferrofix.compat.

The examples are those of the python-ipfix modules ``make test`` installs
from PyPI (``ipfix==0.9.7``, the last release; nothing of it is committed
here): helpers/ipfix_doctests.py runs them in a fresh interpreter after
``ferrofix.compat.install()``, so that their ``import ipfix.types`` and
the like load ferrofix.compat. Every example must pass, or be one of the
deliberate differences below, each checked against the standard it
follows; the counts are reported.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

HELPER = Path(__file__).resolve().parent / "helpers" / "ipfix_doctests.py"

# (module, example source, python-ipfix's expected output) -> why ours differs.
DIFFERENCES = {
    (
        "ipfix.types",
        "buf[0:length].tolist()\n",
        "[81, 196, 92, 99, 116, 240, 32, 0]\n",
    ): (
        "dateTimeMicroseconds: python-ipfix writes the seconds since 1970 where "
        "RFC 7011 §6.1.9 (NTP format) wants the seconds since 1900"
    ),
}


def _ntp_seconds_of_the_example() -> list[int]:
    """The first four octets RFC 7011 §6.1.9 gives the example's time
    (2013-06-21 14:00:03.456789 UTC): NTP seconds, since 1900-01-01."""
    unix = int((datetime(2013, 6, 21, 14, 0, 3) - datetime(1970, 1, 1)).total_seconds())
    return list(struct.pack("!I", unix + 2_208_988_800))


@pytest.mark.skipif(
    importlib.util.find_spec("ipfix") is None, reason="python-ipfix 0.9.7 is not installed"
)
def test_python_ipfix_doctests_run_on_compat() -> None:
    proc = subprocess.run(
        [sys.executable, str(HELPER)], capture_output=True, text=True, check=True, timeout=300
    )
    report = json.loads(proc.stdout)
    modules = report["modules"]
    # python-ipfix 0.9.7 has examples in ie, message and types.
    assert {"ipfix.ie", "ipfix.message", "ipfix.types"} <= set(modules)
    total = sum(m["examples"] for m in modules.values())
    passed = total
    seen = set()
    unexpected = []
    for name, m in modules.items():
        for f in m["failures"]:
            key = (name, f["source"], f["want"])
            passed -= 1
            if key in DIFFERENCES:
                seen.add(key)
                if key[1] == "buf[0:length].tolist()\n":
                    # Ours must be what the RFC says, not just different.
                    assert json.loads(f["got"])[:4] == _ntp_seconds_of_the_example()
            else:
                unexpected.append(f"{name}: {f['source'].strip()} -> {f['got'].strip()}")
    print(
        f"\npython-ipfix doctests on ferrofix.compat: {total} examples, {passed} pass, "
        f"{len(seen)} documented differences"
    )
    assert not unexpected, "\n".join(unexpected)
    assert seen == set(DIFFERENCES), "a listed difference no longer occurs: update the list"
    assert total >= 90


def test_install_refuses_when_python_ipfix_is_imported() -> None:
    """``install()`` refuses once the real python-ipfix is imported, and
    otherwise makes ``import ipfix`` load ferrofix.compat."""
    if importlib.util.find_spec("ipfix") is None:
        pytest.skip("python-ipfix 0.9.7 is not installed")
    code = (
        "import ipfix, ferrofix.compat\n"
        "try:\n"
        "    ferrofix.compat.install()\n"
        "except ImportError as e:\n"
        "    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("refused: python-ipfix is already imported")
    code = (
        "import ferrofix.compat\n"
        "ferrofix.compat.install()\n"
        "import ipfix.reader, ipfix.ie\n"
        "print(ipfix.reader.__name__, ipfix.ie.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ferrofix.compat.reader", "ferrofix.compat.ie"]
