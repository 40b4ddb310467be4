"""Storage pieces that need no server: env parsing, URIs, references, cache locking, card parts, gc ages."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from pathlib import Path

import pytest

from personseg.errors import UserError
from personseg.hashing import tree_sha256
from personseg.storage.cache import cached_tree, file_lock
from personseg.storage.config import RetryPolicy, S3Config, model_bucket
from personseg.storage.errors import ConfigError
from personseg.storage.gc import age_text, parse_age
from personseg.storage.refs import ModelRef, parse_ref
from personseg.storage.s3uri import parse_s3_uri
from personseg.storage.weed import weed_binary

KEYS = {"MINIO_ACCESS_KEY": "AKIDEXAMPLE", "MINIO_SECRET_KEY": "s3cr3t-value-never-shown"}


@pytest.mark.parametrize(
    ("env", "endpoint", "secure"),
    [
        ({"MINIO_ENDPOINT": "minio-service.kubeflow:9000", "MINIO_SECURE": "false"}, "minio-service.kubeflow:9000",
         False),
        ({"MINIO_ENDPOINT": "http://127.0.0.1:8333"}, "127.0.0.1:8333", False),
        ({"MINIO_ENDPOINT": "https://s3.example.org/"}, "s3.example.org", True),
        ({"AWS_ENDPOINT_URL": "http://seaweedfs.kubeflow:8333"}, "seaweedfs.kubeflow:8333", False),
        ({"MINIO_ENDPOINT": "store:9000"}, "store:9000", True),
    ],
)
def test_config_reads_endpoint_and_tls(env: dict, endpoint: str, secure: bool) -> None:
    cfg = S3Config.from_env({**env, **KEYS})
    assert (cfg.endpoint, cfg.secure) == (endpoint, secure)
    assert cfg.access_key == "AKIDEXAMPLE"
    assert "s3cr3t" not in repr(cfg) and "AKIDEXAMPLE" not in repr(cfg)


def test_config_aws_names_and_minio_precedence() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://aws:1", "AWS_ACCESS_KEY_ID": "A1", "AWS_SECRET_ACCESS_KEY": "S1",
        "MINIO_ENDPOINT": "http://minio:2",
    }
    cfg = S3Config.from_env(env)
    assert (cfg.endpoint, cfg.access_key, cfg.secret_key) == ("minio:2", "A1", "S1")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "no S3 endpoint"),
        ({"MINIO_ENDPOINT": "http://h:1", "MINIO_ACCESS_KEY": "a"}, "MINIO_SECRET_KEY"),
        ({"MINIO_ENDPOINT": "ftp://h:1", **KEYS}, "scheme 'ftp'"),
        ({"MINIO_ENDPOINT": "http://h:1/bucket", **KEYS}, "no path"),
        ({"MINIO_ENDPOINT": "h:notaport", **KEYS}, "port 'notaport'"),
        ({"MINIO_ENDPOINT": "http://h:1", "MINIO_SECURE": "true", **KEYS}, "says http but MINIO_SECURE"),
        ({"MINIO_ENDPOINT": "h:1", "MINIO_SECURE": "maybe", **KEYS}, "MINIO_SECURE='maybe'"),
    ],
)
def test_config_errors_name_the_variable(env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        S3Config.from_env(env)


def test_config_never_echoes_credentials_in_endpoint() -> None:
    with pytest.raises(ConfigError) as err:
        S3Config.from_env({"MINIO_ENDPOINT": "http://user:hunter2@h:1", **KEYS})
    assert "hunter2" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        S3Config.from_env({"MINIO_ENDPOINT": "user:hunter2@h:1", **KEYS})
    assert "hunter2" not in str(err.value)


def test_model_bucket_default_env_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERSONSEG_MODEL_BUCKET", raising=False)
    assert model_bucket() == "models"
    monkeypatch.setenv("PERSONSEG_MODEL_BUCKET", "team-models")
    assert model_bucket() == "team-models"
    assert model_bucket("other") == "other"
    monkeypatch.setenv("PERSONSEG_MODEL_BUCKET", "Bad_Bucket")
    with pytest.raises(ConfigError, match="PERSONSEG_MODEL_BUCKET 'Bad_Bucket'"):
        model_bucket()


def test_retry_policy_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONSEG_S3_RETRIES", "1")
    monkeypatch.setenv("PERSONSEG_S3_BACKOFF", "0.25")
    policy = RetryPolicy.from_env()
    assert (policy.retries, policy.backoff) == (1, 0.25)
    assert [policy.sleep_for(i) for i in range(3)] == [0.25, 0.5, 1.0]
    assert RetryPolicy(backoff=1.0).sleep_for(10) == 8.0
    monkeypatch.setenv("PERSONSEG_S3_RETRIES", "many")
    with pytest.raises(ConfigError, match="PERSONSEG_S3_RETRIES='many'"):
        RetryPolicy.from_env()


def test_s3_uri_parsing() -> None:
    uri = parse_s3_uri("s3://data/sets/tiny/")
    assert (uri.bucket, uri.key, uri.prefix, uri.child("images/a.png")) == (
        "data", "sets/tiny", "sets/tiny/", "sets/tiny/images/a.png"
    )
    assert str(parse_s3_uri("s3://data")) == "s3://data" and parse_s3_uri("s3://data").prefix == ""
    for bad in ("http://x/y", "s3://B/x", "s3://ok/a/../b", "s3://"):
        with pytest.raises(UserError):
            parse_s3_uri(bad)


def test_model_refs() -> None:
    assert parse_ref("models:/seg@production") == ModelRef("seg", stage="production")
    assert parse_ref("seg:3") == ModelRef("seg", version=3)
    assert parse_ref("models:/seg") == ModelRef("seg")
    assert str(parse_ref("seg:3")) == "models:/seg:3"
    for bad, message in (("seg@live", "stage 'live'"), ("seg:x", "version 'x'"), ("Seg", "model name"), ("12", "name")):
        with pytest.raises(UserError, match=message):
            parse_ref(bad)


def test_cache_fills_once_under_concurrency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight threads ask for the same key: one fills (slowly), all get the same complete dir."""
    monkeypatch.setenv("PERSONSEG_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "x.txt").write_text("hello")
    key = tree_sha256(src)
    calls = []

    def fill(tmp: Path) -> None:
        calls.append(1)
        time.sleep(0.2)
        (tmp / "a").mkdir()
        (tmp / "a" / "x.txt").write_text("hello")

    results: list[tuple[Path, bool]] = []
    threads = [threading.Thread(target=lambda: results.append(cached_tree("t", key, fill))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len({p for p, _ in results}) == 1 and sum(filled for _, filled in results) == 1
    assert (results[0][0] / "a" / "x.txt").read_text() == "hello"


def test_cache_rejects_a_fill_with_the_wrong_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONSEG_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError, match="hashes to"):
        cached_tree("t", "0" * 64, lambda tmp: (tmp / "f").write_text("not matching"))
    assert not (tmp_path / "cache" / "t").exists()  # nothing left, not even the folder the failed fill made


def test_file_lock_excludes(tmp_path: Path) -> None:
    order: list[str] = []

    def hold() -> None:
        with file_lock(tmp_path / "l.lock"):
            order.append("a-in")
            time.sleep(0.2)
            order.append("a-out")

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(0.05)
    with file_lock(tmp_path / "l.lock"):
        order.append("b-in")
    t.join()
    assert order == ["a-in", "a-out", "b-in"]


def test_weed_binary_found_and_overridable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERSONSEG_WEED", raising=False)
    assert weed_binary().name == "weed"
    monkeypatch.setenv("PERSONSEG_WEED", str(tmp_path / "nope"))
    with pytest.raises(UserError, match="PERSONSEG_WEED"):
        weed_binary()


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0), ("45", 45), ("90s", 90), ("30m", 1800), ("1h", 3600), (" 2d ", 172800)]
)
def test_gc_ages_parse(text: str, seconds: int) -> None:
    assert parse_age(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1x", "-1h", "1.5h", "1 hour", "h"])
def test_gc_ages_refuse_what_they_cannot_read(text: str) -> None:
    with pytest.raises(UserError, match=re.escape(f"--older-than {text!r}: use a whole number")):
        parse_age(text)


def test_gc_age_text_rounds_down_to_the_largest_unit() -> None:
    ages = [age_text(dt.timedelta(seconds=s)) for s in (-3, 0, 59, 61, 7300, 90000)]
    assert ages == ["0s", "0s", "59s", "1m", "2h", "1d"]
