import base64
import io
import json
import re
import shutil
import zlib

import numpy as np
from import_fixtures import assert_nothing_written, read_map, run_import
from PIL import Image

from personseg.data.loading import load_dataset

H, W = 10, 12
BITMAP = np.array([[1, 1, 0], [0, 1, 1]], bool)


def _encode(mask):
    """Supervisely's own ``mask_2_base64``: a 2-colour palette PNG, index 0 transparent, zlib, base64."""
    img = Image.fromarray(mask.astype(np.uint8))
    img.putpalette([0, 0, 0, 255, 255, 255])
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=0, optimize=0)
    return base64.b64encode(zlib.compress(buf.getvalue())).decode()


def _expected():
    m = np.zeros((H, W), bool)
    m[1:3, 7:10] = BITMAP  # origin is [x, y] = [7, 1]
    m[3:9, 1:6] = True  # exterior (1,3)-(5,8), outline included
    m[5:7, 2:4] = False  # the hole (2,5)-(3,6)
    return m


def _project(tmp_path, objects=None):
    ds = tmp_path / "project" / "ds0"
    (ds / "ann").mkdir(parents=True)
    (ds / "img").mkdir()
    Image.new("RGB", (W, H), (10, 200, 30)).save(ds / "img" / "frame.jpg")
    objects = objects if objects is not None else [
        {"classTitle": "person", "geometryType": "bitmap", "bitmap": {"data": _encode(BITMAP), "origin": [7, 1]}},
        {"classTitle": "person", "geometryType": "polygon",
         "points": {"exterior": [[1, 3], [5, 3], [5, 8], [1, 8]], "interior": [[[2, 5], [3, 5], [3, 6], [2, 6]]]}},
        {"classTitle": "car", "geometryType": "bitmap", "bitmap": {"data": _encode(np.ones((2, 2))), "origin": [0, 0]}},
    ]
    (ds / "ann" / "frame.jpg.json").write_text(json.dumps({"size": {"height": H, "width": W}, "objects": objects}))
    return tmp_path / "project"


def test_bitmap_and_polygon_with_hole(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_import(capsys, "supervisely", _project(tmp_path), out)
    assert code == 0, err
    assert (read_map(out / "masks" / "frame.png") == _expected()).all()
    assert not (out / "ignore").exists()
    assert load_dataset(out, 12).ids == ["frame"]


def test_bad_base64_names_file_and_field(tmp_path, capsys):
    out = tmp_path / "out"
    bad = [{"classTitle": "person", "geometryType": "bitmap", "bitmap": {"data": "not*base64", "origin": [0, 0]}}]
    code, err = run_import(capsys, "supervisely", _project(tmp_path, bad), out)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert re.search(r"ann/frame.jpg.json: objects\[0\].bitmap.data: not base64 of a PNG", err), err
    assert_nothing_written(out)


def test_two_point_polygon_and_overflowing_bitmap_are_errors(tmp_path, capsys):
    out = tmp_path / "out"
    short = [{"classTitle": "person", "geometryType": "polygon", "points": {"exterior": [[0, 0], [3, 3]]}}]
    code, err = run_import(capsys, "supervisely", _project(tmp_path, short), out)
    assert code == 2 and "objects[0].points.exterior: a polygon needs at least 3 points; got 2" in err
    assert_nothing_written(out)
    wide = [{"classTitle": "person", "geometryType": "bitmap", "bitmap": {"data": _encode(BITMAP), "origin": [11, 0]}}]
    (tmp_path / "project" / "ds0" / "ann" / "frame.jpg.json").write_text(
        json.dumps({"size": {"height": H, "width": W}, "objects": wide}))
    code, err = run_import(capsys, "supervisely", tmp_path / "project", out)
    assert code == 2 and "objects[0].bitmap: 3x2 at origin [11, 0] runs outside the 12x10 image" in err
    assert_nothing_written(out)


def test_class_not_in_meta_json_names_the_known_classes(tmp_path, capsys):
    project, out = _project(tmp_path), tmp_path / "out"
    (project / "meta.json").write_text(json.dumps({"classes": [{"title": "person", "shape": "bitmap"},
                                                               {"title": "car", "shape": "bitmap"}], "tags": []}))
    code, err = run_import(capsys, "supervisely", project, out, "--class", "Person", "--keep-empty")
    assert code == 2 and re.search(r"--class 'Person': .*project/meta.json lists no such class; known: person, car",
                                   err), err
    assert_nothing_written(out)


def test_class_found_in_no_object_is_refused_without_meta_json(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_import(capsys, "supervisely", _project(tmp_path), out, "--class", "Person", "--keep-empty")
    assert code == 2 and "--class 'Person': no object of that class; the annotations have car, person" in err, err
    assert_nothing_written(out)


def test_train_and_val_datasets_become_the_split(tmp_path, capsys):
    project, out = _project(tmp_path), tmp_path / "out"
    (project / "ds0").rename(project / "train")
    shutil.copytree(project / "train", project / "val")
    (project / "val" / "img" / "frame.jpg").rename(project / "val" / "img" / "other.jpg")
    (project / "val" / "ann" / "frame.jpg.json").rename(project / "val" / "ann" / "other.jpg.json")
    code, err = run_import(capsys, "supervisely", project, out)
    assert code == 0, err
    assert json.loads((out / "split.json").read_text()) == {"train": ["frame"], "test": ["other"]}


def test_bitmap_as_plain_base64_png_is_read(tmp_path, capsys):
    plain = base64.b64encode(zlib.decompress(base64.b64decode(_encode(BITMAP)))).decode()
    objects = [{"classTitle": "person", "geometryType": "bitmap", "bitmap": {"data": plain, "origin": [7, 1]}}]
    out = tmp_path / "out"
    code, err = run_import(capsys, "supervisely", _project(tmp_path, objects), out)
    assert code == 0, err
    expected = np.zeros((H, W), bool)
    expected[1:3, 7:10] = BITMAP
    assert (read_map(out / "masks" / "frame.png") == expected).all()
