"""The report's PNG figures: loss curves, confusion heatmap, per-command accuracy, and the
gate's trade-off between commands kept and false accepts.

matplotlib's object API with the Agg canvas is used rather than pyplot: it needs no
display, changes no global backend, and leaks no figures when called many times.
"""

from __future__ import annotations

from pathlib import Path

from dstorch.fs import atomic_write

LOSS_PNG = "report-loss.png"
CONFUSION_PNG = "report-confusion.png"
ACCURACY_PNG = "report-accuracy.png"
TRADEOFF_PNG = "report-tradeoff.png"
PNGS = {
    "loss": LOSS_PNG,
    "confusion": CONFUSION_PNG,
    "accuracy": ACCURACY_PNG,
    "tradeoff": TRADEOFF_PNG,
}
DPI = 100
MAX_INCHES = 24.0  # past this, many commands shrink the labels instead of the page growing
LABELS = {"no_scorer": "without scorer", "scorer": "with scorer"}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(min(width, MAX_INCHES), min(height, MAX_INCHES)), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    return atomic_write(path, lambda f: figure.savefig(f, format="png"))


def loss_plot(history: list[dict], path: Path) -> Path | None:
    """Train/dev loss per epoch, learning rate on a second (log) axis."""
    rows = [h for h in history if h.get("epoch") is not None]
    if not rows:
        return None
    figure = _figure(8, 4.5)
    ax = figure.add_subplot()
    epochs = [h["epoch"] for h in rows]
    marker = "o" if len(rows) < 30 else None  # a one-epoch run still shows a point
    for key, label in (("train_loss", "train loss"), ("dev_loss", "dev loss")):
        values = [h.get(key) for h in rows]
        if any(v is not None for v in values):
            # NaN leaves a gap where a loss was not finite instead of dropping the epoch.
            points = [float("nan") if v is None else v for v in values]
            ax.plot(epochs, points, marker=marker, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("CTC loss")
    ax.grid(alpha=0.3)
    lrs = [h.get("lr") for h in rows]
    if all(isinstance(v, (int, float)) and v > 0 for v in lrs):
        lr_axis = ax.twinx()
        lr_axis.step(epochs, lrs, where="post", color="tab:gray", linestyle="--", label="lr")
        lr_axis.set_yscale("log")  # plateau reductions are factors, so log shows steps evenly
        lr_axis.set_ylabel("learning rate")
        handles = ax.get_legend_handles_labels()[0] + lr_axis.get_legend_handles_labels()[0]
    else:
        handles = ax.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper right")  # one legend: two would overlap
    ax.set_title("Training")
    return _save(figure, path)


def confusion_plot(confusion: dict, decoders: list[str], path: Path) -> Path | None:
    """One heatmap per decoder, rows normalised so rare commands are as visible as common."""
    import numpy as np

    labels = confusion["labels"]
    n = len(labels) - 1
    if n == 0:
        return None
    side = max(4.0, 0.45 * len(labels) + 2.5)
    figure = _figure(side * len(decoders), side)
    font = max(6, min(10, int(400 / len(labels))))
    names = [_short(label, 28) for label in labels]
    for i, decoder in enumerate(decoders, start=1):
        counts = np.array(confusion[decoder], dtype=float)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax = figure.add_subplot(1, len(decoders), i)
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(labels)), names, rotation=90, fontsize=font)
        ax.set_yticks(range(n), names[:-1], fontsize=font)
        ax.set_xlabel("prediction")
        ax.set_ylabel("reference")
        ax.set_title(f"Confusion ({LABELS[decoder]})")
        if len(labels) <= 25:  # beyond that the numbers are unreadable; colours remain
            _annotate(ax, counts, shares, font)
        figure.colorbar(image, ax=ax, fraction=0.046, label="share of the command's samples")
    return _save(figure, path)


def _annotate(ax, counts, shares, font: int) -> None:
    """Write each non-zero count in its cell, white on dark cells so it stays readable."""
    for row, col in zip(*counts.nonzero(), strict=True):
        colour = "white" if shares[row, col] > 0.6 else "black"
        text = str(int(counts[row, col]))
        ax.text(col, row, text, ha="center", va="center", fontsize=font, color=colour)


def accuracy_plot(rows: list[dict], decoders: list[str], path: Path) -> Path | None:
    """Horizontal bars per command, one bar per decoder, so long sentences stay legible."""
    if not rows:
        return None
    figure = _figure(9, max(2.5, 0.35 * len(rows) * len(decoders) + 1.5))
    ax = figure.add_subplot()
    height = 0.8 / len(decoders)
    for i, decoder in enumerate(decoders):
        values = [(r["accuracy"].get(decoder) or 0.0) * 100 for r in rows]
        positions = [k + i * height for k in range(len(rows))]
        ax.barh(positions, values, height=height, label=LABELS[decoder])
    ax.set_yticks([k + height * (len(decoders) - 1) / 2 for k in range(len(rows))])
    ax.set_yticklabels([_short(r["command"]) for r in rows], fontsize=8)
    ax.invert_yaxis()  # same top-to-bottom order as the table
    ax.set_xlim(0, 100)
    ax.set_xlabel("exact-match accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    # Outside the axes: bars at 100% fill the right edge where a legend would sit.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("Accuracy per command")
    return _save(figure, path)


def tradeoff_plot(curve: dict, path: Path) -> Path | None:
    """Right commands kept against false accepts as the gate's threshold rises, the
    exported gate's point marked: where on the curve the device sits."""
    points = [p for p in curve["points"] if p["right_share"] is not None]
    if not points or points[0]["false_accept_share"] is None:
        return None
    figure = _figure(6.5, 4.5)
    ax = figure.add_subplot()
    x = [100 * p["false_accept_share"] for p in points]
    y = [100 * p["right_share"] for p in points]
    ax.plot(x, y, marker="o" if len(points) < 40 else None, label="threshold moving")
    ax.plot(x[:1], y[:1], "s", color="tab:gray", label="no gate")
    chosen = curve.get("gate_point")
    if chosen is not None:
        threshold = curve["threshold"]
        ax.plot(
            [100 * chosen["false_accept_share"]],
            [100 * chosen["right_share"]],
            "*",
            markersize=14,
            color="tab:red",
            label=f"exported gate ({threshold:.3g})",
        )
    ax.set_xlabel("negatives accepted as a command (%)")
    ax.set_ylabel("commands answered right (%)")
    ax.set_xlim(-2, 102)
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"Gate trade-off ({curve['measure'].replace('_', ' ')})")
    return _save(figure, path)


def _short(text: str, limit: int = 40) -> str:
    """Cut the middle, not the end: commands often differ only in their last words."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def write_plots(analysis: dict, history: list[dict], out_dir: Path) -> dict[str, str]:
    """Write every plot that has data; -> {kind: file name} (relative, for the HTML)."""
    decoders = analysis["decoders"]
    written = {
        "loss": loss_plot(history, out_dir / LOSS_PNG),
        "confusion": confusion_plot(analysis["confusion"], decoders, out_dir / CONFUSION_PNG)
        if analysis["samples"]
        else None,
        "accuracy": accuracy_plot(analysis["commands"], decoders, out_dir / ACCURACY_PNG),
        "tradeoff": tradeoff_plot(acting["tradeoff"], out_dir / TRADEOFF_PNG)
        if (acting := analysis.get("acting"))
        else None,
    }
    for kind, path in written.items():
        if path is None:  # a plot from an earlier build would describe another run
            (out_dir / PNGS[kind]).unlink(missing_ok=True)
    return {kind: path.name for kind, path in written.items() if path is not None}
