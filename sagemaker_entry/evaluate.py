"""SageMaker entry point (sagemaker_program=evaluate.py): the code channel's top level, beside job_code/."""
import sys

from job_code.evaluate import main

raise SystemExit(main(sys.argv[1:]))
