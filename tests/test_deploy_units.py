"""Pure functions of personseg.deploy: config checks, rollout judgement, pod diagnosis, smoke checks."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import numpy as np
import pytest
from deploy_fixtures import tiny_onnx_model
from PIL import Image

from personseg.deploy.config import DeployConfig, cpu_cores
from personseg.deploy.expected_mask import NoExpectedMask, expected_from_card
from personseg.deploy.objects import TEMPLATE_HASH, deployment
from personseg.deploy.rollout import RolloutFailed, deployment_progress, inference_service_progress, pod_problems
from personseg.deploy.smoke import MIN_IOU, SMOKE_SIZE, SmokeFailed, iou, person_image, read_mask, run_smoke
from personseg.errors import UserError
from personseg.serving.smoke_probe import PROBE, card_entry, decode_mask, encode_mask, offline_mask


def png(size: tuple[int, int], mode: str = "L") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG")
    return out.getvalue()


def mask_png(mask: np.ndarray) -> bytes:
    """A boolean mask as the server sends it: an 8-bit greyscale PNG, 255 = person."""
    out = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(out, format="PNG")
    return out.getvalue()


def figure() -> np.ndarray:
    """A non-empty expected mask at the probe's size (rows 40..199, columns 40..119)."""
    mask = np.zeros(SMOKE_SIZE[::-1], dtype=bool)
    mask[40:200, 40:120] = True
    return mask


def answer(mask: np.ndarray):
    return lambda path, body, ctype: (200, "image/png", mask_png(mask))


@pytest.mark.parametrize(("quantity", "cores"), [("2", 2.0), ("1.5", 1.5), ("500m", 0.5), ("4000m", 4.0)])
def test_cpu_quantities(quantity: str, cores: float):
    assert cpu_cores(quantity) == cores


def test_threads_follow_the_cpu_limit_and_bad_values_name_the_field():
    assert DeployConfig(model="s3://b/m/1/", cpu_limit="1500m").threads == 1
    assert DeployConfig(model="s3://b/m/1/", cpu_limit="4").threads == 4
    assert DeployConfig(model="s3://b/m/1/", cpu_limit="250m").threads == 1
    with pytest.raises(UserError, match="CPU quantity '2 cores'"):
        DeployConfig(model="s3://b/m/1/", cpu_limit="2 cores")
    with pytest.raises(UserError, match="--target 'helm'"):
        DeployConfig(model="s3://b/m/1/", target="helm")
    with pytest.raises(UserError, match=r"min \(3\) <= max \(2\)"):
        DeployConfig(model="s3://b/m/1/", min_replicas=3, max_replicas=2)


def test_template_hash_is_stable_and_changes_with_the_model():
    cfg = DeployConfig(model="s3://b/m/1/")
    one = deployment(cfg, "models:/m:1")["spec"]["template"]["metadata"]["annotations"][TEMPLATE_HASH]
    again = deployment(cfg, "models:/m:1")["spec"]["template"]["metadata"]["annotations"][TEMPLATE_HASH]
    two = deployment(cfg, "models:/m:2")["spec"]["template"]["metadata"]["annotations"][TEMPLATE_HASH]
    assert one == again != two


def dep(generation: int, **status) -> dict:
    return {"metadata": {"generation": generation}, "spec": {"replicas": 2}, "status": status}


def test_deployment_progress_follows_kubectl_rollout_status():
    assert deployment_progress(dep(2, observedGeneration=1), 2)[0] is False
    assert "has not seen generation 2" in deployment_progress(dep(2, observedGeneration=1), 2)[1]
    mid = dep(2, observedGeneration=2, replicas=3, updatedReplicas=2, availableReplicas=2)
    assert deployment_progress(mid, 2) == (False, "2/2 replicas updated, 2 available, 1 old still running")
    done = dep(2, observedGeneration=2, replicas=2, updatedReplicas=2, availableReplicas=2)
    assert deployment_progress(done, 2)[0] is True
    stuck = dep(2, observedGeneration=2, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "RS timed out"}])
    with pytest.raises(RolloutFailed, match="progress deadline: RS timed out"):
        deployment_progress(stuck, 2)


