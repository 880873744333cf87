"""The two failure-analysis plots of every evaluation: confusion matrix and response-length histogram."""

from __future__ import annotations

from pathlib import Path

UNPARSED = "(none)"


def confusion_counts(gold: list[str], predicted: list[str | None], labels: list[str]) -> list[list[int]]:
    """Rows = gold label, columns = predicted label + a last column for answers with no parsable label."""
    columns = {label: index for index, label in enumerate(labels)}
    matrix = [[0] * (len(labels) + 1) for _ in labels]
    for truth, guess in zip(gold, predicted, strict=True):
        if truth not in columns:
            continue
        matrix[columns[truth]][columns.get(guess, len(labels)) if guess is not None else len(labels)] += 1
    return matrix


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(1.6 * len(labels) + 2.5, 1.3 * len(labels) + 2))
    axes.imshow(matrix, cmap="Blues")
    columns = [*labels, UNPARSED]
    axes.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted (parsed from the answer)")
    axes.set_ylabel("gold")
    axes.set_title(title)
    for row_index, row in enumerate(matrix):
        for column_index, count in enumerate(row):
            axes.text(column_index, row_index, str(count), ha="center", va="center")
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
