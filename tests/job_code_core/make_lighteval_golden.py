"""Regenerate ``data/lighteval_golden.json``: lighteval's own scores for ``metric_pairs()``.

lighteval 0.13.0 is not a project dependency: it pins nltk==3.9.1 (we have 3.10.4 via rouge-score)
and pulls inspect-ai/openai. Run this in a throwaway venv instead:

    python3 -m venv /tmp/lev && /tmp/lev/bin/pip install torch==2.13.0 lighteval==0.13.0
    HF_HUB_OFFLINE=1 /tmp/lev/bin/python tests/job_code_core/make_lighteval_golden.py

Definitions used (lighteval.metrics): em = ExactMatches(strip_strings=True); qem = ExactMatches with
helm_normalizer on both sides; f1 = F1_score(); f1_score_quasi = F1_score with helm_normalizer.
"""

import json
import sys
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from metric_pairs import metric_pairs  # noqa: E402


def main() -> None:
    from lighteval.metrics.metrics_sample import ExactMatches, F1_score
    from lighteval.metrics.normalizations import helm_normalizer

    scorers = {
        "em": ExactMatches(strip_strings=True),
        "qem": ExactMatches(normalize_gold=helm_normalizer, normalize_pred=helm_normalizer),
        "f1": F1_score(),
        "f1_score_quasi": F1_score(normalize_gold=helm_normalizer, normalize_pred=helm_normalizer),
    }
    pairs = metric_pairs()
    columns = [*scorers, "helm_prediction", "helm_gold"]
    rows = []
    for prediction, gold in pairs:
        row = [float(scorer.compute_one_item(gold=gold, pred=prediction)) for scorer in scorers.values()]
        rows.append([*row, helm_normalizer(prediction), helm_normalizer(gold)])
    # One pair per line: reviewable diffs, small file.
    head = json.dumps({"lighteval_version": version("lighteval"), "pairs": len(pairs), "columns": columns})
    body = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    text = head[:-1] + ', "scores": [\n' + body + "\n]}\n"
    (HERE / "data" / "lighteval_golden.json").write_text(text, encoding="utf-8")
    print(f"wrote {len(rows)} rows")


if __name__ == "__main__":
    main()
