"""Small S3 helpers over the client seam (JSON and text objects, existence checks, downloads)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from forge_handlers.aws import clients
from forge_handlers.errors import ArtifactMissingError, error_code, translate_client_error
from forge_handlers.naming import split_s3_uri

_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}


def get_bytes(uri: str, what: str = "object") -> bytes:
    bucket, key = split_s3_uri(uri)
    try:
        return clients.s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as error:
        if error_code(error) in _MISSING:
            raise ArtifactMissingError(f"{what} not found at {uri}") from None
        raise translate_client_error(error) from error


def download(uri: str, path: str | Path, what: str = "object") -> Path:
    """Stream the object to ``path`` in chunks: a large dataset never sits in the Lambda's memory whole.

    One GetObject read as a stream (not boto3's download_fileobj): the same s3:GetObject permission, no
    HeadObject or transfer threads, and the client seam's fakes need only get_object.
    """
    bucket, key = split_s3_uri(uri)
    path = Path(path)
    try:
        body = clients.s3().get_object(Bucket=bucket, Key=key)["Body"]
        with path.open("wb") as handle:
            shutil.copyfileobj(body, handle, 1 << 20)
    except Exception as error:
        if error_code(error) in _MISSING:
            raise ArtifactMissingError(f"{what} not found at {uri}") from None
        raise translate_client_error(error) from error
    return path


def get_json(uri: str, what: str = "object") -> Any:
    body = get_bytes(uri, what)
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise ArtifactMissingError(f"{what} at {uri} is not valid JSON: {error}") from None


def put_bytes(uri: str, body: bytes, content_type: str = "application/octet-stream") -> str:
    bucket, key = split_s3_uri(uri)
    try:
        clients.s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except Exception as error:
        raise translate_client_error(error) from error
    return uri


def put_json(uri: str, document: Any) -> str:
    body = json.dumps(document, indent=2, sort_keys=True, default=str).encode()
    return put_bytes(uri, body, "application/json")


def put_text(uri: str, text: str, content_type: str = "text/plain") -> str:
    return put_bytes(uri, text.encode(), content_type)

