"""Selection reads train and val; reported figures read test (issue: gates that measure what they claim).

The dataset here has its test masks *inverted*, so any figure computed on test is visibly different
from one computed on val, and any step that trained or selected on test would have seen labels that
contradict the rest of the data.
"""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from personseg.cli import main
from personseg.data.split import hash_split, split_ids


@pytest.fixture(scope="module")
def poisoned(tiny_dataset, tmp_path_factory):
    """tiny_dataset with an explicit split.json and every test mask inverted."""
    root = tmp_path_factory.mktemp("poisoned") / "data"
    shutil.copytree(tiny_dataset, root)
    ids = sorted(p.stem for p in (root / "images").iterdir())
    s = hash_split(ids)
    (root / "split.json").write_text(json.dumps({"train": s.train, "val": s.val, "test": s.test}))
    for i in s.test:
        path = root / "masks" / f"{i}.png"
        mask = np.asarray(Image.open(path).convert("L"))
        Image.fromarray(np.where(mask > 0, 0, 255).astype(np.uint8)).save(path)
    return root, s


def test_training_and_swap_select_on_val_and_never_see_test(poisoned, tiny_model, tmp_path, monkeypatch):
    import personseg.swap.step as swap_mod
    import personseg.training.step as train_step

    root, s = poisoned
    seen: list[tuple[str, list[str]]] = []
    real_fit, real_validate = train_step.fit, swap_mod.validate

    def spy_fit(model, train, val, *args, **kwargs):
        seen.extend([("train", train.ids), ("val", val.ids)])
        return real_fit(model, train, val, *args, **kwargs)

    def spy_validate(model, data, *args, **kwargs):
        seen.append(("validate", data.ids))
        return real_validate(model, data, *args, **kwargs)

    monkeypatch.setattr(train_step, "fit", spy_fit)
    monkeypatch.setattr(swap_mod, "fit", spy_fit)
    monkeypatch.setattr(swap_mod, "validate", spy_validate)
    assert main(["train", "--data", str(root), "--width", "4", "--size", "64", "--epochs", "2", "--threads", "2",
                 "--out", str(tmp_path / "m")]) == 0
    assert main(["swap", "--model", str(tiny_model), "--data", str(root), "--design", "lean", "--epochs", "1",
                 "--out", str(tmp_path / "s")]) == 0
    assert seen and all(not set(ids) & set(s.test) for _, ids in seen)
    assert {tuple(ids) for kind, ids in seen if kind in ("val", "validate")} == {tuple(s.val)}
    card = json.loads((tmp_path / "m" / "config.json").read_text())
    assert {k: card["split"][k] for k in ("train", "val", "test")} == s.counts()
    history = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert history["best_epoch"] == max(history["history"], key=lambda r: r["val_iou"])["epoch"]


def test_evaluate_scores_the_split_it_names_and_says_how_many(poisoned, tiny_model, tmp_path, capsys):
    root, s = poisoned
    scores = {}
    for split in ("test", "val", "all"):
        assert main(["evaluate", "--model", f"m={tiny_model}", "--data", str(root), "--split", split, "--rounds", "1",
                     "--report", str(tmp_path / f"{split}.json")]) == 0
        out = capsys.readouterr().out
        report = json.loads((tmp_path / f"{split}.json").read_text())
        expected = len(s.part(split))
        assert f"scored {expected} images ({split} split of {root})" in out
        assert {k: v for k, v in report["data"].items() if k != "ids"} == {"uri": str(root), "split": split,
                                                                          "samples": expected}
        assert sorted(report["data"]["ids"]) == sorted(s.part(split))
        assert len(report["models"][0]["per_image_iou"]) == expected  # in the order of ids
        scores[split] = report["models"][0]["iou"]
    assert scores["val"] > 0.4 and scores["test"] < 0.3  # test masks are inverted: the default reads test


def test_evaluate_with_a_second_set_scores_every_image_of_it(tiny_model, tiny_dataset, tmp_path):
    from personseg.evaluate.step import EvalConfig, run

    extra = tmp_path / "extra"
    (extra / "images").mkdir(parents=True)
    (extra / "masks").mkdir()
    for image in sorted((tiny_dataset / "images").iterdir())[:3]:
        shutil.copy(image, extra / "images")
        shutil.copy(tiny_dataset / "masks" / f"{image.stem}.png", extra / "masks")
    result = run(EvalConfig(models=(f"m={tiny_model}",), data=str(tiny_dataset), rounds=1, measure_peak=False,
                            extra_data=str(extra)))
    assert result["extra_data"] == {"uri": str(extra), "split": "all", "samples": 3}
    assert 0 <= result["models"][0]["extra"]["iou"] <= 1


def test_letterbox_padding_does_not_count_in_iou(tmp_path):
    """A model that marks the padding as person loses nothing: the padding is not part of the photo."""
    from personseg.data.loading import load_dataset
    from personseg.quality import iou

    root = tmp_path / "wide"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.new("RGB", (64, 32), (90, 90, 90)).save(root / "images" / "w.png")
    mask = np.zeros((32, 64), np.uint8)
    mask[:, :32] = 255
    Image.fromarray(mask).save(root / "masks" / "w.png")
    labels = load_dataset(root, 64).labels[0]
    pred = np.zeros((64, 64), bool)
    pred[:, :32] = True  # the person half of the picture, plus the padding above and below it
    assert iou(pred, labels) == 1.0


