"""An S3 endpoint for tests: moto's server on 127.0.0.1, one fresh bucket per test."""

import logging
import uuid

import pytest
from dagster_aws.s3 import S3Resource

from resources.archive_store import ArchiveStore


@pytest.fixture(scope="session")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_resource(s3_endpoint) -> S3Resource:
    return S3Resource(
        endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


@pytest.fixture
def s3_archive_store(s3_resource) -> ArchiveStore:
    bucket = f"archive-{uuid.uuid4().hex[:12]}"
    s3_resource.get_client().create_bucket(Bucket=bucket)
    return ArchiveStore(root=f"s3://{bucket}/distillery", s3=s3_resource)


def bucket_keys(store: ArchiveStore) -> list[str]:
    """Every object key in the store's bucket, staging included (not pyarrow's empty folder markers)."""
    bucket = store.root.removeprefix("s3://").split("/")[0]
    client = store.s3.get_client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []) if not item["Key"].endswith("/"))


def incomplete_uploads(store: ArchiveStore) -> list[str]:
    bucket = store.root.removeprefix("s3://").split("/")[0]
    uploads = store.s3.get_client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [upload["Key"] for upload in uploads]


