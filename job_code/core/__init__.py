"""The pure job core: dataset formats, validation, splits, labels, metrics, scoring of results, the reward,
and the endpoint server's limits and HTTP layer.

It imports no ML library (torch, transformers, peft, trl, accelerate, datasets) and nothing of the ML job
code beside it in job_code/, so the Lambda handlers (Prepare, Poll's rescoring, the reward Lambda) and the
CLI run it without the training image. The text metrics' scorers (rouge-score, sacrebleu with numpy) are
imported lazily inside the functions that need them; plots (matplotlib) stay with the ML job code.
"""
