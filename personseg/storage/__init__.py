"""Object storage on the S3 API (MinIO, SeaweedFS) and the model registry built on it.

Modules import the ``minio`` SDK lazily where they can, so ``personseg --help`` and local-only
runs never pay for it. ``resolve`` is what the rest of the library calls; ``registry`` is the
model registry; ``server`` runs a local ``weed mini`` S3 server for development and tests.
"""
