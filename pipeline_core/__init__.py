"""Neutral core shared by the stacks, the handlers, the jobs and local mode (no CDK, no boto3)."""