def test_inference_service_progress_judges_the_predictor_deployment_then_ready():
    # KServe (pkg/apis/serving/v1beta1/inference_service_status.go PropagateRawStatus, v0.13.0-v0.20.0)
    # copies the predictor Deployment's observedGeneration into the InferenceService and keeps Ready
    # True while old pods are Available: neither says whether the new version rolled out.
    container = {"name": "kserve-container", "image": "img:2", "env": [{"name": "STORAGE_URI", "value": "s3://m/2/"}]}
    isvc = {"metadata": {"name": "seg", "generation": 5},
            "spec": {"predictor": {"containers": [container]}},
            "status": {"observedGeneration": 7, "conditions": [{"type": "Ready", "status": "True"}]}}
    rolled = {"metadata": {"generation": 3}, "spec": {"replicas": 2, "template": {"spec": {"containers": [container]}}},
              "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}}
    assert inference_service_progress(isvc, None) == (False, "KServe has not created deployment/seg-predictor yet")
    assert inference_service_progress(isvc, rolled) == (True, "2/2 replicas updated, 2 available, "
                                                              "0 old still running, Ready=True")
    stale = copy.deepcopy(rolled)
    stale["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "s3://m/1/"
    assert "has not written the new model container" in inference_service_progress(isvc, stale)[1]
    unseen = copy.deepcopy(rolled)
    unseen["metadata"]["generation"] = 4
    assert inference_service_progress(isvc, unseen) == (
        False, "deployment/seg-predictor: controller has not seen generation 4 yet (observed 3)")
    rolling = copy.deepcopy(rolled)
    rolling["status"].update(replicas=3, updatedReplicas=1, availableReplicas=2)
    assert inference_service_progress(isvc, rolling)[0] is False
    isvc["status"]["conditions"][0] = {"type": "Ready", "status": "False", "reason": "PredictorNotReady"}
    assert inference_service_progress(isvc, rolled) == (False, "Ready=False PredictorNotReady")


def pod(name: str, waiting: str | None, template: str = "abc", ready: bool = False) -> dict:
    state = {"waiting": {"reason": waiting, "message": "details"}} if waiting else {"running": {}}
    return {"metadata": {"name": name, "annotations": {TEMPLATE_HASH: template}},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "server", "image": "img:1", "ready": ready, "state": state, "restartCount": 2}]}}


def test_pod_problems_separates_fatal_from_waiting_and_ignores_old_pods():
    pods = [pod("new-a", "ErrImagePull"), pod("new-b", "ContainerCreating"), pod("new-c", None),
            pod("old", "CrashLoopBackOff", template="old"), pod("new-d", "CreateContainerConfigError")]
    fatal, states = pod_problems(pods, "abc")
    assert [f.split()[1] for f in fatal] == ["new-a", "new-d"]
    assert "image pull failed (ErrImagePull: details) image img:1" in fatal[0]
    assert "missing Secret" in fatal[1]
    assert states == ["pod new-b container server: waiting (ContainerCreating)",
                      "pod new-c container server: running, not ready (restarts 2)"]
    assert len(pod_problems(pods, None)[0]) == 3


