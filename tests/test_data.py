
import numpy as np
import pytest
from PIL import Image

from personseg.cli import main
from personseg.data.loading import load_dataset
from personseg.data.synthetic import make_sample, write_synthetic
from personseg.errors import UserError


def _dataset(root, n=3, size=32):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        Image.new("RGB", (size, size), (i * 40, 10, 10)).save(root / "images" / f"s{i}.png")
        mask = np.zeros((size, size), np.uint8)
        mask[4:20, 4:20] = 255
        Image.fromarray(mask).save(root / "masks" / f"s{i}.png")
    return root


def test_loads_letterboxed_with_binary_labels(tmp_path):
    root = _dataset(tmp_path / "d")
    Image.new("RGB", (64, 32)).save(root / "images" / "wide.png")
    Image.new("L", (64, 32), 255).save(root / "masks" / "wide.png")
    data = load_dataset(root, 32)
    assert data.images.shape == (4, 32, 32, 3) and data.labels.shape == (4, 32, 32)
    assert set(np.unique(data.labels[[data.ids.index(i) for i in ("s0", "s1", "s2")]])) <= {0, 1}
    wide = data.labels[data.ids.index("wide")]
    assert (wide[:8] == 255).all() and (wide[24:] == 255).all()  # letterbox padding is ignore, not background
    assert (wide[8:24] == 1).all()  # the picture itself: all person


def test_ignore_map_becomes_255(tmp_path):
    root = _dataset(tmp_path / "d", n=1)
    (root / "ignore").mkdir()
    ign = np.zeros((32, 32), np.uint8)
    ign[0:2] = 255
    Image.fromarray(ign).save(root / "ignore" / "s0.png")
    data = load_dataset(root, 32)
    assert (data.labels[0, 0:2] == 255).all()


@pytest.mark.parametrize("breakage,message", [
    (lambda r: (r / "masks" / "s1.png").unlink(), r"s1.png: no mask"),
    (lambda r: Image.new("L", (32, 32)).save(r / "masks" / "orphan.png"), r"orphan.png: extra mask with no image"),
    (lambda r: Image.new("L", (16, 16)).save(r / "masks" / "s0.png"), r"s0.png: mask is 16x16 but image is 32x32"),
    (lambda r: (r / "images" / "s2.png").write_bytes(b"not an image"), r"s2.png: not a readable image"),
    (lambda r: (r / "images" / "s2.png").write_bytes((r / "images" / "s2.png").read_bytes()[:60]),
     r"s2.png: unreadable or truncated"),
    (lambda r: Image.fromarray(np.arange(32 * 32, dtype=np.uint8).reshape(32, 32) % 3).save(r / "masks" / "s0.png"),
     r"s0.png: mask is not binary: found 3 distinct values \(0, 1, 2\)"),
])
def test_validation_errors_name_the_file(tmp_path, breakage, message):
    root = _dataset(tmp_path / "d")
    breakage(root)
    with pytest.raises(UserError, match=message):
        load_dataset(root, 32)


def test_skip_invalid_counts_what_was_skipped(tmp_path, caplog):
    root = _dataset(tmp_path / "d")
    (root / "images" / "s2.png").write_bytes(b"junk")
    data = load_dataset(root, 32, skip_invalid=True)
    assert data.ids == ["s0", "s1"]
    assert "skipped 1 problem file(s), kept 2 samples" in caplog.text


def test_empty_dataset_is_an_error(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(UserError, match="empty"):
        load_dataset(tmp_path, 32)


def test_synthetic_is_reproducible_and_has_people(tmp_path):
    a_img, a_mask = make_sample(5, 64)
    b_img, b_mask = make_sample(5, 64)
    assert np.array_equal(np.asarray(a_img), np.asarray(b_img))
    assert np.array_equal(np.asarray(a_mask), np.asarray(b_mask))
    fraction = (np.asarray(a_mask) > 0).mean()
    assert 0.03 < fraction < 0.7
    out = write_synthetic(tmp_path / "s", 4, 64)
    assert len(list((out / "images").iterdir())) == 4 and len(list((out / "masks").iterdir())) == 4


def test_cli_errors_are_one_line_and_leave_nothing(tmp_path, capsys):
    rc = main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "missing: no such directory" in err
    assert not (tmp_path / "out").exists()
    assert main(["train", "--data", str(tmp_path), "--size", "30", "--out", str(tmp_path / "o")]) == 2
    assert "--size 30: must be a positive multiple of 16" in capsys.readouterr().err
