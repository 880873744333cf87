"""S3 <-> local directory transfers for the local SageMaker runtime (works on moto or real S3)."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from boto3.s3.transfer import TransferConfig

# Downloads in one GET. boto3's default splits objects over 8 MB into ranged GETs, which moto's in-memory
# S3 serves slowly: a 542 MB model took 33.6 s that way and 2.1 s in one GET (2 cores, 2026-12-01).
# Uploads keep boto3's default 8 MB parts: one large PUT was far slower still (266 s) through moto.
SINGLE_GET = TransferConfig(multipart_threshold=1 << 40)


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
            s3.download_file(bucket, key, str(target), Config=SINGLE_GET)
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
    """Pack the contents of ``src`` (not the directory itself) as a .tar.gz object, as SageMaker does.

    Streamed through a temporary file, gzip-framed but not compressed (level 0): model weights barely
    compress, and level 1 took 17 s to pack a merged 135M-parameter model (538 -> 347 MB) against 0.9 s.
    """
    bucket, key = split_s3_uri(uri)
    with tempfile.NamedTemporaryFile(suffix=".tar.gz") as archive:
        with tarfile.open(fileobj=archive, mode="w:gz", compresslevel=0) as tar:
            for path in sorted(src.iterdir()) if src.exists() else []:
                tar.add(path, arcname=path.name)
        archive.flush()
        s3.upload_file(archive.name, bucket, key)


def download_model_data(s3: Any, uri: str, dest: Path) -> None:
    """Fetch a model: a model.tar.gz is extracted into ``dest``; a prefix is copied as is."""
    if uri.endswith(".tar.gz"):
        bucket, key = split_s3_uri(uri)
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(suffix=".tar.gz") as archive:
            s3.download_fileobj(bucket, key, archive, Config=SINGLE_GET)
            archive.flush()
            with tarfile.open(archive.name, mode="r:gz") as tar:
                tar.extractall(dest, filter="data")
    else:
        download_prefix(s3, uri, dest)
