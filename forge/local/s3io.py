"""S3 <-> local directory transfers for the local SageMaker runtime (works on moto or real S3)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


class S3UriError(ValueError):
    """A string that should be an s3:// URI is not one."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise S3UriError(f"expected an s3://bucket/key URI, got {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def join_s3(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *(part.strip("/") for part in parts)])


def download_prefix(s3: Any, uri: str, dest: Path) -> int:
    """Copy every object under ``uri`` (a prefix or one key) into ``dest``, keeping relative paths.

    Returns the number of files written. A URI naming a single object lands as ``dest/<basename>``,
    as SageMaker's S3Prefix channels do.
    """
    bucket, prefix = split_s3_uri(uri)
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue
            # SageMaker keeps paths relative to the prefix; a URI naming one object keeps its basename.
            relative = key[len(prefix) :].lstrip("/") or Path(key).name
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
            count += 1
    return count


def upload_dir(s3: Any, src: Path, uri: str) -> int:
    """Upload every file under ``src`` to the prefix ``uri``; returns the number of files."""
    bucket, prefix = split_s3_uri(uri)
    count = 0
    for path in sorted(src.rglob("*")):
        if path.is_file():
            key = "/".join(part for part in (prefix.rstrip("/"), path.relative_to(src).as_posix()) if part)
            s3.upload_file(str(path), bucket, key)
            count += 1
    return count


def upload_tarball(s3: Any, src: Path, uri: str) -> None:
    """Pack the contents of ``src`` (not the directory itself) as a .tar.gz object, as SageMaker does."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(src.iterdir()) if src.exists() else []:
            tar.add(path, arcname=path.name)
    bucket, key = split_s3_uri(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


def download_model_data(s3: Any, uri: str, dest: Path) -> None:
    """Fetch a model: a model.tar.gz is extracted into ``dest``; a prefix is copied as is."""
    if uri.endswith(".tar.gz"):
        bucket, key = split_s3_uri(uri)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            tar.extractall(dest, filter="data")
    else:
        download_prefix(s3, uri, dest)
