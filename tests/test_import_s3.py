"""``data import ... s3://``: import into a temp folder, then push; a failed import pushes nothing."""

import numpy as np
import storage_fixtures
from import_fixtures import run_import
from PIL import Image
from storage_fixtures import unique_prefix

from personseg.cli import main
from personseg.data.loading import load_dataset
from personseg.storage.client import Store
from personseg.storage.datasets import read_manifest
from personseg.storage.s3uri import parse_s3_uri
from personseg.uris import local_dataset

s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env


def _mattes(folder):
    folder.mkdir()
    alpha = np.zeros((8, 8), np.uint8)
    alpha[2:6, 2:6] = 255
    for name in ("a", "b", "c"):
        Image.fromarray(np.dstack([np.full((8, 8, 3), 40, np.uint8), alpha]), mode="RGBA").save(folder / f"{name}.png")
    return folder


def test_import_to_s3_loads_back(s3_env, tmp_path, capsys):
    uri = unique_prefix()
    code, err = run_import(capsys, "matte", _mattes(tmp_path / "src"), uri)
    assert code == 0, err
    data = load_dataset(local_dataset(uri), 8)
    assert data.ids == ["a", "b", "c"] and (data.labels[:, 2:6, 2:6] == 1).all()


def test_failed_import_pushes_nothing(s3_env, tmp_path, capsys):
    src, uri = _mattes(tmp_path / "src"), unique_prefix()
    Image.new("RGB", (8, 8)).save(src / "d.png")
    code, err = run_import(capsys, "matte", src, uri)
    assert code == 2 and "d.png: mode RGB has no alpha channel" in err
    assert read_manifest(Store.from_env(), parse_s3_uri(uri)) is None


def test_same_data_from_another_folder_pushes_as_the_same_dataset(s3_env, tmp_path, capsys):
    import shutil

    first = _mattes(tmp_path / "one")
    second = tmp_path / "elsewhere" / "one"
    shutil.copytree(first, second)
    uri = unique_prefix()
    for src in (first, second):
        code, err = run_import(capsys, "matte", src, uri)
        assert code == 0, err
    for src in (first, second):  # imported to folders, then pushed
        assert run_import(capsys, "matte", src, src.parent / "people")[0] == 0
        code = main(["data", "push", str(src.parent / "people"), f"{uri}-pushed"])
        assert code == 0, capsys.readouterr().err
    Image.fromarray(np.dstack([np.zeros((8, 8, 3), np.uint8), np.eye(8, dtype=np.uint8) * 255]),
                    mode="RGBA").save(second / "c.png")  # different data, same prefix
    code, err = run_import(capsys, "matte", second, uri)
    assert code == 2 and "already holds a different dataset" in err and "import to a new prefix" in err, err
    assert "--overwrite" not in err
