"""Storage failures, one class per cause, so callers and tests can tell them apart.

All are ``UserError``: the CLI prints the message as one line. Messages name the endpoint, bucket
and key involved, never a credential.
"""

from personseg.errors import UserError


class StorageError(UserError):
    """Something went wrong talking to object storage."""


class EndpointUnreachable(StorageError):
    """No S3 server answered at the configured endpoint (after retries)."""


class BadCredentials(StorageError):
    """The server rejected the access key or the signature, or denied access."""


class MissingBucket(StorageError):
    """The bucket does not exist on the server."""


class MissingKey(StorageError):
    """The object (or every object under a prefix) does not exist."""


class IntegrityError(StorageError):
    """Downloaded bytes do not match the recorded sha256 or size."""


class ConfigError(StorageError):
    """Endpoint or credentials missing or malformed in the environment."""
