"""``personseg segment`` over files, folders and s3:// prefixes, with a local model, a registry reference or a server.

The model is the tiny real ONNX model of the serving tests (bright pixels are person), so each expected output
is computed here in numpy and rendered with the server's own ``compose``; the S3 store is a real SeaweedFS and
the server a real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import storage_fixtures
from PIL import Image
from serving_fixtures import make_tiny_model, reference_logits, running_server
from storage_fixtures import DATA_BUCKET, publish, unique_name, unique_prefix

from personseg.cli import main
from personseg.imageops import sigmoid, to_input, unletterbox
from personseg.modeldir import read_model_dir, write_config
from personseg.segment.engine import DEFAULT_BATCH, LocalEngine
from personseg.serving import compose
from personseg.serving.settings import ServeSettings
from personseg.storage.client import Store
from personseg.storage.registry import Registry

s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env


def photo(seed: int, width: int = 90, height: int = 70) -> Image.Image:
    """Noise with a bright block: a person on the left for the tiny model."""
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 120, (height, width, 3), dtype=np.uint8)
    array[10:60, 5:40] = 230
    return Image.fromarray(array, "RGB")


def expected(image: Image.Image, output: str, background: tuple[int, int, int] | None = None,
             alpha: str = "clean") -> np.ndarray:
    """The PNG the server would return for ``image``, decoded to pixels."""
    tensor, box = to_input(image, 64)
    prob = unletterbox(sigmoid(reference_logits(tensor[None])[0, 0]), box, image.width, image.height)
    return np.asarray(Image.open(io.BytesIO(compose.render(output, image, prob, background, alpha))))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Three photos in nested folders and one file that is not an image."""
    root = tmp_path / "photos"
    (root / "a" / "b").mkdir(parents=True)
    photo(0).save(root / "one.jpg", quality=95)
    photo(1).save(root / "a" / "two.png")
    photo(2, 120, 50).save(root / "a" / "b" / "three.png")
    (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def test_folder_writes_each_output_and_skips_a_bad_file(photos, tmp_path, capsys):
    model = make_tiny_model(tmp_path / "model")
    out = tmp_path / "out"
    code = main(["segment", str(photos), "--out", str(out), "--model", str(model), "--output", "cutout"])
    captured = capsys.readouterr()
    assert code == 1, "a skipped input must show in the exit status"
    assert "broken.jpg" in captured.err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "a", "a/b", "a/b/three.png", "a/two.png", "one.png"]
    for rel, name in (("one.png", "one.jpg"), ("a/two.png", "a/two.png"), ("a/b/three.png", "a/b/three.png")):
        with Image.open(photos / name) as im:
            im.load()
            assert np.array_equal(pixels(out / rel), expected(im, "cutout")), rel
    summary = [line for line in captured.out.splitlines() if "images/s" in line]
    assert len(summary) == 1 and "3 images written" in summary[0] and "1 failed" in summary[0]


def test_rerun_keeps_existing_outputs_unless_overwrite(photos, tmp_path, capsys):
    model = make_tiny_model(tmp_path / "model")
    out = tmp_path / "out"
    argv = ["segment", str(photos / "one.jpg"), str(photos / "a" / "two.png"), "--out", str(out), "--model", str(model)]
    assert main(argv) == 0
    (out / "one.png").write_bytes(b"kept")
    assert main(argv) == 0
    assert "0 images written, 2 already there" in capsys.readouterr().out
    assert (out / "one.png").read_bytes() == b"kept"
    assert main([*argv, "--overwrite"]) == 0
    with Image.open(photos / "one.jpg") as im:
        assert np.array_equal(pixels(out / "one.png"), expected(im, "mask"))
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "a temporary file was left behind"


def test_force_recomputes_existing_outputs_and_overwrite_is_its_former_name(photos, tmp_path, capsys):
    model = make_tiny_model(tmp_path / "model")
    out = tmp_path / "out"
    argv = ["segment", str(photos / "one.jpg"), "--out", str(out), "--model", str(model)]
    assert main(argv) == 0
    for flag in ("--force", "--overwrite"):
        (out / "one.png").write_bytes(b"stale")
        assert main([*argv, flag]) == 0
        assert "1 images written" in capsys.readouterr().out
        with Image.open(photos / "one.jpg") as im:
            assert np.array_equal(pixels(out / "one.png"), expected(im, "mask"))


def test_composite_takes_the_background_colour(photos, tmp_path):
    model = make_tiny_model(tmp_path / "model")
    out = tmp_path / "out"
    assert main(["segment", str(photos / "one.jpg"), "--out", str(out), "--model", str(model),
                 "--output", "composite", "--background", "00ff00"]) == 0
    with Image.open(photos / "one.jpg") as im:
        assert np.array_equal(pixels(out / "one.png"), expected(im, "composite", (0, 255, 0)))


