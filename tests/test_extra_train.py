"""Extra training and validation sets (``extra_train_uri``, ``extra_val_uri``): they join train or val; test stays."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from pipeline_fixtures import check_data_args
from storage_fixtures import make_dataset

from personseg.data.extra_train import PREFIX, VAL_PREFIX, add_sets, add_training_set, check_extra_sets
from personseg.data.fingerprint import dataset_fingerprint, training_fingerprint
from personseg.data.prescan import prescan
from personseg.data.split import split_ids
from personseg.errors import UserError
from personseg.labeling.committed import committed_dataset, read_card
from personseg.steps.ingest import materialize
from personseg.steps.retrain_check import parse_key


def _base(tmp_path: Path) -> Path:
    root = make_dataset(tmp_path / "base", count=5)
    (root / "split.json").write_text(json.dumps({"train": ["000", "001"], "val": ["002"], "test": ["003", "004"]}))
    return root


def _extra(tmp_path: Path) -> Path:
    root = make_dataset(tmp_path / "extra", count=2, seed=1)
    (root / "ignore").mkdir()
    Image.fromarray(np.full((24, 24), 255, np.uint8)).save(root / "ignore" / "001.png")
    return root


def test_extra_images_join_train_and_val_and_test_are_the_main_sets(tmp_path: Path):
    base, extra, out = _base(tmp_path), _extra(tmp_path), tmp_path / "out"
    counts = add_training_set(base, extra, out)
    assert counts == {"train": 4, "val": 1, "test": 2, "extra_train": 2}
    ids = [p.stem for p in sorted((out / "images").iterdir())]
    split = split_ids(ids, out)
    assert split.train == ["000", "001", f"{PREFIX}000", f"{PREFIX}001"]
    assert (split.val, split.test) == (["002"], ["003", "004"])
    for sub, name in (("images", "000.png"), ("masks", "001.png"), ("ignore", "001.png")):
        assert (out / sub / f"{PREFIX}{name}").read_bytes() == (extra / sub / name).read_bytes()
    assert (out / "images" / "003.png").read_bytes() == (base / "images" / "003.png").read_bytes()
    assert not (out / "ignore" / f"{PREFIX}000.png").exists()
    assert read_card(out)["extra_train"]["images"] == 2


def test_a_broken_extra_set_names_the_file_and_writes_nothing(tmp_path: Path):
    base, extra, out = _base(tmp_path), _extra(tmp_path), tmp_path / "out"
    (extra / "masks" / "001.png").unlink()
    with pytest.raises(UserError, match=r"extra training set: .*001\.png: no mask"):
        add_training_set(base, extra, out)
    assert not out.exists()
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    (empty / "masks").mkdir()
    with pytest.raises(UserError, match=f"extra training set: dataset {empty}: empty"):
        add_training_set(base, empty, out)
    with pytest.raises(UserError, match=f"id '000' is already in {base}"):
        add_training_set(base, make_dataset(tmp_path / "same-ids", count=1), out, prefix="")
    assert not out.exists()


def test_ingest_adds_the_committed_people_to_the_demo_at_the_runs_size(tmp_path: Path):
    out = materialize("demo", tmp_path / "data", 64, extra_train_uri="people")
    demo = prescan(committed_dataset("demo"), 64)
    demo_split = split_ids(demo.ids, committed_dataset("demo"))
    data = prescan(out, 64)
    split = split_ids(data.ids, out)
    people = sorted(p.stem for p in (committed_dataset("people") / "images").iterdir())
    assert split.train == [*demo_split.train, *(PREFIX + i for i in people)]
    assert (split.val, split.test) == (demo_split.val, demo_split.test)
    with Image.open(out / "images" / f"{PREFIX}cameraman.jpg") as img:
        assert img.size == (64, 64)
    assert not list(tmp_path.glob(".ingest-*")), "the work folder is removed"


def test_an_extra_validation_set_joins_val_only_beside_an_extra_training_set(tmp_path: Path):
    base, extra, out = _base(tmp_path), _extra(tmp_path), tmp_path / "out"
    val = make_dataset(tmp_path / "val", count=3, seed=2)
    counts = add_sets(base, out, {"train": (extra, PREFIX), "val": (val, VAL_PREFIX)})
    assert counts == {"train": 4, "val": 4, "test": 2, "extra_train": 2, "extra_val": 3}
    split = split_ids(sorted(p.stem for p in (out / "images").iterdir()), out)
    assert split.train == ["000", "001", f"{PREFIX}000", f"{PREFIX}001"]
    assert split.val == ["002", *(f"{VAL_PREFIX}{i:03d}" for i in range(3))]
    assert split.test == ["003", "004"]
    assert (out / "masks" / f"{VAL_PREFIX}002.png").read_bytes() == (val / "masks" / "002.png").read_bytes()
    card = read_card(out)
    assert card["extra_val"]["images"] == 3 and card["counts"]["val"] == 4 and card["counts"]["images"] == 10
    (val / "masks" / "001.png").unlink()
    with pytest.raises(UserError, match=r"extra validation set: .*001\.png: no mask"):
        add_sets(base, tmp_path / "out2", {"val": (val, VAL_PREFIX)})
    assert not (tmp_path / "out2").exists()
    with pytest.raises(ValueError, match="not \\['test'\\]"):
        add_sets(base, tmp_path / "out2", {"test": (extra, PREFIX)})


def test_ingest_adds_people_to_val_and_the_training_photos_stay_the_demos(tmp_path: Path):
    out = materialize("demo", tmp_path / "data", 64, extra_val_uri="people")
    demo_split = split_ids(prescan(committed_dataset("demo"), 64).ids, committed_dataset("demo"))
    split = split_ids(prescan(out, 64).ids, out)
    people = sorted(p.stem for p in (committed_dataset("people") / "images").iterdir())
    assert (split.train, split.test) == (demo_split.train, demo_split.test)
    assert split.val == [*demo_split.val, *(VAL_PREFIX + i for i in people)]


def test_the_ingest_component_puts_each_extra_set_in_its_split(tmp_path: Path):
    from personseg_kfp.components.ingest import ingest

    data = SimpleNamespace(path=str(tmp_path / "data"), metadata={})
    ingest.python_func(dataset_uri="demo", retrain_key="k", image_size=64, s3_endpoint="", data=data,
                       extra_train_uri="", extra_val_uri="people")
    split = split_ids(prescan(Path(data.path), 64).ids, Path(data.path))
    assert sum(i.startswith(VAL_PREFIX) for i in split.val) == 6 and not any(PREFIX in i for i in split.train)
    assert data.metadata["extra_val_uri"] == "people"


def test_the_training_fingerprint_follows_the_extra_set(tmp_path: Path):
    base, extra = _base(tmp_path), _extra(tmp_path)
    assert training_fingerprint(str(base)) == dataset_fingerprint(str(base))  # no extra: as before
    with_extra = training_fingerprint(str(base), str(extra))
    assert with_extra != dataset_fingerprint(str(base))
    mask = extra / "masks" / "000.png"
    mask.write_bytes(mask.read_bytes() + b"\0")
    assert training_fingerprint(str(base), str(extra)) != with_extra
    with pytest.raises(UserError, match="dataset /no/such/set: no such directory"):
        training_fingerprint(str(base), "/no/such/set")
    val = make_dataset(tmp_path / "val", count=2, seed=2)
    with_val = training_fingerprint(str(base), "", str(val))  # the validation set chooses the epoch kept
    assert len({with_val, training_fingerprint(str(base), str(extra), str(val)), with_extra,
                dataset_fingerprint(str(base))}) == 4
    assert training_fingerprint(str(base), str(val)) != with_val  # the same photos in train are another run


def test_the_committed_people_are_all_train_licensed_and_not_the_held_out_photos():
    root = committed_dataset("people")
    card = read_card(root)
    ids = sorted(p.stem for p in (root / "images").iterdir())
    assert len(ids) == 6 and split_ids(ids, root).train == sorted(ids, key=ids.index)
    assert all(s["licence"] for s in card["sources"])
    assert set(card["origins"]) == set(ids)
    real = committed_dataset("real")
    held_out = {p.stem for p in (real / "images").iterdir()}
    assert not set(ids) & held_out
    assert not any(word in origin for origin in card["origins"].values()
                   for word in ("basketball", "astronaut", "grace_hopper"))


def test_the_runs_console_line_names_the_extra_set(tmp_path: Path):
    from personseg_kfp.local.figures import EXECUTOR_OUTPUT, ingest

    def line(meta: dict) -> str:
        task = tmp_path / json.dumps(meta).replace("/", "_").replace('"', "")
        (task / "data" / "images").mkdir(parents=True)
        for i in range(3):
            (task / "data" / "images" / f"{i}.jpg").write_bytes(b"")
        (task / EXECUTOR_OUTPUT).write_text(json.dumps({"artifacts": {"data": {"artifacts": [{"metadata": meta}]}}}))
        return ingest(task)

    assert line({"uri": "demo", "extra_train_uri": "people"}) == "demo + people (train only): 3 images"
    assert line({"uri": "demo", "extra_train_uri": ""}) == "demo: 3 images"
    val_only = {"uri": "demo", "extra_train_uri": "", "extra_val_uri": "people"}
    assert line(val_only) == "demo + people (val only): 3 images"


def test_the_scored_images_cannot_be_the_extra_training_set(tmp_path: Path):
    from personseg_kfp.components.check_data import check_data

    base, extra = _base(tmp_path), _extra(tmp_path)
    check_extra_sets(str(extra), str(base), "real")  # a different set: fine
    check_extra_sets("", "demo", "demo")  # none: nothing to check
    with pytest.raises(UserError, match="extra_train_uri 'real': the same data as extra_eval_uri 'real'"):
        check_extra_sets("real", "demo", "real")
    copy = tmp_path / "copy"
    shutil.copytree(base, copy)
    with pytest.raises(UserError, match=f"the same data as dataset_uri '{base}'"):
        check_extra_sets(str(copy), str(base))
    check_extra_sets("", "demo", "real", "people")  # people to choose the epoch: fine
    with pytest.raises(UserError, match="extra_val_uri 'real': the same data as extra_eval_uri 'real'; choosing"):
        check_extra_sets("", "demo", "real", "real")
    shutil.rmtree(copy)
    shutil.copytree(extra, copy)
    with pytest.raises(UserError, match=f"extra_val_uri '{copy}': the same data as extra_train_uri '{extra}'"):
        check_extra_sets(str(extra), str(base), "real", str(copy))
    args = check_data_args(image_size=64, width=8, epochs=1, calibration_size=8, candidates="swapped:onnxruntime",
                           model_name="m")
    with pytest.raises(UserError, match="the same data as extra_eval_uri 'real'"):
        check_data.python_func(**{**args, "extra_train_uri": "real", "extra_eval_uri": "real"})
    with pytest.raises(UserError, match="extra_val_uri 'demo': the same data as dataset_uri 'demo'"):
        check_data.python_func(**{**args, "extra_train_uri": "", "extra_eval_uri": "real", "extra_val_uri": "demo"})
    forced = {**args, "force_retrain": True, "report": SimpleNamespace(path=str(tmp_path / "report.md"))}
    keys = [check_data.python_func(**{**forced, "extra_train_uri": "", "extra_eval_uri": "real", "extra_val_uri": val})
            for val in ("", "people")]
    assert parse_key(keys[0])["data"] != parse_key(keys[1])["data"]  # the validation set is part of the retrain key
    assert "plus extra validation set `people`" in (tmp_path / "report.md").read_text()
