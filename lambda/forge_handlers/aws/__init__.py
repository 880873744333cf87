"""AWS access of the handlers: the client seam (clients.py) and the S3 helpers over it (s3io.py).

The only part of forge_handlers that imports boto3 or botocore (tests/infra/test_import_rules.py).
"""
