"""The two failure-analysis plots of every evaluation: confusion matrix and response-length histogram."""

from __future__ import annotations

from pathlib import Path

UNPARSED = "(none)"


def plot_confusion_matrix(matrix: dict, path: Path, title: str) -> Path:
    """Plot core.metrics' confusion matrix {"rows", "columns", "counts"}; None = no parsable label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [UNPARSED if name is None else name for name in matrix["rows"]]
    columns = [UNPARSED if name is None else name for name in matrix["columns"]]
    counts = matrix["counts"]
    figure, axes = plt.subplots(figsize=(1.6 * len(columns) + 2, 1.3 * len(rows) + 2))
    axes.imshow(counts, cmap="Blues")
    axes.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    axes.set_xlabel("predicted (parsed from the answer)")
    axes.set_ylabel("gold")
    axes.set_title(title)
    darkest = max((max(row) for row in counts), default=0)
    for row_index, row in enumerate(counts):
        for column_index, count in enumerate(row):
            color = "white" if darkest and count > darkest / 2 else "black"  # readable on dark cells
            axes.text(column_index, row_index, str(count), ha="center", va="center", color=color)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_response_lengths(lengths: list[int], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    axes.hist(lengths, bins=min(30, max(1, len(set(lengths)))), color="tab:orange")
    axes.set_xlabel("response length (characters)")
    axes.set_ylabel("answers")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
