"""The real MediaPipe teacher: runs where mediapipe is importable, i.e. in `make teacher`'s environment.

`make test-teacher` (called by .ci/run) runs this file there.
"""

import importlib.util
import shutil

import numpy as np
import pytest
from PIL import Image

from personseg.cli import main
from personseg.labeling.band import Band, apply_band
from personseg.labeling.committed import committed_dataset

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mediapipe") is None,
    reason="mediapipe is not installed in this environment (`make test-teacher` runs these tests in .venv-teacher)",
)


@pytest.fixture(scope="module")
def teacher():
    from personseg.labeling.mediapipe_teacher import MediapipeTeacher

    t = MediapipeTeacher()
    yield t
    t.close()


def test_teacher_reproduces_the_committed_real_labels(teacher):
    """The committed masks were made from the stored JPEG pixels, so relabelling them gives the same masks."""
    root = committed_dataset("real")
    for name in ("astronaut", "grace_hopper", "basketball1", "basketball2"):
        image = Image.open(root / "images" / f"{name}.jpg").convert("RGB")
        prob = teacher.probabilities(image)
        assert prob.shape == (256, 256) and prob.dtype == np.float32
        assert 0.0 <= prob.min() and prob.max() <= 1.0
        mask, ignore = apply_band(prob, Band(0.3, 0.7))
        committed = np.asarray(Image.open(root / "masks" / f"{name}.png")) > 0
        ours = mask > 0
        iou = (ours & committed).sum() / max(1, (ours | committed).sum())
        assert iou > 0.97 and (ours == committed).mean() > 0.99, (name, iou)


def test_teacher_keeps_the_size_of_non_square_pictures(teacher):
    image = Image.open(committed_dataset("real") / "images" / "astronaut.jpg").convert("RGB").crop((0, 0, 200, 120))
    assert teacher.probabilities(image).shape == (120, 200)


def test_teacher_finds_no_person_in_a_blank_picture(teacher):
    prob = teacher.probabilities(Image.new("RGB", (256, 256), (114, 114, 114)))
    assert (prob >= 0.7).mean() < 0.01


def test_label_command_with_mediapipe(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    demo = committed_dataset("demo")
    for name in ("P001_studio_portrait", "P002_amateur_posture"):
        shutil.copyfile(demo / "images" / f"{name}.jpg", src / f"{name}.jpg")
    out = tmp_path / "labelled"
    assert main(["data", "label", "--teacher", "mediapipe", str(src), str(out)]) == 0
    for name in ("P001_studio_portrait", "P002_amateur_posture"):
        mask = np.asarray(Image.open(out / "masks" / f"{name}.png")) > 0
        assert 0.05 < mask.mean() < 0.9
