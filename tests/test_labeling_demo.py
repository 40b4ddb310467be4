"""`personseg data demo` and the committed datasets it copies (datasets/demo, datasets/real, datasets/people)."""

import json

import numpy as np
import pytest
from PIL import Image

from personseg.cli import main
from personseg.hashing import tree_manifest
from personseg.labeling.committed import committed_dataset

BUDGET_BYTES = 4 * 1024 * 1024  # "a few MB" committed, both sets together


def ids_in(folder):
    return sorted(p.stem for p in folder.iterdir())


@pytest.mark.parametrize("which", ["demo", "real", "people"])
def test_committed_dataset_is_valid(which):
    root = committed_dataset(which)
    card = json.loads((root / "dataset.json").read_text())
    ids = ids_in(root / "images")
    assert ids == ids_in(root / "masks")
    assert set(ids_in(root / "ignore")) <= set(ids)
    assert card["counts"]["images"] == len(ids) and card["size"] == 256
    for i in ids:
        image = Image.open(root / "images" / f"{i}.jpg")
        mask = Image.open(root / "masks" / f"{i}.png")
        assert image.size == mask.size == (256, 256) and mask.mode == "L"
        m = np.asarray(mask)
        assert set(np.unique(m)) == {0, 255}, i  # some person and some background in every photo
        ignore_path = root / "ignore" / f"{i}.png"
        if ignore_path.exists():
            ign = np.asarray(Image.open(ignore_path))
            assert Image.open(ignore_path).mode == "L" and ign.shape == m.shape
            assert set(np.unique(ign)) == {0, 255}  # written only when it has ignore pixels
            assert not ((ign > 0) & (m > 0)).any()


@pytest.mark.parametrize("which", ["demo", "real", "people"])
def test_committed_split_keeps_every_person_in_one_part(which):
    root = committed_dataset(which)
    split = json.loads((root / "split.json").read_text())
    card = json.loads((root / "dataset.json").read_text())
    parts = {p: set(split[p]) for p in ("train", "val", "test")}
    assert sum(len(v) for v in parts.values()) == len(set().union(*parts.values()))  # disjoint
    assert set().union(*parts.values()) == set(ids_in(root / "images"))
    assert sorted(i for members in card["groups"].values() for i in members) == sorted(ids_in(root / "images"))
    for person, members in card["groups"].items():
        sides = {p for p, ids in parts.items() for i in members if i in ids}
        assert len(sides) == 1, f"{person} is in {sides}"
    assert {p: card["counts"][p] for p in parts} == {p: len(v) for p, v in parts.items()}


def test_demo_split_is_by_person_id_and_real_is_all_test():
    demo = json.loads((committed_dataset("demo") / "split.json").read_text())
    people = {p: {i.split("_")[0] for i in demo[p]} for p in ("train", "val", "test")}
    assert people == {"train": {"P001", "P002", "P003", "P005", "P007", "P009", "P010"}, "val": {"P006"},
                      "test": {"P004", "P008"}}
    real = json.loads((committed_dataset("real") / "split.json").read_text())
    assert real["train"] == real["val"] == [] and len(real["test"]) == 4


@pytest.mark.parametrize(("which", "sample", "columns", "rows"), [
    ("demo", "P001_studio_posture", (56, 57), (0, 0)), ("demo", "P003_amateur_selfie", (32, 32), (0, 0)),
    ("real", "basketball1", (0, 0), (32, 32)), ("real", "grace_hopper", (16, 16), (0, 0)),
])
def test_committed_letterbox_padding_is_ignore(which, sample, columns, rows):
    from personseg.data.loading import load_dataset

    data = load_dataset(committed_dataset(which), 256)
    labels = data.labels[data.ids.index(sample)]
    pad = np.zeros((256, 256), bool)
    pad[:, : columns[0]] = pad[:, 256 - columns[1]:] = pad[: rows[0]] = pad[256 - rows[1]:] = True
    assert (labels[pad] == 255).all()
    inner = labels[rows[0] : 256 - rows[1], columns[0] : 256 - columns[1]]
    assert (inner[:, [0, -1]] != 255).any() and (inner == 1).any()  # the photo itself is labelled


