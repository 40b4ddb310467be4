import json
import re

import numpy as np
import pytest
from import_fixtures import assert_nothing_written, read_map, rle_counts, run_import
from PIL import Image
from pycocotools import mask as coco_mask

from personseg.data.loading import load_dataset

H, W = 10, 12  # not square, so a swapped width/height shows


def _region(rows, cols):
    m = np.zeros((H, W), bool)
    m[rows, cols] = True
    return m


POLYGON = _region(slice(1, 5), slice(1, 5))  # COCO polygon (1,1)-(5,5) covers pixels 1..4
UNCOMPRESSED = _region(slice(6, 10), slice(0, 2))
COMPRESSED = _region(slice(6, 9), slice(6, 9))
CROWD = _region(slice(0, 3), slice(3, 8))  # overlaps the polygon at rows 1-2, cols 3-4
TINY = _region(slice(8, 9), slice(10, 11))  # 1 pixel: below --min-area 2
DOG = _region(slice(0, 10), slice(11, 12))


def _coco(tmp_path, **changes):
    src = tmp_path / "coco"
    src.mkdir()
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (W, H), (90, 120, 30)).save(src / name)
    compressed = coco_mask.encode(np.asfortranarray(COMPRESSED.astype(np.uint8)))
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]},
        {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0,
         "segmentation": {"counts": rle_counts(UNCOMPRESSED), "size": [H, W]}},
        {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0,
         "segmentation": {"counts": compressed["counts"].decode(), "size": [H, W]}},
        {"id": 4, "image_id": 1, "category_id": 1, "iscrowd": 1,
         "segmentation": {"counts": rle_counts(CROWD), "size": [H, W]}},
        {"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": [[10, 8, 11, 8, 11, 9, 10, 9]]},
        {"id": 6, "image_id": 1, "category_id": 18, "iscrowd": 0,
         "segmentation": {"counts": rle_counts(DOG), "size": [H, W]}},
    ]
    data = {"info": {"description": "tiny"}, "licenses": [{"id": 1, "name": "CC BY 4.0"}],
            "images": [{"id": 1, "file_name": "a.jpg", "width": W, "height": H, "license": 1},
                       {"id": 2, "file_name": "b.jpg", "width": W, "height": H, "license": 1}],
            "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}], "annotations": anns}
    for path, value in changes.items():
        target = data
        keys = path.split(".")
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        target[int(keys[-1]) if isinstance(target, list) else keys[-1]] = value
    (src / "instances.json").write_text(json.dumps(data))
    return src / "instances.json"


def test_instances_merge_crowd_and_small_become_ignore(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_import(capsys, "coco", _coco(tmp_path), out, "--min-area", "2")
    assert code == 0, err
    person = POLYGON | UNCOMPRESSED | COMPRESSED
    assert (read_map(out / "masks" / "a.png") == person).all()
    assert (read_map(out / "ignore" / "a.png") == ((CROWD | TINY) & ~person)).all()  # kept instances win
    assert sorted(p.name for p in (out / "images").iterdir()) == ["a.jpg"]  # b has no person
    assert (out / "images" / "a.jpg").read_bytes() == (tmp_path / "coco" / "a.jpg").read_bytes()  # copied as is
    card = json.loads((out / "dataset.json").read_text())
    assert card["name"] == "out" and card["format"] == "coco"
    assert card["counts"] == {"images": 1, "with_ignore": 1, "skipped_empty": 1}
    assert card["licence"]["licenses"] == [{"id": 1, "name": "CC BY 4.0"}]
    assert not (out / "split.json").exists()
    data = load_dataset(out, 12)
    assert data.ids == ["a"] and set(np.unique(data.labels)) == {0, 1, 255}


def test_keep_empty_and_min_area_default(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_import(capsys, "coco", _coco(tmp_path), out, "--keep-empty")
    assert code == 0, err
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["a.png", "b.png"]
    assert not read_map(out / "masks" / "b.png").any()
    assert read_map(out / "masks" / "a.png")[8, 10]  # without --min-area the 1-pixel instance is person
    assert load_dataset(out, 12).ids == ["a", "b"]


def test_test_from_second_json_becomes_the_test_part(tmp_path, capsys):
    src, out = _coco(tmp_path), tmp_path / "out"
    val = tmp_path / "val2017"
    val.mkdir()
    Image.new("RGB", (4, 4)).save(val / "c.jpg")
    val_json = tmp_path / "instances_val.json"
    val_json.write_text(json.dumps({
        "licenses": [{"id": 2, "name": "CC BY-SA"}],
        "images": [{"id": 7, "file_name": "c.jpg", "width": 4, "height": 4}],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]}]}))
    code, err = run_import(capsys, "coco", src, out, "--test-from", str(val_json), "--test-images", str(val))
    assert code == 0, err
    assert json.loads((out / "split.json").read_text()) == {"train": ["a"], "test": ["c"]}  # b: no person
    assert (read_map(out / "masks" / "c.png") == np.pad(np.ones((2, 2), bool), ((0, 2), (0, 2)))).all()
    card = json.loads((out / "dataset.json").read_text())
    assert card["licence"]["test"]["licenses"] == [{"id": 2, "name": "CC BY-SA"}]
    (val / "c.jpg").rename(val / "a.jpg")
    val_json.write_text(val_json.read_text().replace("c.jpg", "a.jpg"))  # an id in both parts
    out2 = tmp_path / "out2"
    code, err = run_import(capsys, "coco", src, out2, "--test-from", str(val_json), "--test-images", str(val))
    assert code == 2 and "instances_val.json: images[0]: duplicate image id 'a'" in err
    assert_nothing_written(out2)


