"""Labelling end to end with a test teacher (not a real segmenter), so no mediapipe is needed."""

import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

from personseg.cli import main
from personseg.errors import UserError
from personseg.labeling.band import Band
from personseg.labeling.label import label_folder, label_image
from personseg.labeling.teacher import Teacher, get_teacher, teacher_names

HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None


class RedTeacher:
    """A test teacher, not a segmenter: the person probability is the red channel / 255.

    Deterministic and exact, so a picture painted with known reds has known labels.
    """

    name = "test-red"

    def __init__(self, fail_on: str | None = None) -> None:
        self.seen: list[tuple[int, int]] = []
        self.fail_on = fail_on

    def probabilities(self, image: Image.Image) -> np.ndarray:
        self.seen.append(image.size)
        if self.fail_on is not None and len(self.seen) == 2:
            raise RuntimeError("teacher crashed")
        return np.asarray(image.convert("RGB"), dtype=np.float32)[..., 0] / 255.0


def painted(width: int, height: int, reds: list[int]) -> Image.Image:
    """Vertical stripes of the given red values, equal widths."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    for i, red in enumerate(reds):
        arr[:, i * width // len(reds) : (i + 1) * width // len(reds), 0] = red
    return Image.fromarray(arr)


def test_test_teacher_satisfies_the_protocol():
    assert isinstance(RedTeacher(), Teacher)


def test_label_image_applies_the_band_to_the_teacher_output():
    labels = label_image(RedTeacher(), painted(30, 10, [255, 128, 0]), Band(0.3, 0.7))
    assert labels.mask.shape == (10, 30)
    assert (labels.mask[:, :10] == 255).all() and (labels.mask[:, 10:] == 0).all()
    assert (labels.ignore[:, 10:20] == 255).all() and not labels.ignore[:, :10].any()
    assert labels.person_fraction == pytest.approx(1 / 3)
    assert labels.ignore_fraction == pytest.approx(1 / 3)


def test_a_teacher_that_changes_the_size_is_caught():
    class Shrinking(RedTeacher):
        def probabilities(self, image):
            return np.zeros((image.height // 2, image.width), dtype=np.float32)

    with pytest.raises(ValueError, match="shape"):
        label_image(Shrinking(), painted(8, 8, [0]), Band())


def test_label_folder_writes_the_dataset_layout(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    painted(40, 20, [255, 128, 0]).save(src / "mixed.png")
    painted(16, 32, [255, 0]).save(src / "sure.png")  # nothing between the thresholds
    painted(24, 24, [255, 0]).save(src / "photo.jpeg", quality=95)
    (src / "notes.txt").write_text("not a photo")
    out = tmp_path / "labelled"

    report = label_folder(RedTeacher(), src, out, Band(0.3, 0.7), command="personseg data label ...")

    assert report.count == 3 and report.with_ignore == 1
    assert sorted(p.name for p in (out / "images").iterdir()) == ["mixed.png", "photo.jpg", "sure.png"]
    assert (out / "images" / "mixed.png").read_bytes() == (src / "mixed.png").read_bytes()
    assert (out / "images" / "photo.jpg").read_bytes() == (src / "photo.jpeg").read_bytes()
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["mixed.png", "photo.png", "sure.png"]
    assert [p.name for p in (out / "ignore").iterdir()] == ["mixed.png"]  # only where there are ignore pixels
    for name, size in (("mixed", (40, 20)), ("sure", (16, 32)), ("photo", (24, 24))):
        mask = Image.open(out / "masks" / f"{name}.png")
        assert mask.mode == "L" and mask.size == size
        assert set(np.unique(np.asarray(mask))) == {0, 255}
    ignore = np.asarray(Image.open(out / "ignore" / "mixed.png"))
    mask = np.asarray(Image.open(out / "masks" / "mixed.png"))
    assert (ignore[:, 14:26] == 255).all() and not ignore[:, :13].any() and not ignore[:, 27:].any()
    assert (mask[:, :13] == 255).all() and not mask[:, 14:].any()
    card = json.loads((out / "dataset.json").read_text())
    assert card["labels"]["teacher"] == "test-red"
    assert (card["labels"]["low"], card["labels"]["high"]) == (0.3, 0.7)
    assert "not human annotation" in card["labels"]["kind"]
    assert card["counts"] == {"images": 3, "with_ignore": 1}


def test_exif_rotated_photo_is_stored_upright_and_labelled_upright(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate 90 degrees clockwise
    painted(40, 20, [255, 0]).save(src / "phone.jpg", quality=95, exif=exif)
    teacher = RedTeacher()
    label_folder(teacher, src, tmp_path / "out", Band(0.3, 0.7))
    assert teacher.seen == [(20, 40)]
    image = Image.open(tmp_path / "out" / "images" / "phone.png")
    mask = np.asarray(Image.open(tmp_path / "out" / "masks" / "phone.png"))
    assert image.size == (20, 40) and mask.shape == (40, 20)
    assert (mask[:18] == 255).all() and not mask[22:].any()  # the red half is on top once upright


def test_a_failing_teacher_leaves_no_output(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    for name in ("a", "b", "c"):
        painted(8, 8, [255]).save(src / f"{name}.png")
    with pytest.raises(RuntimeError):
        label_folder(RedTeacher(fail_on="b"), src, tmp_path / "out", Band())
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]


def test_bad_inputs_are_user_errors_naming_the_file(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no photos"):
        label_folder(RedTeacher(), empty, tmp_path / "o1", Band())
    dup = tmp_path / "dup"
    dup.mkdir()
    painted(8, 8, [0]).save(dup / "x.png")
    painted(8, 8, [0]).save(dup / "x.jpg")
    with pytest.raises(UserError, match="share the id 'x'"):
        label_folder(RedTeacher(), dup, tmp_path / "o2", Band())
    broken = tmp_path / "broken"
    broken.mkdir()
    painted(64, 64, [255]).save(broken / "cut.png")
    data = (broken / "cut.png").read_bytes()
    (broken / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="cut.png"):
        label_folder(RedTeacher(), broken, tmp_path / "o3", Band())
    assert not (tmp_path / "o3").exists()


def test_unknown_teacher_lists_the_known_ones():
    assert "mediapipe" in teacher_names()
    with pytest.raises(ValueError, match="known: mediapipe"):
        get_teacher("nope")


def test_cli_rejects_a_bad_band_and_a_missing_folder_before_loading_the_teacher(tmp_path, capsys):
    src = tmp_path / "photos"
    src.mkdir()
    painted(8, 8, [0]).save(src / "a.png")
    assert main(["data", "label", "--teacher", "mediapipe", "--low", "0.9", "--high", "0.1",
                 str(src), str(tmp_path / "out")]) == 2
    assert "--low 0.9 --high 0.1" in capsys.readouterr().err
    assert main(["data", "label", "--teacher", "mediapipe", str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 2
    assert "nowhere: no such directory" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(HAS_MEDIAPIPE, reason="mediapipe is importable here, so the missing-package error cannot occur")
def test_cli_without_mediapipe_says_what_to_install(tmp_path, capsys):
    src = tmp_path / "photos"
    src.mkdir()
    painted(8, 8, [0]).save(src / "a.png")
    assert main(["data", "label", "--teacher", "mediapipe", str(src), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot import mediapipe" in err and "make teacher" in err
    assert ".venv-teacher/bin/personseg data label --teacher mediapipe" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_group_by_writes_the_cards_groups_and_a_stray_id_stops_before_labelling(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    for name in ("ann_beach", "ann_desk", "bob_desk"):
        painted(8, 8, [255, 0]).save(src / f"{name}.png")
    out = tmp_path / "labelled"
    label_folder(RedTeacher(), src, out, Band(0.3, 0.7), group_by="^([a-z]+)_")
    card = json.loads((out / "dataset.json").read_text())
    assert card["groups"] == {"ann": ["ann_beach", "ann_desk"], "bob": ["bob_desk"]}
    painted(8, 8, [255, 0]).save(src / "Zed.png")
    with pytest.raises(UserError, match="--group-by '\\^\\(\\[a-z\\]\\+\\)_': does not match the id 'Zed'"):
        label_folder(RedTeacher(fail_on="ann_beach"), src, tmp_path / "o2", Band(0.3, 0.7), group_by="^([a-z]+)_")
    assert not (tmp_path / "o2").exists()
