"""The neutral core shared by the stacks, the handlers, the jobs and local mode: stdlib + pydantic only
(no CDK, no boto3)."""
