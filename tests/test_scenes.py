"""Scene backgrounds (``--backgrounds``): which photos, how they are cropped, and composites built on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import storage_fixtures
import torch
from PIL import Image
from pipeline_fixtures import check_data_args
from storage_fixtures import DATA_BUCKET, unique_prefix

from personseg.data import IGNORE
from personseg.data import scenes as scenes_module
from personseg.data.augment import AugmentConfig
from personseg.data.composite import compose
from personseg.data.prescan import prescan
from personseg.data.scenes import STOCK, Scenes, check_backgrounds, resolve_backgrounds
from personseg.data.stream import StreamDataset
from personseg.errors import UserError
from personseg.storage.client import Store
from personseg.training.step import TrainConfig

s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env

ROOT = Path(__file__).resolve().parents[1]
RED = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
S = 64


def photo(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (80, 60)) -> Path:
    """A flat-coloured photo at ``path``."""
    Image.new("RGB", size, rgb).save(path)
    return path


def ramp(path: Path, size: tuple[int, int] = (120, 90)) -> Path:
    """A photo whose red channel rises left to right (so a crop's position and flip show)."""
    w, h = size
    row = np.linspace(0, 255, w).round().astype(np.uint8)
    pixels = np.zeros((h, w, 3), np.uint8)
    pixels[..., 0] = row
    Image.fromarray(pixels).save(path)
    return path


def test_the_committed_scenes_are_what_scenes_names():
    folder = resolve_backgrounds(STOCK)
    assert folder == ROOT / "datasets" / "scenes" / "images"
    files = Scenes(folder).files
    assert len(files) == 25 and all(p.suffix == ".jpg" for p in files)
    with Image.open(files[0]) as img:
        assert max(img.size) <= scenes_module.MAX_SIDE
    assert resolve_backgrounds("") is None


def test_a_folder_or_a_dataset_folder_is_read_and_bad_ones_are_named(tmp_path: Path):
    photo(tmp_path / "a.png", (0, 200, 0))
    assert resolve_backgrounds(str(tmp_path)) == tmp_path
    (tmp_path / "set" / "images").mkdir(parents=True)
    photo(tmp_path / "set" / "images" / "b.jpg", (0, 0, 200))
    assert resolve_backgrounds(str(tmp_path / "set")) == tmp_path / "set" / "images"
    with pytest.raises(UserError, match=f"--backgrounds {tmp_path / 'nope'}: no such directory"):
        check_backgrounds(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no photos here")
    with pytest.raises(UserError, match="empty: no .jpg/"):
        check_backgrounds(str(tmp_path / "empty"))
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="broken.jpg: not a readable image"):
        check_backgrounds(str(tmp_path))


def test_a_draw_is_a_crop_of_one_photo_chosen_by_the_generator_and_all_background(tmp_path: Path):
    photo(tmp_path / "green.png", (0, 255, 0))
    photo(tmp_path / "blue.png", (0, 0, 255), size=(40, 100))
    scenes = Scenes(tmp_path)
    seen = set()
    for seed in range(12):
        image, labels = scenes.draw(S, torch.Generator().manual_seed(seed))
        again, _ = scenes.draw(S, torch.Generator().manual_seed(seed))
        assert torch.equal(image, again)  # the generator decides everything
        assert image.shape == (3, S, S) and labels.shape == (1, S, S) and not labels.any()
        colour = image.mean(dim=(1, 2))
        assert torch.allclose(image, colour[:, None, None], atol=1e-3)  # one flat photo, not a blend of two
        seen.add(int(colour.argmax()))
    assert seen == {1, 2}  # both photos are drawn


def test_crops_vary_in_place_size_and_direction(tmp_path: Path):
    scenes = Scenes(ramp(tmp_path / "ramp.png").parent)
    lefts, spans, directions = [], [], set()
    for seed in range(30):
        red = scenes.draw(S, torch.Generator().manual_seed(seed))[0][0]
        edge = red[:, [1, -2]].mean(0)  # the red level near the left and the right edge
        lefts.append(float(edge.min()))
        spans.append(float((edge[1] - edge[0]).abs()))
        directions.add(bool(edge[1] > edge[0]))
    assert directions == {True, False}  # flipped half the time
    assert max(spans) > 0.55 and min(spans) < 0.45  # a crop is 30-100 % of the shorter side (90 of 120 px)
    assert max(lefts) - min(lefts) > 0.1  # at different places


def test_large_photos_are_shrunk_and_the_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for i in range(4):
        photo(tmp_path / f"p{i}.png", (60 * i, 0, 0), size=(1600, 1200))
    monkeypatch.setattr(scenes_module, "CACHE", 2)
    scenes = Scenes(tmp_path)
    for seed in range(16):
        scenes.draw(S, torch.Generator().manual_seed(seed))
    assert len(scenes._decoded) <= 2
    assert all(max(t.shape[1:]) == scenes_module.MAX_SIDE and t.dtype == torch.uint8 for t in scenes._decoded.values())


def test_composites_on_scenes_keep_labels_on_people(tmp_path: Path):
    scenes = Scenes(photo(tmp_path / "green.png", (0, 255, 0)).parent)
    person = torch.zeros(3, S, S)
    person[2] = 1.0
    labels = torch.zeros(1, S, S, dtype=torch.uint8)
    person[:, 20:40, 24:36] = RED
    labels[0, 20:40, 24:36] = 1
    on_scene = 0
    for seed in range(16):
        image, out = compose((person, labels), lambda: (person, labels), torch.Generator().manual_seed(seed),
                             scenes=scenes)
        red = (image - RED).abs().amax(0) < 1e-5
        assert red[out[0] == 1].all() and ((out[0] == 1) | (out[0] == IGNORE))[red].all()
        green = (image - torch.tensor([0.0, 1.0, 0.0])[:, None, None]).abs().amax(0) < 1e-3
        if green.float().mean() > 0.3:  # this one's background was the scene
            on_scene += 1
            assert (out[0][green] == 0).all()
    assert 0 < on_scene < 16  # a quarter of composites, give or take: the other three kinds still occur


def test_the_stream_uses_the_committed_scenes_the_same_way_in_any_process(tiny_dataset: Path):
    data = prescan(tiny_dataset, S)
    cfg = AugmentConfig(composite=1.0, backgrounds=STOCK)
    a, b = StreamDataset(data, cfg, seed=3), StreamDataset(data, cfg, seed=3)
    plain = StreamDataset(data, AugmentConfig(composite=1.0), seed=3)
    for index in reversed(range(len(b))):
        b[(1, index)]  # b has decoded its photos in another order
    differs = 0
    for index in range(len(a)):
        xa, ya, _, _ = a[(1, index)]
        xb, yb, _, _ = b[(1, index)]
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        differs += int(not torch.equal(xa, plain[(1, index)][0]))
    assert differs  # some composites were built on scenes


def test_train_config_checks_the_backgrounds_before_training(tmp_path: Path):
    with pytest.raises(UserError, match="--backgrounds scenes: used only by composites"):
        TrainConfig(data="d", composite=0.0, backgrounds=STOCK).check()
    with pytest.raises(UserError, match="--backgrounds nowhere: no such directory"):
        TrainConfig(data="d", composite=0.5, backgrounds="nowhere").check()
    assert TrainConfig(data="d", composite=0.5, backgrounds=STOCK).augmentation() == AugmentConfig(
        composite=0.5, backgrounds=STOCK)


def test_backgrounds_under_an_s3_prefix_are_fetched_once_and_drawn_like_a_folder(s3_env, tmp_path: Path):
    """A real S3 server (``weed mini``): the pipeline's train step reads a user's photos this way."""
    store = Store.from_env()
    prefix = unique_prefix()
    key = prefix.removeprefix(f"s3://{DATA_BUCKET}/")
    for name, rgb in (("green.png", (0, 255, 0)), ("blue.png", (0, 0, 255))):
        store.upload_file(DATA_BUCKET, f"{key}/images/{name}", photo(tmp_path / name, rgb))
    folder = resolve_backgrounds(prefix)
    assert folder.name == "images" and str(tmp_path / "cache") in str(folder)  # in the cache, read from images/
    assert resolve_backgrounds(prefix) == folder  # fetched once: the same cached copy
    scenes = Scenes(folder)
    assert [p.name for p in scenes.files] == ["blue.png", "green.png"]
    local = Scenes(tmp_path)
    for seed in range(4):  # the same photos give the same draws wherever they came from
        assert torch.equal(scenes.draw(S, torch.Generator().manual_seed(seed))[0],
                           local.draw(S, torch.Generator().manual_seed(seed))[0])
    empty = unique_prefix()
    with pytest.raises(UserError, match=f"{empty}: no objects under this prefix"):
        check_backgrounds(empty)


def test_the_pipelines_first_step_rejects_bad_backgrounds_before_anything_else(tmp_path: Path):
    """``check_data`` runs first and uncached: a typo in ``backgrounds`` must end the run there."""
    from personseg_kfp.components.check_data import check_data

    args = check_data_args(image_size=S, width=8, epochs=1, composite=0.5)
    with pytest.raises(UserError, match=f"^backgrounds {tmp_path / 'nope'}: no such directory"):
        check_data.python_func(**{**args, "backgrounds": str(tmp_path / "nope")})
