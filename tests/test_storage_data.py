"""Datasets on a real local S3 server: push, fetch through the cache, concurrent readers."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import storage_fixtures
from storage_fixtures import DATA_BUCKET, make_dataset, unique_prefix

from personseg.cli import main
from personseg.errors import UserError
from personseg.hashing import tree_sha256
from personseg.storage.client import Store
from personseg.storage.datasets import MANIFEST, push_dataset
from personseg.storage.errors import IntegrityError, MissingKey
from personseg.storage.resolve import fetch_dataset
from personseg.uris import local_dataset

# The real-server fixtures, bound here so pytest finds them in this module.
s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env


def test_push_then_fetch_round_trip(s3_env, tmp_path: Path) -> None:
    local = make_dataset(tmp_path / "ds", count=3)
    uri = f"{unique_prefix()}/sets/tiny"
    tree = push_dataset(local, uri)
    assert tree.sha256 == tree_sha256(local)
    assert sorted(tree.files) == sorted(p.relative_to(local).as_posix() for p in local.rglob("*.png"))

    got = local_dataset(uri)
    assert got.is_dir() and got != local
    assert tree_sha256(got) == tree.sha256
    for rel in tree.files:
        assert (got / rel).read_bytes() == (local / rel).read_bytes()
    assert got.parent.name == "datasets" and got.name == tree.sha256  # content-addressed


def test_cache_is_reused_without_downloading_again(s3_env, tmp_path: Path) -> None:
    local = make_dataset(tmp_path / "ds", count=2)
    uri = unique_prefix()
    push_dataset(local, uri)
    first = fetch_dataset(uri)
    stamp = (first / "images" / "000.png").stat().st_mtime_ns
    # Remove a data object behind the cache's back: a second fetch must not need it.
    Store.from_env().remove(DATA_BUCKET, f"{uri.split('/', 3)[3]}/images/000.png")
    second = fetch_dataset(uri)
    assert second == first
    assert (second / "images" / "000.png").stat().st_mtime_ns == stamp


def test_concurrent_readers_in_separate_processes_download_once(s3_env, tmp_path: Path) -> None:
    local = make_dataset(tmp_path / "ds", count=6, size=48)
    uri = unique_prefix()
    push_dataset(local, uri)
    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, format='%(message)s');"
        "from personseg.storage.resolve import fetch_dataset; print(fetch_dataset(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1
    downloads = sum("fetched 12 files" in err for _, err in outs)
    assert downloads == 1, [err for _, err in outs]
    assert tree_sha256(paths.pop()) == tree_sha256(local)
    leftovers = [p for p in (Path(os.environ["PERSONSEG_CACHE"]) / "datasets").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_push_is_idempotent_and_refuses_to_replace_silently(s3_env, tmp_path: Path) -> None:
    uri = unique_prefix()
    a = make_dataset(tmp_path / "a", count=2, seed=1)
    b = make_dataset(tmp_path / "b", count=1, seed=2)
    first = push_dataset(a, uri)
    assert push_dataset(a, uri).sha256 == first.sha256
    with pytest.raises(UserError, match="already holds a different dataset"):
        push_dataset(b, uri)
    second = push_dataset(b, uri, overwrite=True)
    got = fetch_dataset(uri)
    assert tree_sha256(got) == second.sha256 == tree_sha256(b)
    assert not (got / "images" / "001.png").exists()  # stale file of the old dataset removed


def test_cli_push_replaces_a_different_dataset_only_with_force(s3_env, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    uri = unique_prefix()
    a = make_dataset(tmp_path / "a", count=2, seed=1)
    b = make_dataset(tmp_path / "b", count=1, seed=2)
    quick = "--skip-validation"  # these tiny folders are not what the test is about
    assert main(["data", "push", str(a), uri, quick]) == 0
    assert main(["data", "push", str(b), uri, quick]) == 2
    assert capsys.readouterr().err.endswith("push to a new prefix, or pass --force\n")
    assert main(["data", "push", str(b), uri, quick, "--force"]) == 0
    assert tree_sha256(fetch_dataset(uri)) == tree_sha256(b)


def test_prefix_without_manifest_is_fetched_by_listing(s3_env, tmp_path: Path) -> None:
    """Data uploaded by other tools (no manifest) still works, keyed by its listing."""
    local = make_dataset(tmp_path / "ds", count=2)
    uri = unique_prefix()
    key = uri.split("/", 3)[3]
    store = Store.from_env()
    for path in sorted(local.rglob("*.png")):
        store.upload_file(DATA_BUCKET, f"{key}/{path.relative_to(local).as_posix()}", path)
    store.put_bytes(DATA_BUCKET, f"{key}/.hidden-tool-state", b"ignored")
    got = fetch_dataset(uri)
    assert tree_sha256(got) == tree_sha256(local)
    assert not (got / ".hidden-tool-state").exists()
    assert fetch_dataset(uri + "/") == got


def test_corrupted_dataset_object_is_detected(s3_env, tmp_path: Path) -> None:
    local = make_dataset(tmp_path / "ds", count=2)
    uri = unique_prefix()
    push_dataset(local, uri)
    store = Store.from_env()
    store.put_bytes(DATA_BUCKET, f"{uri.split('/', 3)[3]}/masks/001.png", b"not the mask")
    with pytest.raises(IntegrityError, match="masks/001.png: content does not match"):
        fetch_dataset(uri)
    assert not (Path(os.environ["PERSONSEG_CACHE"]) / "datasets").exists() or not any(
        p for p in (Path(os.environ["PERSONSEG_CACHE"]) / "datasets").iterdir()
    )


def test_missing_prefix_is_a_clear_error(s3_env) -> None:
    uri = unique_prefix()
    with pytest.raises(MissingKey, match=f"{uri}/nothing: no objects under this prefix"):
        fetch_dataset(f"{uri}/nothing")


def test_cli_data_push(s3_env, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    local = make_dataset(tmp_path / "ds", count=3)  # the fewest `data validate` accepts: one per split
    uri = unique_prefix()
    assert main(["data", "push", str(local), uri]) == 0
    out = capsys.readouterr().out
    assert out.split()[:2] == [uri, tree_sha256(local)]
    manifest = Store.from_env().get_json(DATA_BUCKET, f"{uri.split('/', 3)[3]}/{MANIFEST}")
    assert manifest["sha256"] == tree_sha256(local) and len(manifest["files"]) == 6
    assert main(["data", "push", str(tmp_path / "absent"), uri]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_store_streams_and_lists(s3_env) -> None:
    store = Store.from_env()
    store.ensure_bucket(DATA_BUCKET)  # exists already: idempotent
    a = unique_prefix().split("/", 3)[3]
    store.put_bytes(DATA_BUCKET, f"{a}/b.bin", b"x" * 10)
    store.client.put_object(DATA_BUCKET, f"{a}/c/d.bin", io.BytesIO(b"yy"), 2)
    listed = [(o.key, o.size) for o in store.list(DATA_BUCKET, f"{a}/")]
    assert listed == [(f"{a}/b.bin", 10), (f"{a}/c/d.bin", 2)]
    assert [o.key for o in store.list(DATA_BUCKET, f"{a}/", recursive=False)] == [f"{a}/b.bin", f"{a}/c/"]
    assert store.exists(DATA_BUCKET, f"{a}/b.bin") and not store.exists(DATA_BUCKET, f"{a}/zz")


def test_push_refuses_what_validate_refuses_and_checks_name_the_s3_path(s3_env, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    """A dataset training would refuse is not pushed (unless --skip-validation); read back, errors name s3 keys."""
    from PIL import Image

    from personseg.steps.ingest import check_dataset

    local = make_dataset(tmp_path / "ds", count=3)
    Image.new("RGB", (24, 24)).save(local / "images" / "unlabelled.png")
    uri = unique_prefix()
    assert main(["data", "push", str(local), uri]) == 2
    err = capsys.readouterr().err
    assert f"{local / 'images' / 'unlabelled.png'}: no mask" in err and "--skip-validation" in err
    assert Store.from_env().list(DATA_BUCKET, uri.split("/", 3)[3]) == []  # nothing uploaded
    assert main(["data", "validate", str(local)]) == 2
    assert main(["data", "push", "--skip-validation", str(local), uri]) == 0
    capsys.readouterr()
    with pytest.raises(UserError) as refused:
        check_dataset("dataset_uri", uri, 64)
    message = str(refused.value)
    assert message.startswith(f"dataset_uri '{uri}': dataset {uri}: 1 problem(s): {uri}/images/unlabelled.png: "
                              f"no mask (expected {uri}/masks/unlabelled.png)")
    assert str(tmp_path / "cache") not in message  # the user's prefix, not the local copy it was read from
