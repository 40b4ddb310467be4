"""The container target for real: the serving image on this machine's engine (Docker, else podman).

The image is built from this checkout (tests/serving_image_fixtures.py); models are published to a real
S3 server (``weed mini``) and each container pulls its version from it at start, as a pod does. Deploy
v1 and segment a picture through it; a v2 whose server answers blank masks fails the smoke test and is
rolled back while v1 keeps serving; a v3 whose container is stopped under load just before the smoke
test, and a v4 stopped just after it, are rolled back too; ``--stop`` leaves no container. The served
container runs as 1000:1000 without torch.
Slow (the image build); run by ``make test-images``. Two things are arranged by the test: v2's container
is started with a blank model's reference instead of v2's (as an image whose preprocessing changed would
answer), and the stops of v3 and v4 are timed by wrapping the smoke test (which still runs for real);
everything else is real.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from containers_fixtures import run_to_exit
from deploy_fixtures import tiny_onnx_model
from serving_fixtures import decode_png, encode, split_image
from serving_image_fixtures import serving_image_built  # noqa: F401

from personseg.cli import main
from personseg.containers.engine import connect
from personseg.deploy.config import DeployConfig
from personseg.deploy.container_spec import LABEL_DEPLOYMENT
from personseg.deploy.outcome import DeployFailed
from personseg.deploy.step import run

storage_fixtures = pytest.importorskip("storage_fixtures", reason="tests/storage_fixtures.py (weed fixture) absent")
s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env
publish = storage_fixtures.publish

pytestmark = pytest.mark.slow
NAME = "ctr-test"


def ready(url: str) -> int:
    with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=5) as resp:
        return resp.status


def segment(url: str, picture: np.ndarray) -> tuple[int, bytes]:
    req = urllib.request.Request(f"{url}/v1/segment?output=mask", data=encode(picture, "PNG"), method="POST",
                                 headers={"Content-Type": "image/png"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError as exc:
        return 0, str(exc).encode()


def ours(engine) -> list:
    """Every container (running or not) of the test's deployment."""
    return engine.client.containers.list(all=True, filters={"label": f"{LABEL_DEPLOYMENT}={NAME}"})


class Load:
    """Threads POSTing pictures to ``url`` until stopped; counts answers by status."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.url, self.statuses, self._stop = url, [], threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def _loop(self) -> None:
        picture = split_image(320, 240)
        while not self._stop.is_set():
            self.statuses.append(segment(self.url, picture)[0])

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def stop_under_load(container, seconds: float = 0.3) -> None:
    """Put ``container``'s server under load, then stop it (SIGTERM, as ``docker stop``) while the load runs."""
    url = f"http://127.0.0.1:{container.name.rsplit('-', 1)[1]}"
    with Load(url):
        time.sleep(seconds)
        stopping = threading.Thread(target=container.stop, kwargs={"timeout": 10})
        stopping.start()
        time.sleep(seconds)
    stopping.join(timeout=60)


