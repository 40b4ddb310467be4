"""What every ``data import`` checks, whatever the format: its output, the pictures, the card, the split."""

import json
import re
import shutil

import numpy as np
import pytest
from import_fixtures import assert_nothing_written, run_import
from PIL import Image

from personseg.cli import main
from personseg.hashing import tree_sha256


def _mattes(folder, names=("a", "b", "c")):
    folder.mkdir(parents=True)
    alpha = np.zeros((8, 8), np.uint8)
    alpha[2:6, 2:6] = 255
    for name in names:
        Image.fromarray(np.dstack([np.full((8, 8, 3), 40, np.uint8), alpha]), mode="RGBA").save(folder / f"{name}.png")
    return folder


def _pairs(folder, names=("a", "b", "c")):
    """images/<id>.jpg with alpha/<id>.png: pictures that are copied, not re-encoded."""
    (folder / "images").mkdir(parents=True)
    (folder / "alpha").mkdir()
    alpha = np.zeros((8, 8), np.uint8)
    alpha[2:6, 2:6] = 255
    for name in names:
        Image.new("RGB", (8, 8), (90, 20, 200)).save(folder / "images" / f"{name}.jpg", quality=95)
        Image.fromarray(alpha, mode="L").save(folder / "alpha" / f"{name}.png")
    return folder


@pytest.mark.parametrize("where", ["same", "inside"])
def test_output_that_is_or_holds_the_source_is_refused_and_the_source_survives(tmp_path, capsys, where):
    out = tmp_path / "work"
    src = _mattes(out if where == "same" else out / "mattes")
    before = tree_sha256(src)
    code, err = run_import(capsys, "matte", src, out)
    verb = "is" if where == "same" else "contains"
    assert code == 2 and re.search(rf"output .*work: {verb} the import source .*; writing there would replace it",
                                   err), err
    assert tree_sha256(src) == before


def test_output_holding_cocos_image_folder_is_refused(tmp_path, capsys):
    images = tmp_path / "out" / "train2017"
    images.mkdir(parents=True)
    (tmp_path / "instances.json").write_text("{}")
    code, err = run_import(capsys, "coco", tmp_path / "instances.json", tmp_path / "out", "--images", str(images))
    assert code == 2 and "contains the import source" in err and "train2017" in err, err


def test_truncated_jpeg_is_refused_even_when_copied(tmp_path, capsys):
    src, out = _pairs(tmp_path / "src"), tmp_path / "out"
    picture = src / "images" / "b.jpg"
    noise = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(noise).save(picture, quality=95)
    picture.write_bytes(picture.read_bytes()[:-40])  # the header still reads: 8x8
    code, err = run_import(capsys, "matte", src, out)
    assert code == 2 and re.search(r"images/b.jpg: unreadable or truncated image", err), err
    assert_nothing_written(out)


def test_size_mismatch_on_an_image_without_a_person_is_refused(tmp_path, capsys):
    src, out = _pairs(tmp_path / "src"), tmp_path / "out"
    Image.fromarray(np.zeros((6, 8), np.uint8), mode="L").save(src / "alpha" / "c.png")  # no person, and 8x6
    code, err = run_import(capsys, "matte", src, out)
    assert code == 2 and re.search(r"alpha/c.png: annotation is 8x6 but image .*c.jpg is 8x8", err), err
    assert_nothing_written(out)


def test_all_background_with_keep_empty_is_refused(tmp_path, capsys):
    src, out = _pairs(tmp_path / "src"), tmp_path / "out"
    for matte in (src / "alpha").iterdir():
        Image.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(matte)
    code, err = run_import(capsys, "matte", src, out, "--keep-empty")
    assert code == 2 and "none of the 3 images has a person pixel" in err, err
    assert_nothing_written(out)


def test_the_same_data_from_another_folder_makes_the_same_dataset(tmp_path, capsys):
    first = _mattes(tmp_path / "one" / "mattes")
    second = tmp_path / "two" / "mattes"
    shutil.copytree(first, second)
    for src in (first, second):
        code, err = run_import(capsys, "matte", src, src.parent / "people")
        assert code == 0, err
    assert tree_sha256(first.parent / "people") == tree_sha256(second.parent / "people")
    assert str(tmp_path) not in (first.parent / "people" / "dataset.json").read_text()


def test_group_by_fills_the_cards_groups_and_the_split_follows_them(tmp_path, capsys):
    names = [f"P{p:02d}_{shot}" for p in range(8) for shot in ("front", "side", "back")]
    src, out = _mattes(tmp_path / "src", names), tmp_path / "out"
    code, err = run_import(capsys, "matte", src, out, "--group-by", "^(P[0-9]+)_")
    assert code == 0, err
    groups = json.loads((out / "dataset.json").read_text())["groups"]
    assert groups == {f"P{p:02d}": [f"P{p:02d}_{s}" for s in ("back", "front", "side")] for p in range(8)}
    from personseg.data.split import split_ids

    split = split_ids(sorted(names), out)
    people = {p: {i.split("_")[0] for i in split.part(p)} for p in ("train", "val", "test")}
    assert not people["train"] & people["test"] and not people["train"] & people["val"]


def test_bad_group_by_is_refused_before_anything_is_read(tmp_path, capsys):
    code, err = run_import(capsys, "matte", tmp_path / "nowhere", tmp_path / "out", "--group-by", "P(")
    assert code == 2 and "--group-by 'P(': not a regular expression" in err, err


def test_help_states_the_matte_threshold_and_band(capsys):
    with pytest.raises(SystemExit):
        main(["data", "import", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "person is alpha >= 0.5" in text and "(default 0.1)" in text and "(default 0.9)" in text
