"""``personseg pipeline upload`` against the KFP API stand-in (tests/kfp_fixtures.py), and the spec hash.

What the real API server does that the stand-in does not is listed in kfp_fixtures' docstring; the
one that matters here, re-serialized specs, the stand-in imitates, so these tests also show that
idempotency does not depend on reading a spec back from the server.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from personseg import __version__
from personseg.cli import main
from personseg.errors import UserError

if TYPE_CHECKING:
    from kfp_fixtures import StubKfp

pytest_plugins = ("kfp_fixtures",)  # the stand-in and compiled-package fixtures


def _upload(host: str, package: Path, *extra: str) -> int:
    return main(["pipeline", "upload", "--host", host, "--package", str(package), *extra])


def test_upload_is_idempotent_by_spec(stub: tuple[str, StubKfp], packages, capsys) -> None:
    from personseg_kfp.spec_id import load_package

    host, state = stub
    assert _upload(host, packages["a"]) == 0
    first = capsys.readouterr().out
    (pipe,) = state.pipelines
    (version,) = state.versions
    assert pipe["display_name"] == "person-segmentation"  # what the UI lists under Pipelines
    assert pipe["description"].startswith("Train a person-segmentation U-Net")
    sha = load_package(packages["a"]).sha256
    assert version["display_name"] == f"{__version__}-{sha[:12]}"
    assert version["pipeline_version_id"] in first and "created" in first

    for same in (packages["a"], packages["a_same"]):  # again, and as another kfp would write it
        assert _upload(host, same) == 0
        out = capsys.readouterr().out
        assert "unchanged" in out and version["pipeline_version_id"] in out
    assert len(state.pipelines) == 1 and len(state.versions) == 1
    assert state.count("POST", "/pipelines/upload_version") == 1 and state.count("POST", "/pipelines") == 1


def test_a_changed_spec_is_a_new_version(stub: tuple[str, StubKfp], packages, capsys) -> None:
    host, state = stub
    assert _upload(host, packages["a"]) == 0
    assert _upload(host, packages["b"]) == 0
    assert "uploaded" in capsys.readouterr().out
    (pipe,) = state.pipelines
    assert [v["pipeline_id"] for v in state.versions] == [pipe["pipeline_id"]] * 2
    va, vb = state.versions
    assert va["display_name"] != vb["display_name"]
    keys = vb["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert keys["exec-deploy"]["secretAsEnv"][0]["keyToEnv"][0]["secretKey"] == "AWS_ACCESS_KEY_ID"

    state.page_cap = 1  # the known spec is on the server's second page now
    assert _upload(host, packages["b"]) == 0 and _upload(host, packages["a"]) == 0
    assert len(state.versions) == 2


def test_version_names_and_pipeline_names(stub: tuple[str, StubKfp], packages, capsys) -> None:
    host, state = stub
    assert _upload(host, packages["a"], "--version", "v1", "--name", "seg-team") == 0
    assert [p["display_name"] for p in state.pipelines] == ["seg-team"]
    assert [v["display_name"] for v in state.versions] == ["v1"]
    assert _upload(host, packages["a"], "--version", "v2", "--name", "seg-team") == 0  # same spec: found as v1
    assert "unchanged version v1" in capsys.readouterr().out
    assert _upload(host, packages["b"], "--version", "v1", "--name", "seg-team") == 2  # v1 holds another spec
    err = capsys.readouterr().err
    assert "--version v1" in err and len(err.splitlines()) == 1
    assert len(state.versions) == 1


def test_server_refusal_of_the_upload_is_one_line(stub: tuple[str, StubKfp], packages, capsys) -> None:
    host, state = stub
    state.fail[f"POST {state.API}/pipelines/upload_version"] = (
        500, {"error_message": "Failed to create a pipeline version:\n  template is broken", "error_details": "x"})
    assert _upload(host, packages["a"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and host in err
    assert "HTTP 500" in err and "Failed to create a pipeline version: template is broken" in err


def test_spec_hash_ignores_layout_and_sdk_version_only(packages, tmp_path: Path) -> None:
    from personseg_kfp.spec_id import load_package

    a, b, same = (load_package(packages[k]) for k in ("a", "b", "a_same"))
    assert a.sha256 == same.sha256 and a.sha256 != b.sha256
    text = packages["a"].read_text()
    edited = tmp_path / "edited.yaml"
    edited.write_text(text.replace("defaultValue: 15.0", "defaultValue: 16.0", 1))  # epochs default
    assert "defaultValue: 16.0" in edited.read_text() and load_package(edited).sha256 != a.sha256
    with pytest.raises(UserError, match="not a compiled KFP pipeline"):
        (tmp_path / "x.yaml").write_text("a: 1\n")
        load_package(tmp_path / "x.yaml")
