"""SageMaker entry point (sagemaker_program=sft.py): the code channel's top level, beside job_code/."""
import sys

from job_code.sft import main

raise SystemExit(main(sys.argv[1:]))
