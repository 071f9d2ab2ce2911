"""The archive: Parquet files under a local folder or `s3://bucket/prefix`, never visible half-written.

Every file is written under `_staging/` first and only then moved to its final name: a local rename
is atomic, and on S3 the final object appears only when its (server-side) copy completes. A run that
is killed leaves staging files and incomplete multipart uploads behind; the next run for the same key
prefix removes them. Readers glob the final names (`signals/**/*.parquet`) and never see `_staging/`.
"""

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import boto3
import dagster as dg
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from dagster_aws.s3 import S3Resource
from pydantic import Field

STAGING = "_staging"


@dataclass
class StagedParquet:
    key: str
    writer: pq.ParquetWriter | None


@dataclass(frozen=True)
class StoredFile:
    key: str
    uri: str
    bytes: int


class Archive:
    """An opened archive root: a pyarrow filesystem for data, plus an S3 client for what pyarrow lacks."""

    def __init__(self, filesystem: pafs.FileSystem, base: str, uri_base: str, s3_client=None, bucket: str = ""):
        self.filesystem = filesystem
        self.base = base.rstrip("/")
        self.uri_base = uri_base.rstrip("/")
        self.s3_client = s3_client
        self.bucket = bucket

    @property
    def is_s3(self) -> bool:
        return self.s3_client is not None

    def path(self, key: str) -> str:
        """The filesystem path of `key` (relative, `/`-separated) for pyarrow and DuckDB."""
        return f"{self.base}/{key}" if key else self.base

    def uri(self, key: str) -> str:
        return f"{self.uri_base}/{key}" if key else self.uri_base

    def size(self, key: str) -> int | None:
        info = self.filesystem.get_file_info(self.path(key))
        return info.size if info.type == pafs.FileType.File else None

    def list_files(self, prefix: str) -> list[str]:
        """Keys of every file under `prefix`, sorted."""
        infos = self.filesystem.get_file_info(pafs.FileSelector(self.path(prefix), recursive=True, allow_not_found=True))
        return sorted(
            info.path[len(self.base) + 1 :] for info in infos if info.type == pafs.FileType.File
        )

    def delete(self, key: str) -> None:
        if self.size(key) is not None:
            self.filesystem.delete_file(self.path(key))

    def sha256(self, key: str) -> str:
        """SHA-256 of a stored file, read end to end in 8 MB chunks."""
        digest = hashlib.sha256()
        with self.filesystem.open_input_stream(self.path(key)) as stream:
            while chunk := stream.read(8 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def open_parquet(self, key: str) -> pq.ParquetFile:
        return pq.ParquetFile(self.filesystem.open_input_file(self.path(key)))

    @contextmanager
    def staged_parquet(self, key: str, schema: pa.Schema, **writer_options) -> Iterator["StagedParquet"]:
        """A ParquetWriter on a fresh staging file for `key`; `publish(staged.key, key)` it afterwards."""
        staged = StagedParquet(key=f"{STAGING}/{key}.{uuid.uuid4().hex}", writer=None)
        if not self.is_s3:
            self.filesystem.create_dir(str(PurePosixPath(self.path(staged.key)).parent), recursive=True)
        try:
            with pq.ParquetWriter(
                self.path(staged.key), schema, filesystem=self.filesystem, **writer_options
            ) as staged.writer:
                yield staged
        except BaseException:
            # Closing the writer completed the file (and on S3 the upload): it is not the whole data.
            with suppress(OSError):
                self.delete(staged.key)
            raise
        if not self.is_s3:
            _fsync(self.path(staged.key))

    def publish(self, staging_key: str, key: str) -> StoredFile:
        """Moves a complete staging file to its final name, atomically for readers."""
        final = self.path(key)
        if self.is_s3:
            # boto3's managed copy switches to a multipart copy for big files; the object
            # appears only when it completes. pyarrow's move would be limited to 5 GB.
            self.s3_client.copy(
                {"Bucket": self.bucket, "Key": self._object_key(staging_key)}, self.bucket, self._object_key(key)
            )
            self.filesystem.delete_file(self.path(staging_key))
        else:
            self.filesystem.create_dir(str(PurePosixPath(final).parent), recursive=True)
            self.filesystem.move(self.path(staging_key), final)
            _fsync(str(PurePosixPath(final).parent))
        return StoredFile(key=key, uri=self.uri(key), bytes=self.size(key) or 0)

    def clean_leftovers(self, key_prefix: str) -> int:
        """Removes staging files and incomplete uploads a killed run left for keys under `key_prefix`.

        Only call it while holding the lock that serialises writers of these keys.
        """
        removed = 0
        for staged in self.list_files(f"{STAGING}/{key_prefix}"):
            self.filesystem.delete_file(self.path(staged))
            removed += 1
        if self.is_s3:
            for prefix in (f"{STAGING}/{key_prefix}", key_prefix):
                removed += self._abort_multipart_uploads(self._object_key(prefix))
        return removed

    def _abort_multipart_uploads(self, prefix: str) -> int:
        aborted = 0
        paginator = self.s3_client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                self.s3_client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                aborted += 1
        return aborted

    def _object_key(self, key: str) -> str:
        return self.path(key)[len(self.bucket) + 1 :]


def _fsync(path: str) -> None:
    """Durable before it becomes visible: Postgres drops the day once the manifest says verified."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArchiveStore(dg.ConfigurableResource):
    """Where archived Parquet lives: a local folder, or S3 (or any S3-compatible store)."""

    root: str = Field(
        default=".distillery/archive",
        description="A local folder, or s3://bucket/prefix for S3 and S3-compatible stores.",
    )
    s3: S3Resource | None = Field(
        default=None,
        description="Client settings for an s3:// root (endpoint, region, credentials); "
        "empty means the default AWS credential chain.",
    )

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def open(self) -> Archive:
        if not self.is_s3:
            base = Path(self.root).expanduser().resolve()
            base.mkdir(parents=True, exist_ok=True)
            return Archive(pafs.LocalFileSystem(), base.as_posix(), base.as_uri())
        parsed = urlparse(self.root)
        bucket, prefix = parsed.netloc, parsed.path.strip("/")
        s3 = self.s3 or S3Resource()
        return Archive(
            _pyarrow_s3(s3),
            f"{bucket}/{prefix}" if prefix else bucket,
            self.root.rstrip("/"),
            s3_client=s3.get_client(),
            bucket=bucket,
        )


def _pyarrow_s3(s3: S3Resource) -> pafs.S3FileSystem:
    """A pyarrow S3 filesystem with the same endpoint, region and credentials as the boto3 client."""
    session = boto3.session.Session(
        profile_name=s3.profile_name,
        aws_access_key_id=s3.aws_access_key_id,
        aws_secret_access_key=s3.aws_secret_access_key,
        aws_session_token=s3.aws_session_token,
        region_name=s3.region_name,
    )
    options: dict = {"region": session.region_name or "us-east-1", "allow_bucket_creation": False}
    credentials = None if s3.use_unsigned_session else session.get_credentials()
    if credentials is None:
        options["anonymous"] = True
    else:
        frozen = credentials.get_frozen_credentials()
        options.update(access_key=frozen.access_key, secret_key=frozen.secret_key, session_token=frozen.token)
    if s3.endpoint_url:
        endpoint = urlparse(s3.endpoint_url)
        options.update(endpoint_override=endpoint.netloc + endpoint.path.rstrip("/"), scheme=endpoint.scheme)
    elif not s3.use_ssl:
        options["scheme"] = "http"
    return pafs.S3FileSystem(**options)