def test_size_downsizes_long_side(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_import(capsys, "coco", _coco(tmp_path), out, "--size", "8")
    assert code == 0, err
    assert Image.open(out / "images" / "a.jpg").size == (8, 7)  # 12x10 -> 8 x round(6.67)
    mask = np.asarray(Image.open(out / "masks" / "a.png"))
    assert mask.shape == (7, 8) and set(np.unique(mask)) == {0, 255}  # nearest: still binary
    assert load_dataset(out, 8).ids == ["a"]


@pytest.mark.parametrize("change,message", [
    ({"annotations.0.segmentation": [[1, 1, 5]]}, r"instances.json: annotations\[0\].segmentation\[0\]: .*got 3"),
    ({"annotations.1.image_id": 99}, r"instances.json: annotations\[1\].image_id 99: no such image"),
    ({"images.1.file_name": "gone.jpg"}, r"instances.json: images\[1\].file_name 'gone.jpg': no such file"),
    ({"annotations.3.segmentation": {"counts": [5, 3], "size": [H, W]}},
     r"instances.json: annotations\[3\].segmentation.counts: uncompressed RLE"),
    ({"annotations.2.segmentation": {"counts": "!!", "size": [H, W]}},
     r"instances.json: annotations\[2\].segmentation.counts: not a valid compressed RLE"),
    ({"annotations.2.segmentation": {"counts": "PP", "size": [H + 1, W]}},
     r"instances.json: annotations\[2\].segmentation.size \[11, 12\]"),
    ({"images.0.width": W + 1}, r"instances.json: annotations\[1\].segmentation.size \[10, 12\]: the image is "
                                r"\[10, 13\]"),
])
def test_malformed_names_file_and_field_and_writes_nothing(tmp_path, capsys, change, message):
    out = tmp_path / "out"
    code, err = run_import(capsys, "coco", _coco(tmp_path, **change), out)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert_nothing_written(out)


def test_image_file_of_another_size_is_refused(tmp_path, capsys):
    src = _coco(tmp_path)
    Image.new("RGB", (7, 7)).save(src.parent / "b.jpg")
    out = tmp_path / "out"
    code, err = run_import(capsys, "coco", src, out, "--keep-empty")
    assert code == 2 and re.search(r"instances.json: images\[1\]: annotation is 12x10 but image .*b.jpg is 7x7", err)
    assert_nothing_written(out)


def test_unknown_category_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_import(capsys, "coco", _coco(tmp_path), out, "--category", "cat")
    assert code == 2 and "categories: no category named 'cat'" in err
    assert_nothing_written(out)


def test_compressed_rle_whose_runs_fall_short_is_refused(tmp_path, capsys):
    short = coco_mask.encode(np.asfortranarray(COMPRESSED[:, :-1].astype(np.uint8)))["counts"].decode()
    out = tmp_path / "out"
    code, err = run_import(capsys, "coco", _coco(tmp_path, **{"annotations.2.segmentation":
                                                              {"counts": short, "size": [H, W]}}), out)
    assert code == 2 and re.search(r"annotations\[2\].segmentation.counts: compressed RLE runs sum to 110, "
                                   r"not 120", err), err
    assert_nothing_written(out)


def test_duplicate_image_ids_are_refused(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_import(capsys, "coco", _coco(tmp_path, **{"images.1.id": 1}), out)
    assert code == 2 and re.search(r"instances.json: images\[1\].id 1: also the id of images\[0\]", err), err
    assert_nothing_written(out)


def test_box_only_person_becomes_ignore_and_without_a_box_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    src = _coco(tmp_path, **{"annotations.0.segmentation": [], "annotations.0.bbox": [1, 1, 4, 4]})
    code, err = run_import(capsys, "coco", src, out)
    assert code == 0, err
    assert not (read_map(out / "masks" / "a.png") & POLYGON).any()
    assert (read_map(out / "ignore" / "a.png") & POLYGON).sum() == POLYGON.sum()  # the box is ignore
    data = json.loads(src.read_text())
    del data["annotations"][0]["bbox"]
    src.write_text(json.dumps(data))
    out2 = tmp_path / "out2"
    code, err = run_import(capsys, "coco", src, out2)
    assert code == 2 and "annotations[0]: 'segmentation' is empty and 'bbox' is not" in err, err
    assert_nothing_written(out2)


def _val_json(tmp_path, file_name, segmentation):
    val = tmp_path / "val2017"
    val.mkdir(exist_ok=True)
    Image.new("RGB", (4, 4)).save(val / file_name)
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps({
        "images": [{"id": 7, "file_name": file_name, "width": 4, "height": 4}],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "segmentation": segmentation}]}))
    return path, val


