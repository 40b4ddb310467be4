"""Does the server honour ``If-None-Match: *`` on PUT? Asked once per endpoint, at the first claim.

AWS S3, SeaweedFS and current MinIO refuse a conditional PUT onto an existing key (HTTP 412); the
MinIO that older Kubeflow releases ship predates the header and overwrites. The version claim
(``claims.py``) needs to know which. Asking costs two PUTs and a DELETE of a fresh key under
``_probe/``; the answer is kept per endpoint URL for the life of the process and logged once.
``personseg models gc`` removes a probe key that a killed process left behind.
"""

from __future__ import annotations

import logging
import threading
import uuid

from personseg.storage.client import Store
from personseg.storage.errors import StorageError

log = logging.getLogger(__name__)

PROBE_PREFIX = "_probe/"
_answers: dict[str, bool] = {}
_lock = threading.Lock()


def honours_if_none_match(store: Store, bucket: str) -> bool:
    """Whether ``store``'s server refuses a conditional PUT onto an existing key; probed once per endpoint."""
    with _lock:  # concurrent first publishes wait for one probe rather than each running their own
        known = _answers.get(store.url)
        if known is None:
            known = _answers[store.url] = probe(store, bucket)
            if known:
                log.info("%s honours If-None-Match: version claims use conditional PUTs", store.url)
            else:
                log.warning(
                    "%s ignores If-None-Match (an older MinIO?): version claims use claim objects and a "
                    "listing instead (docs/storage.md)",
                    store.url,
                )
        return known


def probe(store: Store, bucket: str) -> bool:
    """Ask the server, uncached: PUT a fresh key twice with the condition; True if the second is refused."""
    for _ in range(3):
        key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
        try:
            first = store.put_if_absent(bucket, key, b"probe: first write")
            second = store.put_if_absent(bucket, key, b"probe: second write") if first else None
        finally:
            store.remove(bucket, key)
        # ``first`` is False only if a retried PUT found its own earlier try: ask again on a new key.
        if first:
            return not second
    raise StorageError(
        f"{store.url}: a conditional PUT of a new key under s3://{bucket}/{PROBE_PREFIX} was refused 3 times; "
        "the server's conditional writes are broken"
    )