@pytest.mark.parametrize("which", ["demo", "real", "people"])
def test_cards_name_sources_licences_and_teacher(which):
    root = committed_dataset(which)
    card = json.loads((root / "dataset.json").read_text())
    packages = {s["package"]: s["licence"] for s in card["sources"]}
    expected = {"demo": {"openpeople", "mediapipe"},
                "real": {"scikit-image", "matplotlib", "opencv-doc", "mediapipe"},
                "people": {"scikit-image (camera)", "mahotas", "opencv-doc", "mediapipe"}}[which]
    assert set(packages) == expected and all(packages.values())
    assert "not human annotation" in card["labels"]["kind"]
    assert card["labels"]["low"] < card["labels"]["high"]
    assert "scripts/build_demo_data.py" in card["built_with"]
    readme = (root / "README.md").read_text()
    assert "teacher labels" in readme and all(p in readme for p in packages)


def test_committed_size_stays_within_budget():
    total = sum(p.stat().st_size for which in ("demo", "real", "people")
                for p in committed_dataset(which).rglob("*") if p.is_file())
    assert total < BUDGET_BYTES


@pytest.mark.parametrize("which", ["demo", "real"])
def test_demo_command_copies_the_committed_set_unchanged(tmp_path, which):
    out = tmp_path / which
    assert main(["data", "demo", str(out), "--which", which]) == 0
    assert tree_manifest(out) == tree_manifest(committed_dataset(which))


def test_demo_command_reletterboxes_to_another_size(tmp_path):
    out = tmp_path / "small"
    assert main(["data", "demo", str(out), "--size", "96"]) == 0
    src = committed_dataset("demo")
    card = json.loads((out / "dataset.json").read_text())
    assert card["size"] == 96 and card["resized_from"] == 256
    assert (out / "split.json").read_bytes() == (src / "split.json").read_bytes()
    assert ids_in(out / "images") == ids_in(src / "images")
    assert set(ids_in(out / "ignore")) <= set(ids_in(src / "ignore"))
    for i in ids_in(out / "images"):
        assert Image.open(out / "images" / f"{i}.jpg").size == (96, 96)
        small = np.asarray(Image.open(out / "masks" / f"{i}.png"))
        assert small.shape == (96, 96) and set(np.unique(small)) <= {0, 255}
        big = np.asarray(Image.open(src / "masks" / f"{i}.png"))
        assert abs((small > 0).mean() - (big > 0).mean()) < 0.02, i
        if (out / "ignore" / f"{i}.png").exists():
            ignore = np.asarray(Image.open(out / "ignore" / f"{i}.png"))
            assert set(np.unique(ignore)) == {0, 255} and not ((ignore > 0) & (small > 0)).any()


def test_ignore_maps_emptied_by_a_small_size_are_not_written(tmp_path):
    out = tmp_path / "tiny"
    assert main(["data", "demo", str(out), "--size", "16"]) == 0
    written = list((out / "ignore").iterdir())
    assert 0 < len(written) < len(list((committed_dataset("demo") / "ignore").iterdir()))
    for path in written:
        assert np.asarray(Image.open(path)).any(), path.name
    card = json.loads((out / "dataset.json").read_text())
    assert card["counts"]["with_ignore"] == len(written)


def test_demo_command_rejects_a_tiny_size_and_leaves_nothing(tmp_path, capsys):
    assert main(["data", "demo", str(tmp_path / "out"), "--size", "8"]) == 2
    assert "--size 8" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_datasets_root_follows_the_image_env(tmp_path, monkeypatch):
    from personseg.labeling.committed import datasets_root

    monkeypatch.setenv("PERSONSEG_DATASETS", str(tmp_path))
    assert datasets_root() == tmp_path
