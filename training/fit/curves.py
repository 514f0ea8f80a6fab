"""Training curves (PNG) from a run's ``log.csv``: the loss and the held-out exact match over time.

Both trainers write such a log: ``training.fit.train`` against ``minutes``, ``training.fit.accel_train``
against ``seconds``, one leg after another where a ``leg`` column says so (each leg's clock then
continues the one before). Validation columns end in ``_direct`` or ``_fallback``.
"""
from __future__ import annotations

import csv
from pathlib import Path


def clock(rows: list[dict], column: str) -> list[float]:
    """The time of each row, legs laid end to end."""
    offset, last_leg, last_t, times = 0.0, None, 0.0, []
    for r in rows:
        if r.get("leg") != last_leg:
            offset, last_leg = last_t, r.get("leg")
        last_t = offset + float(r[column])
        times.append(last_t)
    return times


def draw(log_csv: Path, out_png: Path, column: str = "minutes") -> bool:
    """Draws ``out_png``; False (nothing drawn) for a log without rows."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(log_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return False
    times = clock(rows, column)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    loss = [(t, float(r["loss"])) for t, r in zip(times, rows) if r.get("loss")]
    if loss:
        ax[0].plot(*zip(*loss))
    ax[0].set(xlabel=column, ylabel="CTC loss (weighted mean over heads)", yscale="log", title="training loss")
    keys = sorted({k for r in rows for k in r if k.endswith(("_direct", "_fallback"))})
    for key in keys:
        pts = [(t, float(r[key])) for t, r in zip(times, rows) if r.get(key)]
        if pts:
            ax[1].plot(*zip(*pts), marker=".", label=key)
    ax[1].set(xlabel=column, ylabel="exact match (held-out)", title="validation")
    if ax[1].lines:
        ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return True
