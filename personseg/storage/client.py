"""One S3 client with retries and errors a person can act on.

Every call goes through ``Store.run``: transient failures (connection refused or reset, timeouts,
5xx, ``SlowDown``) are retried with exponential backoff; after the last try, or at once for a
permanent failure, a ``StorageError`` subclass says which of the four usual causes it was
(endpoint unreachable, bad credentials, missing bucket, missing key). The SDK's own urllib3
retries are switched off so the policy lives in one place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from personseg.storage.config import RetryPolicy, S3Config
from personseg.storage.errors import (
    BadCredentials,
    EndpointUnreachable,
    IntegrityError,
    MissingBucket,
    MissingKey,
    StorageError,
)

if TYPE_CHECKING:
    from minio import Minio

log = logging.getLogger(__name__)
T = TypeVar("T")

CHUNK = 1 << 20
TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "OperationAborted",
    "XMinioServerNotInitialized",
}
CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidSecurity",
}
NOT_FOUND_CODES = {"NoSuchKey", "ResourceNotFound", "NoSuchObject"}


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: key, size in bytes, ETag (quotes removed), server's LastModified."""

    key: str
    size: int
    etag: str
    modified: dt.datetime | None = None


class _Transient(Exception):
    """Internal marker: this try failed in a way worth retrying."""

    def __init__(self, reason: str, network: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.network = network


class Store:
    """S3 operations on one endpoint, each retried and translated into ``StorageError``."""

    def __init__(self, config: S3Config, policy: RetryPolicy | None = None) -> None:
        self.config = config
        self.policy = policy or RetryPolicy.from_env()
        self._client: Minio | None = None

    @classmethod
    def from_env(cls) -> Store:
        """A store for the endpoint and credentials in the environment."""
        return cls(S3Config.from_env())

    @property
    def url(self) -> str:
        """The endpoint URL (no credentials), for messages."""
        return self.config.url

    @property
    def client(self) -> Minio:
        """The minio SDK client, built on first use with our timeouts and no hidden retries."""
        if self._client is None:
            import certifi
            import urllib3
            from minio import Minio

            http = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=self.policy.connect_timeout, read=self.policy.read_timeout),
                maxsize=16,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            )
            self._client = Minio(
                self.config.endpoint,
                access_key=self.config.access_key,
                secret_key=self.config.secret_key,
                secure=self.config.secure,
                region=self.config.region,
                http_client=http,
            )
        return self._client

    # -- the retry loop --------------------------------------------------------------------

    def run(self, what: str, fn: Callable[[], T], bucket: str | None = None, key: str | None = None) -> T:
        """Call ``fn`` with retries; ``what`` (e.g. ``s3://b/k``) names the target in errors."""
        tries = 1 + self.policy.retries
        last: _Transient | None = None
        for attempt in range(tries):
            try:
                return self._classify(fn, what, bucket, key)
            except _Transient as exc:
                last = exc
                if attempt + 1 < tries:
                    pause = self.policy.sleep_for(attempt)
                    log.debug("%s: %s; retrying in %.1fs", what, exc.reason, pause)
                    time.sleep(pause)
        assert last is not None
        if last.network:
            raise EndpointUnreachable(
                f"S3 endpoint {self.url} unreachable after {tries} tries ({last.reason}) while accessing "
                f"{what}; is the server running? (`personseg storage up` starts a local one)"
            )
        raise StorageError(f"{what}: {self.url} kept failing after {tries} tries ({last.reason})")

    def _classify(self, fn: Callable[[], T], what: str, bucket: str | None, key: str | None) -> T:
        import urllib3
        from minio.error import InvalidResponseError, S3Error, ServerError

        try:
            return fn()
        except S3Error as exc:
            if exc.code in TRANSIENT_CODES:
                raise _Transient(f"{exc.code}", network=False) from None
            raise self._translate(exc.code, exc.message, what, bucket, key) from None
        except ServerError as exc:
            if exc.status_code >= 500 or exc.status_code == 429:
                raise _Transient(f"HTTP {exc.status_code}", network=False) from None
            raise StorageError(f"{what}: {self.url} answered HTTP {exc.status_code}") from None
        except InvalidResponseError as exc:
            found = re.search(r"Response code: (\d+)", str(exc))
            status = int(found.group(1)) if found else 0
            if status >= 500 or status == 429:
                raise _Transient(f"HTTP {status} without an S3 error body", network=False) from None
            raise StorageError(
                f"{what}: {self.url} did not answer like an S3 server (HTTP {status}); check MINIO_ENDPOINT"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise _Transient(_network_reason(exc), network=True) from None

    def _translate(self, code: str, message: str | None, what: str, bucket: str | None, key: str | None) -> Exception:
        if code in CREDENTIAL_CODES:
            return BadCredentials(
                f"{self.url} rejected the credentials ({code}) for {what}: check MINIO_ACCESS_KEY/"
                "MINIO_SECRET_KEY (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
            )
        if code == "AccessDenied":
            return BadCredentials(
                f"{self.url} denied access to {what}: the credentials are wrong or lack permission"
            )
        if code == "NoSuchBucket":
            return MissingBucket(f"bucket {bucket!r} does not exist at {self.url} (needed for {what})")
        if code in NOT_FOUND_CODES:
            if bucket and not self.bucket_exists(bucket):
                return MissingBucket(f"bucket {bucket!r} does not exist at {self.url} (needed for {what})")
            return MissingKey(f"{what}: no such object at {self.url}")
        return StorageError(f"{what}: {self.url} refused: {code}: {message or ''}".rstrip(": "))

    # -- operations ------------------------------------------------------------------------

    def bucket_exists(self, bucket: str) -> bool:
        """True when ``bucket`` exists (a missing bucket is not an error here)."""
        return self.run(f"s3://{bucket}", lambda: self.client.bucket_exists(bucket), bucket)

    def ensure_bucket(self, bucket: str) -> None:
        """Create ``bucket`` unless it exists; a concurrent creator is fine."""
        from minio.error import S3Error

        if self.bucket_exists(bucket):
            return

        def make() -> None:
            try:
                self.client.make_bucket(bucket)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

        self.run(f"create bucket s3://{bucket}", make, bucket)
        log.info("created bucket s3://%s at %s", bucket, self.url)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        """The whole object (for small objects: cards, pointers, manifests)."""

        def get() -> bytes:
            resp = self.client.get_object(bucket, key)
            try:
                return resp.read()
            finally:
                resp.close()
                resp.release_conn()

        return self.run(f"s3://{bucket}/{key}", get, bucket, key)

    def get_json(self, bucket: str, key: str) -> Any:
        """A small JSON object; a malformed one is an error naming the key."""
        data = self.get_bytes(bucket, key)
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StorageError(f"s3://{bucket}/{key}: not valid JSON ({exc})") from None

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write a small object in one PUT (atomic: readers see the old or the new bytes)."""
        self.run(
            f"s3://{bucket}/{key}",
            lambda: self.client.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type),
            bucket,
            key,
        )

    def put_json(self, bucket: str, key: str, obj: Any) -> None:
        """Write ``obj`` as pretty JSON in one PUT."""
        data = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
        self.put_bytes(bucket, key, data, content_type="application/json")

    def put_if_absent(self, bucket: str, key: str, data: bytes) -> bool:
        """PUT with ``If-None-Match: *``: False if the key already existed.

        AWS S3, MinIO and SeaweedFS honour this conditional write. minio-py 7.2 has no public
        parameter for it (it would turn the header into user metadata), so this uses the SDK's
        single-PUT helper; ``tests/test_storage_registry.py`` checks the behaviour.
        """
        from minio.error import S3Error

        def put() -> bool:
            try:
                self.client._put_object(bucket, key, data, headers={"If-None-Match": "*"})
            except S3Error as exc:
                if exc.code in ("PreconditionFailed", "ConditionalRequestConflict"):
                    return False
                raise
            return True

        return self.run(f"s3://{bucket}/{key}", put, bucket, key)

    def get_versioned(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag (for a later ``put_if_match``), or None when it does not exist."""

        def get() -> tuple[bytes, str]:
            resp = self.client.get_object(bucket, key)
            try:
                return resp.read(), (resp.headers.get("ETag") or "").strip('"')
            finally:
                resp.close()
                resp.release_conn()

        try:
            return self.run(f"s3://{bucket}/{key}", get, bucket, key)
        except MissingKey:
            return None

    def put_if_match(self, bucket: str, key: str, data: bytes, etag: str | None) -> bool:
        """Compare-and-swap one object: replace it only if its ETag is still ``etag`` (None: only if absent).

        False when another writer got there first (HTTP 412 or 409): read again and retry. AWS S3 (since
        2024-11), current MinIO and SeaweedFS honour ``If-Match`` on PUT; ``tests/test_storage_registry.py``
        races two writers on the real server.
        """
        from minio.error import S3Error

        def put() -> bool:
            headers = {"If-None-Match": "*"} if etag is None else {"If-Match": f'"{etag}"'}
            try:
                self.client._put_object(bucket, key, data, headers=headers)
            except S3Error as exc:
                if exc.code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                    return False
                raise
            return True

        return self.run(f"s3://{bucket}/{key}", put, bucket, key)

    def upload_file(self, bucket: str, key: str, path: Path) -> None:
        """Upload one local file (multipart above 5 MiB, handled by the SDK)."""
        self.run(f"s3://{bucket}/{key}", lambda: self.client.fput_object(bucket, key, str(path)), bucket, key)

    def download_file(
        self, bucket: str, key: str, dest: Path, sha256: str | None = None, size: int | None = None
    ) -> str:
        """Stream an object to ``dest``, hashing as it goes; verify ``sha256``/``size`` if given.

        Returns the hex sha256 of what was written. A mismatch raises ``IntegrityError`` and
        removes ``dest``.
        """

        def fetch() -> str:
            digest = hashlib.sha256()
            resp = self.client.get_object(bucket, key)
            try:
                with open(dest, "wb") as fh:
                    for chunk in resp.stream(CHUNK):
                        digest.update(chunk)
                        fh.write(chunk)
            finally:
                resp.close()
                resp.release_conn()
            return digest.hexdigest()

        got = self.run(f"s3://{bucket}/{key}", fetch, bucket, key)
        actual_size = dest.stat().st_size
        if (sha256 is not None and got != sha256) or (size is not None and actual_size != size):
            dest.unlink(missing_ok=True)
            raise IntegrityError(
                f"s3://{bucket}/{key}: content does not match its record "
                f"(sha256 {got[:12]}... size {actual_size}, expected sha256 {(sha256 or '?')[:12]}... "
                f"size {size if size is not None else '?'}); the object was changed or corrupted"
            )
        return got

    def exists(self, bucket: str, key: str) -> bool:
        """True when the object exists; False when it (not its bucket) is missing."""
        try:
            self.run(f"s3://{bucket}/{key}", lambda: self.client.stat_object(bucket, key), bucket, key)
        except MissingKey:
            return False
        return True

    def list(self, bucket: str, prefix: str, recursive: bool = True) -> list[ObjectInfo]:
        """Objects under ``prefix``; with ``recursive=False``, sub-prefixes appear with size -1."""

        def listing() -> list[ObjectInfo]:
            out = []
            for obj in self.client.list_objects(bucket, prefix=prefix, recursive=recursive):
                if obj.is_dir:
                    out.append(ObjectInfo(obj.object_name, -1, ""))
                else:
                    etag = (obj.etag or "").strip('"')
                    out.append(ObjectInfo(obj.object_name, int(obj.size or 0), etag, obj.last_modified))
            return out

        return self.run(f"s3://{bucket}/{prefix}", listing, bucket)

    def server_time(self, bucket: str, key: str) -> dt.datetime:
        """The server's clock (``Date`` of a HEAD on an existing object), to age objects without our clock.

        Falls back to this machine's clock if the server sends no ``Date``.
        """
        from email.utils import parsedate_to_datetime

        stat = self.run(f"s3://{bucket}/{key}", lambda: self.client.stat_object(bucket, key), bucket, key)
        date = (stat.metadata or {}).get("Date")
        return parsedate_to_datetime(date) if date else dt.datetime.now(dt.timezone.utc)

    def remove(self, bucket: str, key: str) -> None:
        """Delete one object (deleting a missing object is not an error in S3)."""
        self.run(f"s3://{bucket}/{key}", lambda: self.client.remove_object(bucket, key), bucket, key)

    def presign_get(self, bucket: str, key: str, expires: dt.timedelta) -> str:
        """A GET URL for one object that works without credentials until ``expires`` passes."""
        return self.run(
            f"s3://{bucket}/{key}",
            lambda: self.client.presigned_get_object(bucket, key, expires=expires),
            bucket,
            key,
        )


def _network_reason(exc: Exception) -> str:
    """A short cause for a network failure, e.g. ``connection refused`` or ``read timed out``."""
    inner = getattr(exc, "reason", None) or exc
    text = str(inner)
    for marker, reason in (
        ("Connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("Name or service not known", "host name not found"),
        ("Temporary failure in name resolution", "host name not found"),
        ("Connection reset", "connection reset"),
        ("Connection aborted", "connection aborted"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted (set SSL_CERT_FILE)"),
        ("WRONG_VERSION_NUMBER", "TLS handshake failed; is MINIO_SECURE right?"),
    ):
        if marker in text:
            return reason
    return type(inner).__name__
