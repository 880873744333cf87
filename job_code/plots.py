"""The report's plots: every evaluation's confusion matrix and answer-length histogram, every training
job's loss / reward curves. Sized and lettered for a full-width image in report.html (1400 px wide)."""

from __future__ import annotations

from pathlib import Path

UNPARSED = "(none)"
# 10 x 4.2 inches at 140 dpi: 1400 px wide, the report's page width; fonts large enough at that scale.
WIDE = (10, 4.2)
DPI = 140
FONT = 12


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": FONT, "axes.titlesize": FONT + 2, "axes.labelsize": FONT})
    return plt


def normalized_rows(counts: list[list[int]]) -> list[list[float]]:
    """Each gold row divided by its total (a recall view); an empty row stays all zero."""
    return [[count / sum(row) if sum(row) else 0.0 for count in row] for row in counts]


def plot_confusion_matrix(matrix: dict, path: Path, title: str) -> Path:
    """core.metrics' confusion matrix {"rows", "columns", "counts"} row-normalized, each cell showing its
    share of the gold row and its count; None = no parsable label."""
    plt = _pyplot()
    rows = [UNPARSED if name is None else name for name in matrix["rows"]]
    columns = [UNPARSED if name is None else name for name in matrix["columns"]]
    counts = matrix["counts"]
    shares = normalized_rows(counts)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.7 * len(columns) + 3), max(3.6, 1.0 * len(rows) + 2)))
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.04, label="share of the gold row")
    axes.set_xticks(range(len(columns)), columns, rotation=20, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    axes.set_xlabel("predicted (label parsed from the answer)")
    axes.set_ylabel("gold")
    axes.set_title(title)
    for row_index, row in enumerate(counts):
        for column_index, count in enumerate(row):
            share = shares[row_index][column_index]
            color = "white" if share > 0.5 else "black"  # readable on dark cells
            axes.text(column_index, row_index, f"{share:.0%}\n({count})", ha="center", va="center",
                      color=color, fontsize=FONT)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def plot_response_lengths(lengths: list[int], path: Path, title: str, *, cap: int | None = None,
                          unit: str = "tokens") -> Path:
    """Histogram of answer lengths in ``unit``; ``cap`` (the generation's max_new_tokens, same unit) is
    drawn as a line, so answers cut off by it show as a bar at the line."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=WIDE)
    top = max([*lengths, cap or 0, 1])
    # One bar per length, centred on it, when that is few enough to read; else 40 equal bins.
    bins = [x - 0.5 for x in range(top + 2)] if top <= 60 else 40
    axes.hist(lengths, bins=bins, range=None if top <= 60 else (0, top + 1), color="tab:orange",
              edgecolor="white")
    if cap is not None:
        at_cap = sum(1 for length in lengths if length >= cap)
        label = f"generation cap max_new_tokens={cap} ({at_cap} of {len(lengths)} answers reach it)"
        axes.axvline(cap, color="tab:red", linestyle="--", linewidth=2, label=label)
        axes.legend(loc="upper center")
    axes.set_xlabel(f"answer length ({unit})")
    axes.set_ylabel("answers")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


# The training log's series worth a curve, by panel: (key, label).
CURVE_PANELS = (
    (("loss", "loss"),),
    (("reward", "mean reward"), ("reward_std", "reward std")),
    (("learning_rate", "learning rate"),),
)


def plot_training_curves(history: list[dict], path: Path, title: str) -> Path | None:
    """The trainer's log history as one row of panels against the step: loss, reward (GRPO), learning rate.
    None (and no file) when the history has none of them."""
    present = {key for entry in history for key in entry}
    panels = [[(key, label) for key, label in panel if key in present] for panel in CURVE_PANELS]
    panels = [panel for panel in panels if panel]
    if not panels:
        return None
    plt = _pyplot()
    figure, axes_row = plt.subplots(1, len(panels), figsize=(WIDE[0], WIDE[1]), squeeze=False)
    for axes, panel in zip(axes_row[0], panels, strict=True):
        for key, label in panel:
            points = [(e["step"], float(e[key])) for e in history if key in e and "step" in e]
            axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=label)
        axes.set_xlabel("step")
        axes.set_title(", ".join(label for _, label in panel))
        if len(panel) > 1:
            axes.legend()
        axes.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path
