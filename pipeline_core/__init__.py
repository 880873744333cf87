"""The neutral core shared by the stacks, the handlers, the jobs and local mode: stdlib + pydantic only
(PyYAML lazily, to read a YAML config; no CDK, no boto3). Import rules: docs/architecture.md."""
