"""The container target's bookkeeping against a real engine, with a tiny image (no serving image needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from containers_fixtures import TINY_IMAGE, engine, import_tiny_image  # noqa: F401

from personseg.containers.exits import wait_for_exit
from personseg.deploy.container import start_container, state_file, stop_container
from personseg.deploy.container_spec import LABEL_DEPLOYMENT
from personseg.deploy.outcome import DeployFailed


@pytest.fixture(scope="module")
def tiny(engine):  # noqa: F811
    image_id = import_tiny_image(engine.client)
    yield engine
    for left in engine.client.containers.list(all=True, filters={"label": f"{LABEL_DEPLOYMENT}=tiny"}):
        left.remove(force=True)
    engine.client.images.remove(image_id, force=True)


def test_stop_removes_a_recorded_container_that_exited_and_forgets_it(tiny, tmp_path: Path) -> None:
    exited = tiny.client.containers.run(TINY_IMAGE, ["/bin/sh", "-c", "exit 3"], detach=True, user="1000:1000",
                                        labels={LABEL_DEPLOYMENT: "tiny"})
    assert wait_for_exit(exited, timeout=60) == 3
    state_file(tmp_path, "tiny").write_text(json.dumps({"container": exited.id, "name": exited.name, "port": 1,
                                                        "model": "models:/m:1", "url": "http://127.0.0.1:1"}))
    assert stop_container(tmp_path, "tiny") is None, "it was not running"
    assert tiny.client.containers.list(all=True, filters={"id": exited.id}) == []
    assert not state_file(tmp_path, "tiny").exists() and (tmp_path / "container-tiny-1.log").is_file()


def test_a_container_the_engine_cannot_start_is_not_left_behind(tiny) -> None:
    options = {"image": TINY_IMAGE, "name": "personseg-tiny-1", "command": ["/bin/sleep", "60"], "detach": True,
               "user": "no-such-user", "labels": {LABEL_DEPLOYMENT: "tiny"}}
    with pytest.raises(DeployFailed, match="did not start container personseg-tiny-1") as info:
        start_container(tiny, options)
    assert not info.value.rolled_back
    assert tiny.client.containers.list(all=True, filters={"label": f"{LABEL_DEPLOYMENT}=tiny"}) == []
