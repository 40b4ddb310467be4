"""The container target without an engine: what the container is, and what is refused before one starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from personseg.cli import main
from personseg.deploy.config import DeployConfig
from personseg.deploy.container_spec import memory_bytes, run_options, server_environment
from personseg.deploy.step import run
from personseg.errors import UserError


def test_the_container_is_hardened_like_the_pod_and_binds_loopback_only() -> None:
    cfg = DeployConfig(model="models:/m:3", target="container", name="shop", cpu_limit="1500m",
                       card_sha256="ab" * 32)
    options = run_options(cfg, "models:/m:3", 18080)
    assert options["user"] == "1000:1000" and options["network_mode"] == "host" and options["read_only"] is True
    assert options["cap_drop"] == ["ALL"] and options["security_opt"] == ["no-new-privileges"]
    assert options["mem_limit"] == 1536 * 2**20 and options["nano_cpus"] == 1_500_000_000
    assert options["name"] == "personseg-shop-18080" and options["labels"]["personseg.io/deployment"] == "shop"
    env = options["environment"]
    assert env["PERSONSEG_HOST"] == "127.0.0.1" and env["PORT"] == "18080"
    assert env["PERSONSEG_MODEL_URI"] == "models:/m:3" and env["PERSONSEG_CARD_SHA256"] == "ab" * 32
    assert env["PERSONSEG_THREADS"] == "1"
    assert set(options["tmpfs"]) == {"/tmp", env["PERSONSEG_CACHE"]}


def test_storage_credentials_come_from_the_environment_only() -> None:
    cfg = DeployConfig(model="models:/m:1", target="container")
    none = server_environment(cfg, "models:/m:1", 1, env={"HOME": "/root", "PERSONSEG_S3_TIMEOUT": "2"})
    assert not [k for k in none if k.startswith(("MINIO_", "AWS_"))] and "HOME" not in none
    given = server_environment(cfg, "models:/m:1", 1, env={"MINIO_ENDPOINT": "127.0.0.1:9000",
                                                           "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s",
                                                           "MINIO_SECURE": "false", "MINIO_REGION": ""})
    assert {k: v for k, v in given.items() if k.startswith(("MINIO_", "AWS_"))} == {
        "MINIO_ENDPOINT": "127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s",
        "MINIO_SECURE": "false"}


@pytest.mark.parametrize(("quantity", "expected"), [("1536Mi", 1536 * 2**20), ("2Gi", 2 * 2**30), ("512M", 512e6),
                                                    ("1000", 1000)])
def test_memory_quantities(quantity: str, expected: float) -> None:
    assert memory_bytes(quantity) == expected


def test_a_bad_memory_quantity_names_itself() -> None:
    with pytest.raises(UserError, match="'1.5Gi'"):
        memory_bytes("1.5Gi")


def test_a_local_path_is_refused_before_any_container_starts(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="pulls its model from the registry at start"):
        run(DeployConfig(model=str(tmp_path), target="container"), state_dir=tmp_path / "state")
    assert not (tmp_path / "state").exists()


def test_stop_without_a_record_says_where_it_looked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["deploy", "--target", "container", "--stop", "--name", "shop", "--state-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no container deployment 'shop' is running" in err and "container-shop.json" in err


def test_dry_run_has_nothing_to_print_for_the_container_target(capsys: pytest.CaptureFixture) -> None:
    assert main(["deploy", "--target", "container", "--model", "models:/m@candidate", "--dry-run"]) == 2
    assert "container target has none" in capsys.readouterr().err
