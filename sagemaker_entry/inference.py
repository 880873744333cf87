"""SageMaker PyTorch inference toolkit entry (SAGEMAKER_PROGRAM=inference.py), in model.tar.gz's code/.

The handler functions live in job_code.serve, beside the HTTP server local endpoints run.
"""
from job_code.serve import input_fn, model_fn, output_fn, predict_fn

__all__ = ["model_fn", "input_fn", "predict_fn", "output_fn"]
