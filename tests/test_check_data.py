"""The pipeline's first step (check_data) refuses every bad parameter and a broken dataset, naming the parameter.

Each case runs the check_data component's own function, as kfp.local's executor does, with every other
parameter at its pipeline default. Nothing is reachable after the checks here (no S3 endpoint is set),
so a check that is missing lets the step run on and fail on something else, not on the parameter named.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pipeline_fixtures import check_data_args
from storage_fixtures import FOREIGN_VARS, make_dataset

from personseg.errors import UserError
from personseg.steps.ingest import check_dataset
from personseg_kfp.components.check_data import check_data
from personseg_kfp.params import pipeline_inputs
from personseg_kfp.pipeline import person_segmentation

# (parameter, a value a later step would refuse, what the refusal says after the parameter's name)
BAD = [
    ("dataset_uri", "synthetic:1", "'synthetic:1': expected synthetic:N with N >= 2"),
    ("extra_train_uri", "/no/such/set", "'/no/such/set': dataset /no/such/set: no such directory"),
    ("extra_val_uri", "/no/such/set", "'/no/such/set': dataset /no/such/set: no such directory"),
    ("extra_eval_uri", "/no/such/set", "'/no/such/set': dataset /no/such/set: no such directory"),
    ("image_size", 100, "100: must be a positive multiple of 16"),
    ("width", 0, "0: must be >= 1"),
    ("epochs", 0, "0: must be >= 1"),
    ("composite", 1.5, "1.5: must be between 0 and 1"),
    ("photometric", -0.1, "-0.1: must be between 0 and 1"),
    ("background_hue", 0.7, "0.7: must be between 0 and 0.5"),
    ("backgrounds", "/no/such/photos", "/no/such/photos: no such directory"),
    ("swap_design", "foo", "'foo': swap design 'foo' unknown"),
    ("swap_design", "lean3", "'lean3': squeeze 3 does not divide"),
    ("swap_epochs", -1, "-1: must be >= 0"),
    ("calibration_size", 4, "4: must be >= 8"),
    ("candidates", "bilinear:tensorrt", "'bilinear:tensorrt': "),
    ("tolerable_iou_loss", 1.5, "1.5: must be in [0, 1)"),
    ("min_speedup", 0.0, "0.0: must be positive"),
    ("min_extra_iou", 2.0, "2.0: must be in [0, 1]"),
    ("eval_rounds", 0, "0: must be >= 1"),
    ("model_name", "My_Model", ": model name 'My_Model'"),
    ("model_name", "a.b", "'a.b': must be a DNS label"),
    ("deploy_target", "kube", "'kube': expected one of kubernetes, kserve, local"),
    ("namespace", "Team A", "'Team A': must be a DNS label"),
    ("minio_secret", "my secret", "'my secret': not a Kubernetes Secret name"),
    ("serving_secret", "Reader!", "serving_secret 'Reader!': not a Kubernetes Secret name"),
    ("serving_min_replicas", 5, "5, serving_max_replicas 4: need 1 <= min <= max"),
    ("serving_max_replicas", 0, "serving_max_replicas 0: need 1 <= min <= max"),
    ("serving_cpu_request", "1 core", ": CPU quantity '1 core'"),
    ("serving_cpu_limit", "two", ": CPU quantity 'two'"),
    ("serving_memory_request", "768MB", "'768MB': expected a memory quantity"),
    ("serving_memory_limit", "lots", "'lots': expected a memory quantity"),
    ("serving_image", "my image", "'my image': not an image reference"),
    ("train_nodes", 0, "0: must be >= 1"),
    ("train_gpus", -1, "-1: must be >= 0"),
    ("train_gpus", 4, "4: 8 ranks share a batch of 8 images, under 2 per rank"),  # with train_nodes 2 (below)
    ("min_iou", 1.0, "1.0: must be in [0, 1)"),
    ("s3_endpoint", "ftp://minio:9000", ": scheme 'ftp' is not http or https"),
]
ANY_VALUE = {"seed", "force_retrain"}  # every value of these is a valid run


@pytest.fixture(autouse=True)
def _no_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (*FOREIGN_VARS, "MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_every_pipeline_parameter_reaches_the_first_step_and_has_a_refused_value() -> None:
    params = set(pipeline_inputs(person_segmentation))
    assert set(check_data.component_spec.inputs) == params
    assert {name for name, _, _ in BAD} | ANY_VALUE == params


def test_the_compiled_first_step_is_given_each_parameter(tmp_path: Path) -> None:
    import yaml

    from personseg_kfp.pipeline import compile_pipeline

    spec = next(yaml.safe_load_all(compile_pipeline(tmp_path / "p.yaml").read_text()))
    given = spec["root"]["dag"]["tasks"]["check-data"]["inputs"]["parameters"]
    assert {name: value["componentInputParameter"] for name, value in given.items()} == {
        name: name for name in spec["root"]["inputDefinitions"]["parameters"]}


@pytest.mark.parametrize(("param", "value", "says"), BAD, ids=[f"{p}={v}" for p, v, _ in BAD])
def test_a_bad_parameter_is_refused_by_name_in_the_first_step(param: str, value: object, says: str) -> None:
    args = check_data_args(composite=0.5) if param == "backgrounds" else check_data_args()
    if (param, value) == ("train_gpus", 4):
        args["train_nodes"] = 2
    with pytest.raises(UserError) as refused:
        check_data.python_func(**{**args, param: value})
    message = str(refused.value)
    assert param in message.split(":")[0] and says in message  # the parameter leads the message
    assert not re.search(r"(?<![\w-])--\w", message), f"names a CLI flag, not the parameter: {message}"


def _broken(tmp_path: Path) -> Path:
    """A user's folder as it often is: a note among the photos, a Finder file, and a photo not yet labelled."""
    root = make_dataset(tmp_path / "mine", count=4)
    (root / "images" / "notes.txt").write_text("to label\n")
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "images" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(root / "images" / "unlabelled.png")
    return root


def test_a_broken_dataset_is_refused_in_the_first_step_naming_the_users_files(tmp_path: Path) -> None:
    root = _broken(tmp_path)
    for param in ("dataset_uri", "extra_train_uri"):
        with pytest.raises(UserError) as refused:
            check_data.python_func(**check_data_args(**{param: str(root)}))
        message = str(refused.value)
        assert message.startswith(f"{param} '{root}': ") and "2 problem(s)" in message
        assert f"{root / 'images' / 'notes.txt'}: unexpected file type" in message
        assert f"{root / 'images' / 'unlabelled.png'}: no mask (expected {root / 'masks' / 'unlabelled.png'})" \
            in message
        assert ".DS_Store" not in message  # hidden files are not the user's data: ignored, as training ignores them


def test_hidden_files_are_ignored_and_an_unreadable_mask_is_refused(tmp_path: Path) -> None:
    root = _broken(tmp_path)
    (root / "images" / "notes.txt").unlink()
    (root / "images" / "unlabelled.png").unlink()
    check_dataset("dataset_uri", str(root), 64)  # the .DS_Store files alone: a valid dataset
    shutil.copyfile(root / "images" / "000.png", root / "masks" / "001.png")  # an RGB photo as a mask
    with pytest.raises(UserError, match=rf"^dataset_uri '{re.escape(str(root))}': .*masks/001.png: mask is not "
                                        "binary"):
        check_dataset("dataset_uri", str(root), 64)
