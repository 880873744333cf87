"""SageMaker entry point (sagemaker_program=rft.py): the code channel's top level, beside job_code/."""
import sys

from job_code.rft import main

raise SystemExit(main(sys.argv[1:]))
