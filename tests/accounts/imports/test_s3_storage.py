"""Uploads on S3-compatible storage: a CSV uploaded through the import page is stored in a
bucket (a moto server on loopback) and a worker in another process, which shares nothing
with the web process but the bucket and the database, reads it from there and imports it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from moto.server import ThreadedMotoServer

from accounts.imports.jobs import start_import
from accounts.models import Account, ImportJob, User
from chs_site.benchmarks import sending_to
from chs_site.queues import IMPORTS
from chs_site.settings import upload_storage
from scoring.models import MetricDefinition, MetricValue
from tests.conftest import wait_for
from tests.faults import Processes

BUCKET = "chs-uploads"


@pytest.fixture
def s3_env() -> Iterator[dict[str, str]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "STORAGE_BACKEND": "s3",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "chs-test",
        "AWS_SECRET_ACCESS_KEY": "chs-test-secret",
        "AWS_LOCATION": "media",
    }
    bucket(env).create()
    try:
        yield env
    finally:
        server.stop()


def bucket(env: dict[str, str]):  # type: ignore[no-untyped-def]
    return boto3.resource(
        "s3",
        endpoint_url=env["AWS_S3_ENDPOINT_URL"],
        region_name=env["AWS_S3_REGION_NAME"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    ).Bucket(BUCKET)


def test_a_named_bucket_selects_s3_and_nothing_selects_local_disk() -> None:
    s3 = upload_storage({"AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ENDPOINT_URL": "http://m:9000"})
    assert s3["BACKEND"] == "storages.backends.s3.S3Storage"
    assert s3["OPTIONS"]["endpoint_url"] == "http://m:9000"
    assert s3["OPTIONS"]["file_overwrite"] is False
    assert upload_storage({})["BACKEND"] == "django.core.files.storage.FileSystemStorage"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_upload_stored_in_s3_is_imported_by_a_worker_in_another_process(
    s3_env: dict[str, str],
    settings: object,
    tmp_path: Path,
    admin: User,
    admin_client: Client,
    account: Account,
) -> None:
    if not django_settings.IS_POSTGRES or django_settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("needs PostgreSQL and Redis")
    settings.STORAGES = {**django_settings.STORAGES, "default": upload_storage(s3_env)}  # type: ignore[attr-defined]
    # The worker's uploads directory is empty: the file can only come from the bucket.
    settings.MEDIA_ROOT = tmp_path / "web-media"  # type: ignore[attr-defined]
    MetricDefinition.objects.create(key="logins", name="Logins")
    csv = (
        "account,metric,value,observed_at\n"
        f"{account.external_id},logins,7,2026-01-01T00:00:00Z\n"
        f"{account.external_id},logins,9,2026-01-02T00:00:00Z\n"
    )
    response = admin_client.post(
        "/imports/",
        {"kind": "metrics_long", "file": SimpleUploadedFile("usage.csv", csv.encode(), "text/csv")},
    )
    job = ImportJob.objects.get()
    assert response["Location"] == f"/imports/{job.pk}/"
    keys = [o.key for o in bucket(s3_env).objects.all()]
    assert keys == [f"media/{job.file.name}"]
    assert not (tmp_path / "web-media").exists()

    processes = Processes(tmp_path)
    try:
        worker_media = tmp_path / "worker-media"
        processes.worker(
            "imports", serves=[IMPORTS], env={**s3_env, "MEDIA_ROOT": str(worker_media)}
        )
        with sending_to(processes.queue):
            start_import(job=job, user=admin)
        assert wait_for(lambda: ImportJob.objects.get(pk=job.pk).is_finished, timeout=30), (
            processes.logs()
        )
    finally:
        processes.stop()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCEEDED, job.message
    assert sorted(MetricValue.objects.values_list("value", flat=True)) == [7.0, 9.0]
    assert not worker_media.exists()
