"""``s3://bucket/key`` URIs: parse them once, with errors that name the URI."""

from __future__ import annotations

from dataclasses import dataclass

from personseg.storage.config import check_bucket_name
from personseg.storage.errors import ConfigError


@dataclass(frozen=True)
class S3Uri:
    """A bucket and a key (or key prefix, without leading or trailing slash)."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"

    def child(self, rel: str) -> str:
        """The object key of ``rel`` under this prefix."""
        return f"{self.key}/{rel}" if self.key else rel

    @property
    def prefix(self) -> str:
        """The key as a listing prefix: ends with ``/`` unless it is the bucket root."""
        return f"{self.key}/" if self.key else ""


def parse_s3_uri(uri: str) -> S3Uri:
    """Split ``s3://bucket/some/key`` into bucket and key; reject anything else by name."""
    uri = str(uri)
    if not uri.startswith("s3://"):
        raise ConfigError(f"{uri!r}: not an s3:// URI")
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    check_bucket_name(bucket, f"in {uri!r}, bucket")
    key = key.strip("/")
    if any(part in ("", ".", "..") for part in key.split("/")) and key:
        raise ConfigError(f"{uri!r}: key has an empty, '.' or '..' path segment")
    return S3Uri(bucket, key)