def test_container_deploy_serves_rolls_back_and_stops(serving_image_built, s3_env, tmp_path: Path,  # noqa: F811
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    import personseg.deploy.container as container_target
    from personseg.storage.client import Store
    from personseg.storage.registry import Registry
    from personseg.storage.transfer import upload_tree

    registry = Registry.from_env()
    name = storage_fixtures.unique_name()
    state = tmp_path / "state"
    v1 = publish(registry, tiny_onnx_model(tmp_path / "v1"), name=name)
    registry.promote(name, v1, "candidate")
    try:
        # v1: the container pulls models:/NAME:1 from S3, passes the smoke test, serves a request.
        assert main(["deploy", "--target", "container", "--name", NAME, "--model", f"models:/{name}@candidate",
                     "--state-dir", str(state), "--timeout", "240"]) == 0
        one = json.loads(capsys.readouterr().out)
        assert one["status"] == "deployed" and one["pinned_model"] == f"models:/{name}:{v1}"
        assert one["smoke"]["iou"] == 1.0 and one["endpoint"].startswith("http://127.0.0.1:")
        assert registry.stage(name, "production") == v1 and registry.status(name, v1)["status"] == "deployed"
        status, body = segment(one["endpoint"], split_image(100, 60))
        assert status == 200 and decode_png(body).size == (100, 60)
        recorded = json.loads((state / f"container-{NAME}.json").read_text())
        assert recorded["container"] == one["container"] and recorded["model"] == f"models:/{name}:{v1}"

        with connect() as engine:
            served = engine.client.containers.get(one["container"])
            assert served.attrs["Config"]["User"] == "1000:1000"
            assert served.attrs["HostConfig"]["NetworkMode"] == "host"
            assert served.attrs["HostConfig"]["ReadonlyRootfs"] is True
            # the server's process, seen from this machine (no exec: podman 4.3 leaves an exec session's conmon behind)
            status = Path(f"/proc/{served.attrs['State']['Pid']}/status").read_text().splitlines()
            assert [line.split()[1:] for line in status if line.startswith(("Uid:", "Gid:"))] == [["1000"] * 4] * 2
            code, output = run_to_exit(engine.client, serving_image_built, ["-c", "import torch"], 120,
                                       entrypoint=["python"], user="1000:1000", labels={LABEL_DEPLOYMENT: NAME})
            assert code == 1 and b"No module named 'torch'" in output
            size = engine.client.images.get(serving_image_built).attrs["Size"]
        with capsys.disabled():
            print(f"\ncontainer deploy ({engine.kind}): serving image {size / 1e6:.0f} MB; cold start (start to ready, "
                  f"model pulled from S3) {one['ready_seconds']:.2f} s; first request (smoke probe 160x240) "
                  f"{one['smoke']['seconds'] * 1000:.0f} ms")

        # v2: its server answers blank masks; the smoke test fails, v1 keeps serving and stays production.
        v2 = publish(registry, tiny_onnx_model(tmp_path / "v2"), name=name)
        registry.promote(name, v2, "candidate")
        # (the registry refuses a model that finds no person in the probe: its files go to a plain S3 prefix)
        blank_dir = tiny_onnx_model(tmp_path / "blank", bias=-10.0)
        prefix = f"blank-{name}"
        upload_tree(Store.from_env(), storage_fixtures.DATA_BUCKET, prefix, blank_dir,
                    sorted(str(p.relative_to(blank_dir)) for p in blank_dir.rglob("*") if p.is_file()))
        real_options = container_target.run_options

        def blank_server(cfg, model_uri, port):
            options = real_options(cfg, f"s3://{storage_fixtures.DATA_BUCKET}/{prefix}/", port)
            options["environment"].pop("PERSONSEG_CARD_SHA256", None)  # with it the server refuses other files
            return options

        monkeypatch.setattr(container_target, "run_options", blank_server)
        with Load(one["endpoint"]) as load, pytest.raises(DeployFailed) as info:
            run(DeployConfig(model=f"models:/{name}@candidate", target="container", name=NAME, timeout=240),
                state_dir=state)
        monkeypatch.setattr(container_target, "run_options", real_options)
        message = str(info.value)
        assert "IoU 0.000 < 0.9" in message and info.value.rolled_back
        assert f"previous deployment keeps serving models:/{name}:{v1}" in message
        assert load.statuses and set(load.statuses) == {200}, "v1 answered every request during the failed deploy"
        assert registry.stage(name, "production") == v1 and registry.status(name, v2)["status"] == "rolled-back"
        assert ready(one["endpoint"]) == 200
        with connect() as engine:
            assert [c.id for c in ours(engine)] == [one["container"]], "the failed container is removed"

        # v3 and v4: the new container is stopped under load just before the smoke test (which then fails)
        # and just after it (the deploy sees it no longer serves); v1 keeps serving both times.
        real_smoke = container_target.run_smoke
        for when, expected in (("before", "smoke test: POST"), ("after", "after the smoke test")):
            version = publish(registry, tiny_onnx_model(tmp_path / when), name=name)
            registry.promote(name, version, "candidate")

            def sabotaged(post, mask, when=when):
                with connect() as engine:
                    (new,) = [c for c in ours(engine) if c.id != one["container"]]
                    if when == "before":
                        stop_under_load(new)
                        return real_smoke(post, mask)
                    result = real_smoke(post, mask)
                    stop_under_load(new)
                    return result

            monkeypatch.setattr(container_target, "run_smoke", sabotaged)
            with Load(one["endpoint"]) as load, pytest.raises(DeployFailed) as info:
                run(DeployConfig(model=f"models:/{name}@candidate", target="container", name=NAME, timeout=240),
                    state_dir=state)
            monkeypatch.setattr(container_target, "run_smoke", real_smoke)
            message = str(info.value)
            assert expected in message and info.value.rolled_back, message
            assert f"previous deployment keeps serving models:/{name}:{v1}" in message
            assert load.statuses and set(load.statuses) == {200}, "v1 answered every request during the deploy"
            assert registry.stage(name, "production") == v1
            assert registry.status(name, version)["status"] == "rolled-back"
            assert json.loads((state / f"container-{NAME}.json").read_text())["container"] == one["container"]
            assert ready(one["endpoint"]) == 200
            with connect() as engine:
                assert [c.id for c in ours(engine)] == [one["container"]]

        # --stop: no container left, the record gone; a second --stop says nothing runs.
        assert main(["deploy", "--target", "container", "--stop", "--name", NAME, "--state-dir", str(state)]) == 0
        assert f"stopped {NAME}: container " in capsys.readouterr().out
        with connect() as engine:
            assert ours(engine) == []
        assert not (state / f"container-{NAME}.json").exists()
        assert main(["deploy", "--target", "container", "--stop", "--name", NAME, "--state-dir", str(state)]) == 2
        assert "no container deployment 'ctr-test' is running" in capsys.readouterr().err
    finally:
        with connect() as engine:
            for left in ours(engine):
                left.remove(force=True)