def test_quantize_calibrates_on_train_tunes_on_val_and_uses_absolute_tolerance(poisoned, tiny_model, tmp_path):
    from personseg.quantize.step import QuantizeConfig, run

    root, s = poisoned
    metrics = run(QuantizeConfig(model=str(tiny_model), data=str(root), calibration=len(s.train),
                                 tolerable_iou_loss=0.02), tmp_path / "q")
    cfg = json.loads((tmp_path / "q" / "config.json").read_text())
    calib, tune = set(cfg["calibration"]["ids"]), set(cfg["tuning"]["ids"])
    assert calib == set(s.train) and set(s.val) <= tune and not (calib | tune) & set(s.test)
    assert cfg["tuning"]["tune"] == len(tune) >= 8 and metrics["tune_images"] == len(tune)
    q = cfg["quantization"]
    assert q["tolerable_iou_loss"] == 0.02
    assert q["tolerable_loss_relative"] == pytest.approx(0.02 / metrics["tune_iou_fp32"])


def test_tuning_set_has_a_floor_even_when_calibration_takes_all_of_train(tmp_path):
    from personseg.data.loading import LoadedData
    from personseg.quantize.calibration import MIN_TUNE, choose

    ids = [f"i{n:02d}" for n in range(12)]
    data = LoadedData(ids, np.zeros((12, 4, 4, 3), np.uint8), np.zeros((12, 4, 4), np.uint8), tmp_path)
    (tmp_path / "split.json").write_text(json.dumps({"train": ids[:9], "val": ids[9:11], "test": ids[11:]}))
    sets = choose(data, split_ids(ids, tmp_path), count=32)
    # 11 images cannot give 8 to calibrate and 8 more to tune: calibration keeps its floor, one training
    # image tunes apart from it, and 5 calibration images fill tuning up to its floor (said, and counted)
    assert len(sets.calibration.ids) == 8 and set(sets.calibration.ids) < set(ids[:9])
    assert len(sets.tune.ids) == MIN_TUNE
    assert sets.sizes == {"calibration": 8, "tune": MIN_TUNE, "tune_from_val": 2, "tune_from_train": 1,
                          "tune_overlap_with_calibration": 5}
    assert "i11" not in sets.tune.ids + sets.calibration.ids


def _selection_data(tmp_path, train: int, val: int):
    from personseg.data.loading import LoadedData

    ids = [f"i{n:03d}" for n in range(train + val + 1)]
    data = LoadedData(ids, np.zeros((len(ids), 4, 4, 3), np.uint8), np.zeros((len(ids), 4, 4), np.uint8), tmp_path)
    (tmp_path / "split.json").write_text(json.dumps({"train": ids[:train], "val": ids[train:train + val],
                                                     "test": ids[train + val:]}))
    return ids, data, split_ids(ids, tmp_path)


def test_calibration_is_a_seeded_random_sample_of_train_not_its_first_ids(tmp_path):
    from personseg.quantize.calibration import choose

    ids, data, split = _selection_data(tmp_path, train=200, val=10)
    sets = choose(data, split, count=16)
    picked = sets.calibration.ids
    assert len(picked) == 16 and set(picked) <= set(ids[:200])
    assert picked != ids[:16] and max(ids.index(i) for i in picked) >= 100  # spread over the people, not the first
    assert choose(data, split, count=16).calibration.ids == picked  # seeded: the same images every run
    assert choose(data, split, count=16, seed=1).calibration.ids != picked
    assert not set(sets.tune.ids) & set(picked) and sets.sizes["tune_overlap_with_calibration"] == 0


def test_tuning_stays_apart_from_calibration_when_the_data_allows(tmp_path, caplog):
    from personseg.quantize.calibration import MIN_TUNE, choose

    _, data, split = _selection_data(tmp_path, train=20, val=2)
    sets = choose(data, split, count=32)  # 32 asked, 22 images: calibration gives up 6 so tuning has 8 of its own
    assert sets.sizes == {"calibration": 14, "tune": MIN_TUNE, "tune_from_val": 2, "tune_from_train": 6,
                          "tune_overlap_with_calibration": 0}
    assert not set(sets.tune.ids) & set(sets.calibration.ids)
    _, data, split = _selection_data(tmp_path, train=9, val=2)
    with caplog.at_level("WARNING", logger="personseg.quantize.calibration"):
        assert choose(data, split, count=32).sizes["tune_overlap_with_calibration"] == 5
    assert "5 calibration image(s) also tune and measure agreement, which flatters it" in caplog.text


def test_relative_tolerance_converts_absolute_iou_points():
    from personseg.quantize.step import relative_tolerance

    assert relative_tolerance(0.005, 0.5) == pytest.approx(0.01)
    assert relative_tolerance(0.005, 0.0) == relative_tolerance(0.02, 0.01) == 0.999  # nothing left to lose
