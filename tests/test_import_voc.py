import json
import re

import numpy as np
from import_fixtures import assert_nothing_written, read_map, run_import
from PIL import Image

from personseg.data.loading import load_dataset

H, W = 8, 10
PALETTE = [0, 0, 0, 128, 0, 0] + [0, 0, 0] * 13 + [192, 128, 128] + [0, 0, 0] * 239 + [224, 224, 192]


def _classes(person_rows=slice(2, 6), person_cols=slice(3, 7)):
    """Person (15) ringed by a 1-pixel void (255) border, as VOC draws it, and a class-1 object."""
    c = np.zeros((H, W), np.uint8)
    r0, r1, c0, c1 = person_rows.start, person_rows.stop, person_cols.start, person_cols.stop
    c[r0 - 1 : r1 + 1, c0 - 1 : c1 + 1] = 255
    c[person_rows, person_cols] = 15
    c[0:2, 8:10] = 1
    return c


def _voc(tmp_path, ids=("2007_000032", "2007_000033", "2007_000039")):
    src = tmp_path / "VOC2012"
    for sub in ("SegmentationClass", "JPEGImages", "ImageSets/Segmentation"):
        (src / sub).mkdir(parents=True)
    for i in ids:
        img = Image.fromarray(_classes(), mode="P")
        img.putpalette(PALETTE)
        img.save(src / "SegmentationClass" / f"{i}.png")
        Image.new("RGB", (W, H), (50, 60, 70)).save(src / "JPEGImages" / f"{i}.jpg")
    (src / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids[:2]) + "\n")
    (src / "ImageSets/Segmentation/val.txt").write_text(ids[2] + "\n")
    return src


def test_class_15_is_person_void_is_ignore_and_split_kept(tmp_path, capsys):
    src, out = _voc(tmp_path), tmp_path / "out"
    code, err = run_import(capsys, "voc", src, out)
    assert code == 0, err
    classes = _classes()
    assert (read_map(out / "masks" / "2007_000032.png") == (classes == 15)).all()
    assert (read_map(out / "ignore" / "2007_000032.png") == (classes == 255)).all()
    assert json.loads((out / "split.json").read_text()) == {"train": ["2007_000032", "2007_000033"],
                                                          "test": ["2007_000039"]}
    data = load_dataset(out, 10)
    assert len(data.ids) == 3 and (data.labels[0][1:9] == np.where(classes == 255, 255, classes == 15)).all()


def test_another_class_and_empty_images_dropped(tmp_path, capsys):
    src, out = _voc(tmp_path), tmp_path / "out"
    code, err = run_import(capsys, "voc", src, out, "--class", "1")
    assert code == 0, err
    assert (read_map(out / "masks" / "2007_000039.png") == (_classes() == 1)).all()


def test_split_without_test_images_is_not_written(tmp_path, capsys, caplog):
    src, out = _voc(tmp_path), tmp_path / "out"
    blank = Image.fromarray(np.zeros((H, W), np.uint8), mode="P")
    blank.putpalette(PALETTE)
    blank.save(src / "SegmentationClass" / "2007_000039.png")  # the only val image has no person: dropped
    code, err = run_import(capsys, "voc", src, out)
    assert code == 0, err
    assert not (out / "split.json").exists() and "no test image" in caplog.text


def test_rgb_class_map_is_an_error_naming_the_file(tmp_path, capsys):
    src, out = _voc(tmp_path), tmp_path / "out"
    Image.new("RGB", (W, H), (192, 128, 128)).save(src / "SegmentationClass" / "2007_000033.png")
    code, err = run_import(capsys, "voc", src, out)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert re.search(r"SegmentationClass/2007_000033.png: mode RGB, expected a palette \(P\) PNG", err), err
    assert_nothing_written(out)


def test_missing_jpeg_is_an_error(tmp_path, capsys):
    src, out = _voc(tmp_path), tmp_path / "out"
    (src / "JPEGImages" / "2007_000039.jpg").unlink()
    code, err = run_import(capsys, "voc", src, out)
    assert code == 2 and "SegmentationClass/2007_000039.png: no image" in err
    assert_nothing_written(out)


def test_upper_case_jpg_and_voc2007_test_list(tmp_path, capsys):
    src, out = _voc(tmp_path, ids=("000032", "000033", "000039", "000042")), tmp_path / "out"
    (src / "JPEGImages" / "000033.jpg").rename(src / "JPEGImages" / "000033.JPG")
    (src / "ImageSets/Segmentation/val.txt").write_text("000039\n")
    (src / "ImageSets/Segmentation/test.txt").write_text("000042\n")
    code, err = run_import(capsys, "voc", src, out)
    assert code == 0, err
    assert (out / "images" / "000033.jpg").is_file()
    assert json.loads((out / "split.json").read_text()) == {"train": ["000032", "000033"], "val": ["000039"],
                                                          "test": ["000042"]}


def test_an_id_listed_in_two_parts_is_refused(tmp_path, capsys):
    src, out = _voc(tmp_path), tmp_path / "out"
    (src / "ImageSets/Segmentation/val.txt").write_text("2007_000033\n2007_000039\n")
    code, err = run_import(capsys, "voc", src, out)
    assert code == 2 and "its split puts '2007_000033' in both train and test" in err, err
    assert_nothing_written(out)
