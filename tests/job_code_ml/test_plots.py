"""job_code.plots writes real PNGs: the normalized confusion matrix, the length histogram with its cap,
the training curves."""

from __future__ import annotations

from job_code.plots import normalized_rows, plot_confusion_matrix, plot_response_lengths, plot_training_curves

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_write_pngs(tmp_path) -> None:
    matrix = {"rows": ["HQ", "LQ"], "columns": ["HQ", "LQ", None], "counts": [[3, 1, 0], [0, 0, 0]]}
    assert normalized_rows(matrix["counts"]) == [[0.75, 0.25, 0.0], [0.0, 0.0, 0.0]]
    history = [
        {"step": s, "loss": 2.0 / s, "learning_rate": 1e-3, "reward": s / 10, "reward_std": 0.1}
        for s in range(1, 6)
    ]
    paths = [
        plot_confusion_matrix(matrix, tmp_path / "cm.png", "cm"),
        plot_response_lengths([1, 4, 16, 16], tmp_path / "len.png", "lengths", cap=16),
        plot_training_curves(history, tmp_path / "curves.png", "curves"),
    ]
    for path in paths:
        assert path is not None and path.read_bytes().startswith(PNG) and path.stat().st_size > 5000
    assert plot_training_curves([{"step": 1, "epoch": 0.5}], tmp_path / "none.png", "x") is None
    assert not (tmp_path / "none.png").exists()