def test_probability_output_and_soft_cutout(photos, tmp_path):
    model = make_tiny_model(tmp_path / "model")
    for output, alpha in (("probability", None), ("cutout", "soft")):
        out = tmp_path / output
        argv = ["segment", str(photos / "a" / "two.png"), "--out", str(out), "--model", str(model), "--output", output]
        assert main(argv + (["--alpha", alpha] if alpha else [])) == 0
        with Image.open(photos / "a" / "two.png") as im:
            assert np.array_equal(pixels(out / "two.png"), expected(im, output, alpha=alpha or "clean")), output


def test_missing_input_is_a_usage_error(tmp_path, capsys):
    model = make_tiny_model(tmp_path / "model")
    assert main(["segment", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"), "--model", str(model)]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_batches_use_the_model_batch_size(tmp_path):
    model = make_tiny_model(tmp_path / "model")
    assert LocalEngine(str(model), "mask", None, 1).batch_size == DEFAULT_BATCH
    info = read_model_dir(model)
    write_config(model, kind="onnx", precision="fp32", weights="model.onnx", image_size=64, arch=info.arch,
                 extra={"batch_size": 3})
    engine = LocalEngine(str(model), "mask", None, 1)
    sizes = []
    real = engine.model.predict
    engine.model.predict = lambda batch: sizes.append(len(batch)) or real(batch)
    from personseg.segment.inputs import gather
    from personseg.segment.run import segment_all

    folder = tmp_path / "seven"
    folder.mkdir()
    for i in range(7):
        photo(i).save(folder / f"{i}.png")
    result = segment_all(gather([str(folder)]), tmp_path / "out", engine)
    assert (result.written, sizes) == (7, [3, 3, 1])


def test_server_url_posts_each_image(photos, tmp_path, capsys):
    model = make_tiny_model(tmp_path / "model")
    out = tmp_path / "out"
    settings = ServeSettings(model_uri=str(model), threads=1, max_batch=4, batch_wait_ms=2)
    with running_server(settings) as server:
        code = main(["segment", str(photos), "--out", str(out), "--model", server.url, "--output", "composite",
                     "--alpha", "soft"])
    captured = capsys.readouterr()
    assert code == 1
    assert "broken.jpg" in captured.err and "server answered 400" in captured.err
    with Image.open(photos / "a" / "two.png") as im:
        assert np.array_equal(pixels(out / "a" / "two.png"), expected(im, "composite", alpha="soft"))
        assert not np.array_equal(pixels(out / "a" / "two.png"), expected(im, "composite")), "alpha=soft must matter"
    assert len(list(out.rglob("*.png"))) == 3


def test_unreachable_server_is_a_usage_error(photos, tmp_path, capsys):
    from personseg.netutil import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["segment", str(photos), "--out", str(tmp_path / "out"), "--model", url]) == 2
    assert url in capsys.readouterr().err


def test_s3_prefix_and_registry_reference(s3_env, tmp_path, capsys):
    store = Store.from_env()
    prefix = unique_prefix()
    key = prefix[len(f"s3://{DATA_BUCKET}/"):]
    for name, seed in (("x/one.png", 3), ("two.jpg", 4)):
        buf = io.BytesIO()
        photo(seed).save(buf, format="PNG" if name.endswith("png") else "JPEG", quality=95)
        store.put_bytes(DATA_BUCKET, f"{key}/{name}", buf.getvalue())
    store.put_bytes(DATA_BUCKET, f"{key}/bad.png", b"not a png")
    store.put_bytes(DATA_BUCKET, f"{key}/notes.txt", b"ignored: not an image name")
    reg = Registry.from_env()
    name = unique_name()
    reg.promote(name, publish(reg, make_tiny_model(tmp_path / "model"), name))
    out = tmp_path / "out"
    code = main(["segment", prefix, "--out", str(out), "--model", f"models:/{name}@production"])
    assert code == 1
    assert f"{prefix}/bad.png" in capsys.readouterr().err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["two.png", "x/one.png"]
    image = Image.open(io.BytesIO(store.get_bytes(DATA_BUCKET, f"{key}/x/one.png")))
    assert np.array_equal(pixels(out / "x" / "one.png"), expected(image, "mask"))


def test_a_failed_write_leaves_no_output_under_its_name(photos, tmp_path, monkeypatch):
    import errno

    model = make_tiny_model(tmp_path / "model")
    out = tmp_path / "out"
    real = Path.write_bytes

    def disk_full(self: Path, data: bytes) -> int:
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(OSError):
        main(["segment", str(photos / "one.jpg"), "--out", str(out), "--model", str(model)])
    assert list(out.iterdir()) == [], "half a PNG (or its temporary file) was left in the output folder"


def test_progress_line_on_a_terminal(photos, tmp_path, monkeypatch, capsys):
    from personseg.console import progress

    monkeypatch.delenv(progress.PROGRESS_FILE_ENV, raising=False)
    monkeypatch.setattr(progress, "_on_terminal", lambda: True)
    model = make_tiny_model(tmp_path / "model")
    main(["segment", str(photos), "--out", str(tmp_path / "out"), "--model", str(model)])
    err = capsys.readouterr().err
    assert "\rsegment 4/4" in err and "images/s" in err and "1 failed" in err
