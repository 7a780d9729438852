"""The README's quick-start figure (docs/img/quickstart.png): the bundled
notebook capture metered, then the ECDF of the handshake RTT of its TCP
flows (those without observation loss) and its top destination ports.

    .venv/bin/python scripts/quickstart_figure.py [OUT.png]

The code between the README markers below is the README's quick-start
block, character for character (tests/python/test_guide.py compares them
and runs this script), run from the repository's root so that its relative
path holds: the figure is what the README's code draws.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "notebooks" / "data" / "nfstream__skype.pcap"


def figure(out: Path) -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out).resolve()
    with contextlib.chdir(ROOT):
        # README begin
        import matplotlib.pyplot as plt

        import ferrofix as ff
        import ferrofix.plot as fp

        flows = ff.meter("notebooks/data/nfstream__skype.pcap")
        tcp = flows[flows.protocolIdentifier == 6].flows.drop_lossy()  # the df.flows accessor
        rtt_ms = tcp.tcpHandshakeRttMicroseconds.dropna() / 1000  # µs -> ms
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
        fp.ecdf(rtt_ms, ax=a, xlabel="handshake RTT (ms)")
        a.set(xscale="log", ylabel="share of TCP flows")
        fp.top_n(flows.destinationTransportPort, 8, ax=b, horizontal=True)
        b.set(xlabel="flow records", ylabel="destination port")
        fig.tight_layout()
        # README end
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return {"flows": float(len(flows)), "tcp": float(len(tcp)), "rtt_samples": float(len(rtt_ms))}


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "quickstart.png"
    print(figure(out))