def test_person_image_is_a_figure_on_a_background():
    img = Image.open(io.BytesIO(person_image())).convert("RGB")
    assert img.size == SMOKE_SIZE
    w, h = img.size
    assert img.getpixel((w // 2, h // 2)) == (200, 40, 50)  # the shirt, in the middle
    assert img.getpixel((2, h // 2)) != img.getpixel((w // 2, h // 2))


def test_read_mask_rejects_what_a_broken_server_returns():
    assert read_mask(png(SMOKE_SIZE), "image/png", SMOKE_SIZE).shape == (240, 160)
    with pytest.raises(SmokeFailed, match="not a PNG"):
        read_mask(b'{"error": "boom"}', "application/json", SMOKE_SIZE)
    with pytest.raises(SmokeFailed, match="mask is 64x64, input was 160x240"):
        read_mask(png((64, 64)), "image/png", SMOKE_SIZE)
    with pytest.raises(SmokeFailed, match="mode RGB"):
        read_mask(png(SMOKE_SIZE, "RGB"), "image/png", SMOKE_SIZE)
    with pytest.raises(SmokeFailed, match="does not decode"):
        read_mask(png(SMOKE_SIZE)[:60], "image/png", SMOKE_SIZE)


def test_a_blank_mask_fails_the_smoke_test_when_a_person_is_expected():
    blank = np.zeros_like(figure())
    with pytest.raises(SmokeFailed, match=r"IoU 0\.000 < 0\.9 \(person pixels: served 0\.000, expected 0\.333\)"):
        run_smoke(answer(blank), figure())


def test_two_empty_masks_fail_the_smoke_test():
    """IoU calls two empty masks equal; an empty expected mask would let a blank server pass."""
    blank = np.zeros_like(figure())
    with pytest.raises(SmokeFailed, match="expected mask of the probe is empty"):
        run_smoke(answer(blank), blank)


def test_publish_refuses_a_model_whose_probe_mask_is_empty(tmp_path: Path):
    blank = tiny_onnx_model(tmp_path / "blank", bias=-10.0)
    with pytest.raises(UserError, match="finds no person in the smoke probe image.*not published"):
        card_entry(blank)
    empty = {"smoke": {"probe": PROBE, "mask_png_b64": encode_mask(np.zeros((240, 160), bool))}}
    with pytest.raises(NoExpectedMask, match="models:/m:1: the expected mask is empty"):
        expected_from_card(empty, "models:/m:1")


def test_the_expected_mask_passes_the_smoke_test():
    result = run_smoke(answer(figure()), figure())
    assert result.iou == 1.0 and result.to_dict()["min_iou"] == MIN_IOU == 0.9
    assert result.foreground_fraction == pytest.approx(figure().mean())


def test_shifted_or_partial_masks_under_the_threshold_fail_and_near_misses_pass():
    shifted = np.roll(figure(), 12, axis=1)  # 12 of 80 columns off: IoU 68/92
    partial = figure() & (np.arange(240)[:, None] < 176)  # legs missing: IoU 136/160
    near = figure() & (np.arange(240)[:, None] < 188)  # 148/160 = 0.925
    assert iou(shifted, figure()) == pytest.approx(68 / 92) and iou(partial, figure()) == pytest.approx(0.85)
    for wrong in (shifted, partial):
        with pytest.raises(SmokeFailed, match="mask differs from the expected one"):
            run_smoke(answer(wrong), figure())
    assert run_smoke(answer(near), figure()).iou == pytest.approx(0.925)
    assert iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0, "two empty masks agree"


def test_run_smoke_retries_then_reports_the_last_answer(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("personseg.deploy.smoke.time.sleep", lambda s: None)
    answers = [(503, "text/plain", b"warming"), (200, "image/png", mask_png(figure()))]
    seen = []

    def post(path: str, body: bytes, ctype: str):
        seen.append((path, ctype, body[:8]))
        return answers.pop(0)

    assert run_smoke(post, figure()).width == 160
    assert seen[0] == ("/v1/segment?output=mask", "image/png", b"\x89PNG\r\n\x1a\n")
    with pytest.raises(SmokeFailed, match=r"after 3 attempts \(HTTP 500: boom\)"):
        run_smoke(lambda *a: (500, "text/plain", b"boom"), figure())


def test_card_entry_stores_the_offline_mask_compactly_or_why_there_is_none(tmp_path: Path):
    entry = card_entry(tiny_onnx_model(tmp_path / "tiny"))
    mask = offline_mask(tmp_path / "tiny")
    assert entry["probe"] == PROBE and entry["size"] == [160, 240] and len(entry["mask_png_b64"]) < 2000
    assert 0.5 < entry["foreground_fraction"] == round(float(mask.mean()), 4) < 1.0
    assert np.array_equal(expected_from_card({"smoke": entry}, "models:/m:1"), mask)
    assert not offline_mask(tiny_onnx_model(tmp_path / "blank", bias=-10.0)).any()
    broken = card_entry(tiny_onnx_model(tmp_path / "broken", corrupt=True))
    assert set(broken) == {"probe", "error"} and "ONNX Runtime cannot load" in broken["error"]


def test_a_card_without_a_usable_mask_names_what_is_missing():
    with pytest.raises(NoExpectedMask, match=r"models:/m:2 has no expected smoke-test mask \(field 'smoke'; "
                       r"published before.*personseg models pull models:/m:2 DIR"):
        expected_from_card({"name": "m"}, "models:/m:2")
    with pytest.raises(NoExpectedMask, match=r"did not run at publish \(ONNX Runtime cannot load it\)"):
        expected_from_card({"smoke": {"probe": PROBE, "error": "ONNX Runtime cannot load it"}}, "models:/m:2")
    with pytest.raises(NoExpectedMask, match="smoke probe 'person_image-v0'"):
        expected_from_card({"smoke": {"probe": "person_image-v0", "mask_png_b64": encode_mask(figure())}}, "m")
    with pytest.raises(NoExpectedMask, match="expected mask is 16x8"):
        expected_from_card({"smoke": {"probe": PROBE, "mask_png_b64": encode_mask(np.ones((8, 16), bool))}}, "m")
    with pytest.raises(NoExpectedMask, match="'smoke.mask_png_b64' is not a PNG"):
        expected_from_card({"smoke": {"probe": PROBE, "mask_png_b64": "bm90IGEgcG5n"}}, "m")
    assert np.array_equal(decode_mask(encode_mask(figure())), figure())


def test_the_card_mask_is_the_publishers_probe_entry_never_an_extra_field(tmp_path: Path):
    from personseg.modeldir import read_model_dir
    from personseg.storage.card import build_card

    info = read_model_dir(tiny_onnx_model(tmp_path / "tiny"))
    entry = card_entry(info.path)
    with pytest.raises(UserError, match="field\\(s\\) smoke are set by the registry"):
        build_card(info, "m", 0, {}, {"smoke": {"probe": PROBE, "mask_png_b64": encode_mask(figure())}}, smoke=entry)
    assert build_card(info, "m", 0, {}, None, smoke=entry)["smoke"] == entry


def test_restorable_strips_server_fields_and_leaves_replicas_to_the_hpa():
    from personseg.deploy.cluster import restorable

    live = deployment(DeployConfig(model="s3://b/m/1/"), "models:/m:1")
    live["metadata"].update(uid="u", resourceVersion="9", generation=4, managedFields=[{}],
                            annotations={"deployment.kubernetes.io/revision": "4", "keep": "me"})
    live["spec"]["replicas"] = 5
    live["status"] = {"replicas": 5}
    out = restorable(live)
    assert set(out["metadata"]) == {"name", "namespace", "labels", "annotations"}
    assert out["metadata"]["annotations"] == {"keep": "me"}
    assert "status" not in out and "replicas" not in out["spec"]
    assert live["spec"]["replicas"] == 5, "the live copy is not modified"
