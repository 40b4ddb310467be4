"""Retraining driven by the data: fingerprints (local and on a real S3 server) and the retrain decision."""

from __future__ import annotations

from pathlib import Path

import pytest
import storage_fixtures
from storage_fixtures import DATA_BUCKET, make_dataset, make_model_dir, publish, unique_name, unique_prefix

from personseg.data.fingerprint import dataset_fingerprint
from personseg.errors import UserError
from personseg.steps.retrain_check import check_retrain, make_key, parse_key, recipe_sha256, training_card

s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env

RECIPE = {"image_size": 64, "width": 8, "epochs": 1, "composite": 0.0, "photometric": 0.0, "background_hue": 0.0,
          "backgrounds": "", "seed": 0,
          "swap_design": "lean4",
          "swap_epochs": 1,
          "calibration_size": 8, "tolerable_iou_loss": 0.02, "candidates": "bilinear:onnxruntime,swapped:onnxruntime"}


def test_local_fingerprint_follows_content(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", count=3)
    first = dataset_fingerprint(str(root))
    assert dataset_fingerprint(str(root)) == first
    mask = next((root / "masks").iterdir())
    mask.write_bytes(mask.read_bytes() + b"\0")
    assert dataset_fingerprint(str(root)) != first
    assert dataset_fingerprint("synthetic:16") == dataset_fingerprint("synthetic:16") != dataset_fingerprint(
        "synthetic:17")
    assert len(dataset_fingerprint("demo")) == 64


def test_s3_fingerprint_is_the_listing_and_changes_with_any_object(s3_env, tmp_path: Path) -> None:
    from personseg.storage.client import Store
    from personseg.storage.datasets import push_dataset

    uri = unique_prefix()
    push_dataset(make_dataset(tmp_path / "ds", count=3), uri)
    first = dataset_fingerprint(uri)
    assert dataset_fingerprint(uri) == first  # same objects, same fingerprint (no download, no timestamps)
    store, bucket, key = Store.from_env(), DATA_BUCKET, uri.split("/", 3)[3] + "/masks/extra.png"
    store.put_bytes(bucket, key, b"new object")
    changed = dataset_fingerprint(uri)
    assert changed != first
    store.put_bytes(bucket, key, b"new bytes!")  # same size, new content: the ETag changes
    assert dataset_fingerprint(uri) not in (first, changed)
    with pytest.raises(UserError, match="no objects under this prefix"):
        dataset_fingerprint(unique_prefix())


def test_retrain_decision_against_the_production_card(s3_env, tmp_path: Path) -> None:
    from personseg.storage.registry import Registry

    name = unique_name()
    first = check_retrain("synthetic:16", RECIPE, name)
    assert first.key and "no production model" in first.markdown
    registry = Registry.from_env()
    version = publish(registry, make_model_dir(tmp_path / "m"), name, training_card("synthetic:16", first.key))
    registry.promote(name, version, "production")

    same = check_retrain("synthetic:16", RECIPE, name)
    assert same.key == "" and f"No new data since version {version}" in same.markdown
    assert "force_retrain=true" in same.markdown
    new_data = check_retrain("synthetic:17", RECIPE, name)
    assert new_data.key and "new data since version" in new_data.markdown
    with_people = check_retrain("synthetic:16", RECIPE, name, extra_train_uri="people")
    assert with_people.key and "new data since version" in with_people.markdown
    choose_on_people = check_retrain("synthetic:16", RECIPE, name, extra_val_uri="people")
    assert choose_on_people.key and "plus extra validation set `people`" in choose_on_people.markdown
    assert len({with_people.key, choose_on_people.key}) == 2  # the same photos in val are another model
    new_recipe = check_retrain("synthetic:16", {**RECIPE, "epochs": 2}, name)
    assert new_recipe.key and "a changed recipe" in new_recipe.markdown
    other_candidates = check_retrain("synthetic:16", {**RECIPE, "candidates": "swapped:onnxruntime"}, name)
    assert other_candidates.key and "a changed recipe" in other_candidates.markdown
    forced = check_retrain("synthetic:16", RECIPE, name, force=True)
    assert forced.key and forced.key != check_retrain("synthetic:16", RECIPE, name, force=True).key
    assert parse_key(forced.key)["data"] == parse_key(first.key)["data"]  # forcing changes only the cache key


def test_changed_background_photos_retrain_though_their_folder_is_the_same(s3_env, tmp_path: Path) -> None:
    """``backgrounds`` shapes the model through its photos: the recipe hash follows their content."""
    from PIL import Image

    from personseg.storage.registry import Registry

    folder = tmp_path / "empty-rooms"
    folder.mkdir()
    Image.new("RGB", (32, 24), (10, 20, 30)).save(folder / "a.png")
    recipe, name = {**RECIPE, "composite": 0.5, "backgrounds": str(folder)}, unique_name()
    first = check_retrain("synthetic:16", recipe, name)
    registry = Registry.from_env()
    version = publish(registry, make_model_dir(tmp_path / "m"), name, training_card("synthetic:16", first.key))
    registry.promote(name, version, "production")
    assert check_retrain("synthetic:16", recipe, name).key == ""  # same photos: nothing to do
    Image.new("RGB", (32, 24), (200, 20, 30)).save(folder / "a.png")
    changed = check_retrain("synthetic:16", recipe, name)
    assert changed.key and "a changed recipe" in changed.markdown
    assert parse_key(changed.key)["data"] == parse_key(first.key)["data"]


def test_background_photos_under_a_prefix_are_fingerprinted_by_their_listing(s3_env) -> None:
    from personseg.data.scenes import backgrounds_fingerprint
    from personseg.storage.client import Store

    uri = unique_prefix()
    store, key = Store.from_env(), uri.split("/", 3)[3]
    store.put_bytes(DATA_BUCKET, f"{key}/room.jpg", b"first photo")
    first = backgrounds_fingerprint(uri)
    assert first == backgrounds_fingerprint(uri) and len(first) == 64
    store.put_bytes(DATA_BUCKET, f"{key}/room.jpg", b"other photo")  # same name and size, new content
    assert backgrounds_fingerprint(uri) != first
    assert backgrounds_fingerprint("") == ""


def test_keys_and_recipes() -> None:
    key = make_key("a" * 64, "b" * 64)
    assert parse_key(key) == {"data": "a" * 64, "recipe": "b" * 64}
    assert training_card("demo", key)["training"] == {"dataset_uri": "demo", "data_fingerprint": "a" * 64,
                                                      "recipe_sha256": "b" * 64, "forced": False}
    assert recipe_sha256(RECIPE) == recipe_sha256({**RECIPE, "min_speedup": 9})  # unrelated settings: same
    shaping = ({"seed": 1}, {"composite": 0.5}, {"photometric": 0.3}, {"background_hue": 0.5},
               {"backgrounds": "scenes"})
    for changed in shaping:  # what shapes the model: a different recipe
        assert recipe_sha256(RECIPE) != recipe_sha256({**RECIPE, **changed}), changed
    with pytest.raises(UserError, match="missing epochs"):
        recipe_sha256({k: v for k, v in RECIPE.items() if k != "epochs"})
    with pytest.raises(UserError, match="expected data=<sha256>;recipe=<sha256>"):
        parse_key("garbage")