def test_test_from_id_skipped_in_train_is_still_a_duplicate(tmp_path, capsys):
    """b has no person in train; a test image also named b must not put 'b' in both parts."""
    val_json, val = _val_json(tmp_path, "b.jpg", [[0, 0, 2, 0, 2, 2, 0, 2]])
    out = tmp_path / "out"
    code, err = run_import(capsys, "coco", _coco(tmp_path), out, "--test-from", str(val_json),
                           "--test-images", str(val))
    assert code == 2 and "instances_val.json: images[0]: duplicate image id 'b'" in err, err
    assert_nothing_written(out)


def test_each_image_is_its_own_group_unless_group_by(tmp_path, capsys):
    src = _coco(tmp_path, **{"annotations.5.category_id": 1, "annotations.5.image_id": 2})  # b: a person
    out = tmp_path / "out"
    code, err = run_import(capsys, "coco", src, out)
    assert code == 0, err
    assert json.loads((out / "dataset.json").read_text())["groups"] == {"instances.json#1": ["a"],
                                                                         "instances.json#2": ["b"]}
    out2 = tmp_path / "out2"
    code, err = run_import(capsys, "coco", src, out2, "--group-by", "^[ab]")
    assert code == 0, err
    assert json.loads((out2 / "dataset.json").read_text())["groups"] == {"a": ["a"], "b": ["b"]}
    code, err = run_import(capsys, "coco", src, tmp_path / "out3", "--group-by", "^a")
    assert code == 2 and "--group-by '^a': does not match the id 'b'" in err, err
