"""Issue 11, defect 2: the poll handler's Nova eval post-processing must run in Lambda's runtime.

Nova's gen_qa eval output is completed with our label metrics in the poll handler (job_outputs).
It imported rouge-score, sacrebleu and numpy through job_code.core.metrics, which neither the python3.12
runtime nor the Powertools layer ships: `No module named 'rouge_score'` on the first completed Nova eval.
The test runs the same code in a fresh interpreter where those modules cannot be imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOT_IN_LAMBDA = ("rouge_score", "sacrebleu", "numpy", "nltk", "absl")

PROBE = """
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None  # `import name` now raises ImportError, as in the Lambda runtime
sys.path[:0] = [{root!r}, {root!r} + "/lambda"]
from forge_handlers import job_outputs
job_outputs.read_tar_members = lambda uri, patterns: json.loads(open({members!r}).read())
members = {{k: v.encode() for k, v in job_outputs.read_tar_members(None, None).items()}}
job_outputs.read_tar_members = lambda uri, patterns: members
print(json.dumps(job_outputs.read_eval_results("s3://bucket/output.tar.gz", ["HQ", "LQ_EDIT", "LQ_CLOSE"])))
"""


def test_nova_eval_results_are_completed_without_rouge_sacrebleu_or_numpy(tmp_path) -> None:
    nova_results = {"results": {"all": {"em": 0.5, "em_stderr": 0.1, "rouge1": 0.6, "bleu": 12.0}}}
    rows = [
        {"prompt": "q1", "inference": "HQ", "gold": "HQ"},
        {"prompt": "q2", "inference": "It is LQ_EDIT, because", "gold": "LQ_EDIT"},
        {"prompt": "q3", "inference": "HQ", "gold": "LQ_CLOSE"},
        {"prompt": "q4", "inference": "no idea", "gold": "HQ"},
    ]
    members = {
        "results_2026-12-02.json": json.dumps(nova_results),
        "inference_output.jsonl": "".join(json.dumps(r) + "\n" for r in rows),
    }
    members_file = tmp_path / "members.json"
    members_file.write_text(json.dumps(members))
    code = PROBE.format(blocked=NOT_IN_LAMBDA, root=str(PROJECT_ROOT), members=str(members_file))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    flat = results["results"]["all"]
    assert flat["em"] == 0.5 and flat["rouge1"] == 0.6 and flat["bleu"] == 12.0  # Nova's own figures kept
    assert flat["accuracy"] == 0.5  # q1 exact, q2 parsed from verbose text
    assert results["confusion_matrix"] and results["per_class"]["HQ"]


def test_the_probe_can_fail() -> None:
    """The blocking works: importing the text metrics' dependencies fails in that interpreter."""
    code = f"import sys\nsys.modules['rouge_score'] = None\nsys.path[:0] = [{str(PROJECT_ROOT)!r}]\n" \
           "from job_code.core.metrics import rouge_scores\nrouge_scores([('a', 'a')])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "rouge_score" in done.stderr


