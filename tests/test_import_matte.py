import re

import numpy as np
from import_fixtures import assert_nothing_written, read_map, run_import
from PIL import Image

from personseg.data.loading import load_dataset

# alpha / 255 per column: 0, .078, .118, .498, .502, .784, .902, 1
ALPHA = np.tile(np.array([0, 20, 30, 127, 128, 200, 230, 255], np.uint8), (8, 1))
PERSON = np.tile(np.array([0, 0, 0, 0, 1, 1, 1, 1], bool), (8, 1))  # alpha >= 0.5
BAND = np.tile(np.array([0, 0, 1, 1, 1, 1, 0, 0], bool), (8, 1))  # 0.1 < alpha < 0.9


def _rgba(folder, name="cut"):
    folder.mkdir(parents=True, exist_ok=True)
    rgba = np.dstack([np.full((8, 8, 3), 99, np.uint8), ALPHA])
    Image.fromarray(rgba, mode="RGBA").save(folder / f"{name}.png")
    return folder


def test_rgba_alpha_threshold_and_band(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_import(capsys, "matte", _rgba(tmp_path / "src"), out)
    assert code == 0, err
    assert (read_map(out / "masks" / "cut.png") == PERSON).all()
    assert (read_map(out / "ignore" / "cut.png") == BAND).all()
    assert Image.open(out / "images" / "cut.png").mode == "RGB"
    labels = load_dataset(out, 8).labels[0]
    assert (labels == np.where(BAND, 255, PERSON)).all()


def test_image_and_alpha_folders_with_custom_band(tmp_path, capsys):
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "images").mkdir(parents=True)
    (src / "alpha").mkdir()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(src / "images" / "p1.jpg")
    Image.fromarray(ALPHA, mode="L").save(src / "alpha" / "p1.png")
    code, err = run_import(capsys, "matte", src, out, "--band-low", "0.05", "--band-high", "0.5")
    assert code == 0, err
    assert (read_map(out / "masks" / "p1.png") == PERSON).all()
    assert (read_map(out / "ignore" / "p1.png") == np.tile(np.array([0, 1, 1, 1, 0, 0, 0, 0], bool), (8, 1))).all()
    assert (out / "images" / "p1.jpg").is_file()


def test_rgb_without_alpha_is_an_error(tmp_path, capsys):
    src, out = _rgba(tmp_path / "src"), tmp_path / "out"
    Image.new("RGB", (8, 8)).save(src / "flat.png")
    code, err = run_import(capsys, "matte", src, out)
    assert code == 2 and re.search(r"src/flat.png: mode RGB has no alpha channel", err), err
    assert_nothing_written(out)


def test_rgba_picture_with_constant_alpha_is_refused(tmp_path, capsys):
    src, out = _rgba(tmp_path / "src"), tmp_path / "out"
    Image.new("RGBA", (8, 8), (10, 20, 30, 255)).save(src / "opaque.png")  # an ordinary photo saved as RGBA
    code, err = run_import(capsys, "matte", src, out)
    assert code == 2 and re.search(r"src/opaque.png: its alpha is 255 everywhere, so it holds no matte", err), err
    assert_nothing_written(out)


def test_greyscale_matte_with_an_opaque_alpha_reads_its_grey_level(tmp_path, capsys):
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "images").mkdir(parents=True)
    (src / "alpha").mkdir()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(src / "images" / "la.jpg")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(src / "images" / "rgba.jpg")
    Image.fromarray(np.dstack([ALPHA, np.full((8, 8), 255, np.uint8)]), mode="LA").save(src / "alpha" / "la.png")
    Image.fromarray(np.dstack([ALPHA, ALPHA, ALPHA, np.full((8, 8), 255, np.uint8)]), mode="RGBA").save(
        src / "alpha" / "rgba.png")
    code, err = run_import(capsys, "matte", src, out)
    assert code == 0, err
    for name in ("la", "rgba"):
        assert (read_map(out / "masks" / f"{name}.png") == PERSON).all()
        assert (read_map(out / "ignore" / f"{name}.png") == BAND).all()
