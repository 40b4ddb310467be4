"""The local S3 server exposes nothing but the S3 API: weed's filer and volume ports refuse unsigned
requests, and its data cannot be read by other local users."""

from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request
from pathlib import Path

import storage_fixtures
from storage_fixtures import MODEL_BUCKET, unique_prefix

from personseg.storage.client import Store
from personseg.storage.weed import LocalS3

s3_server = storage_fixtures.s3_server


def _status(method: str, url: str, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_filer_port_refuses_reads_and_writes_without_a_signature(s3_server: LocalS3) -> None:
    store = Store(s3_server.config())
    key = f"{unique_prefix()}/model-card.json"
    store.put_bytes(MODEL_BUCKET, key, b'{"format": 1}')
    filer = f"http://127.0.0.1:{s3_server.ports['filer']}/buckets/{MODEL_BUCKET}"
    assert _status("GET", f"{filer}/{key}") == 401
    assert _status("PUT", f"{filer}/{key}", b"replaced") == 401
    assert _status("DELETE", f"{filer}/{key}") == 401
    assert store.get_bytes(MODEL_BUCKET, key) == b'{"format": 1}'  # the S3 API, signed, still works


def test_volume_port_refuses_unsigned_writes(s3_server: LocalS3) -> None:
    master = f"http://127.0.0.1:{s3_server.ports['master']}"
    with urllib.request.urlopen(f"{master}/dir/assign", timeout=10) as resp:
        assigned = json.load(resp)
    volume = f"http://{assigned['url']}/{assigned['fid']}"
    boundary = "personseg"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\nevil\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    request = urllib.request.Request(volume, data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    try:
        urllib.request.urlopen(request, timeout=10)
        code = 200
    except urllib.error.HTTPError as exc:
        code = exc.code
    assert code == 401


def test_data_is_private_to_the_owner(s3_server: LocalS3) -> None:
    Store(s3_server.config()).put_bytes(MODEL_BUCKET, f"{unique_prefix()}/w.bin", b"\0" * 4096)
    root = Path(s3_server.root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "security.toml").stat().st_mode) == 0o600
    # weed sets 0644 on its volume-info files (*.vif: volume metadata, no object data) whatever the umask;
    # the 0700 directory above keeps those from other users too.
    opened = [
        p for p in (root / "data").rglob("*")
        if not p.is_symlink() and p.suffix != ".vif" and stat.S_IMODE(p.stat().st_mode) & 0o077
    ]
    assert opened == [], f"readable by group or others: {opened[:5]}"
