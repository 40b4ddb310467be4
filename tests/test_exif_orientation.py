"""A phone photo stored sideways (EXIF orientation 6) with an upright mask reads the same way everywhere.

Phones store the sensor's pixels and an orientation tag; viewers, labelling tools and our server turn
the picture upright. Datasets follow the same rule, so validation accepts the pair, training sees the
person where the mask says, and the server sees the same pixels.
"""

import io

import httpx
import numpy as np
import pytest
from PIL import Image
from serving_fixtures import make_tiny_model, reference_mask, running_server

from personseg.cli import main
from personseg.data import IGNORE
from personseg.data.importers.source import ImportOptions
from personseg.data.importers.write import import_dataset
from personseg.data.prescan import prescan
from personseg.data.stream import StreamDataset
from personseg.imageops import to_input
from personseg.serving.decode import ImageLimits, decode_image
from personseg.serving.settings import ServeSettings

SIZE = 64
WIDTH, HEIGHT = 48, 64  # the photo as it is shown: portrait


def shown_photo() -> tuple[Image.Image, np.ndarray]:
    """The upright photo (a bright person in the top-left, dark elsewhere) and its upright 0/255 mask."""
    pixels = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
    pixels[4:40, 6:30] = 230
    pixels[:, :, 2] = np.linspace(0, 120, WIDTH, dtype=np.uint8)  # a gradient: a mirror would show
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[4:40, 6:30] = 255
    return Image.fromarray(pixels, "RGB"), mask


def phone_jpeg(upright: Image.Image) -> bytes:
    """``upright`` stored as a phone does with orientation 6: pixels turned back, the tag says turn 90 clockwise."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buf, format="JPEG", quality=98, exif=exif)
    return buf.getvalue()


@pytest.fixture
def phone_dataset(tmp_path):
    photo, mask = shown_photo()
    data = phone_jpeg(photo)
    root = tmp_path / "phone"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(3):  # three samples, so the hash split has each part
        (root / "images" / f"p{i}.jpg").write_bytes(data)
        Image.fromarray(mask, "L").save(root / "masks" / f"p{i}.png")
    with Image.open(root / "images" / "p0.jpg") as stored:
        assert stored.size == (HEIGHT, WIDTH)  # stored sideways: 64 wide, 48 high
    return root, data, mask


def test_validation_accepts_the_photo_with_its_upright_mask(phone_dataset, capsys):
    root, _, _ = phone_dataset
    assert main(["data", "validate", str(root), "--size", str(SIZE)]) == 0, capsys.readouterr().err
    assert "3 samples ok" in capsys.readouterr().out
    assert len(prescan(root, SIZE).samples) == 3  # the header check before training agrees


def test_training_sees_the_pixels_serving_sees_with_the_person_where_the_mask_is(phone_dataset):
    root, data, mask = phone_dataset
    x, y, _, error = StreamDataset(prescan(root, SIZE))[0]
    assert error == ""
    served, _ = to_input(decode_image(data, ImageLimits(max_bytes=10**6, max_pixels=10**6)), SIZE)
    np.testing.assert_array_equal(x.numpy(), served)
    labels = y[0].numpy()
    person, background = labels == 1, labels == 0
    assert person.sum() > 0.9 * (mask > 0).sum() * (SIZE / HEIGHT) ** 2
    assert x.numpy()[0][person].mean() > 0.85 and x.numpy()[0][background].mean() < 0.2
    assert (labels == IGNORE).sum() == SIZE * (SIZE - round(WIDTH * SIZE / HEIGHT))  # padding at the sides


def test_the_server_returns_an_upright_mask_that_matches_the_dataset_mask(phone_dataset, tmp_path):
    _, data, mask = phone_dataset
    model = make_tiny_model(tmp_path / "tiny")  # calls bright pixels person
    with running_server(ServeSettings(model_uri=str(model), name="seg", threads=1, batch_wait_ms=1)) as server:
        r = httpx.post(f"{server.url}/v1/segment", content=data, timeout=30)
    assert r.status_code == 200, r.text
    served = Image.open(io.BytesIO(r.content))
    assert served.size == (WIDTH, HEIGHT)
    got = np.asarray(served) > 127
    np.testing.assert_array_equal(np.asarray(served), reference_mask(Image.open(io.BytesIO(data)).transpose(
        Image.Transpose.ROTATE_270)))
    truth = mask > 0
    assert (got & truth).sum() / (got | truth).sum() > 0.8


def test_import_writes_a_turned_photo_upright(tmp_path):
    photo, mask = shown_photo()
    src = tmp_path / "mattes"
    (src / "images").mkdir(parents=True)
    (src / "alpha").mkdir()
    (src / "images" / "p0.jpg").write_bytes(phone_jpeg(photo))
    Image.fromarray(mask, "L").save(src / "alpha" / "p0.png")
    out = tmp_path / "imported"
    import_dataset("matte", src, str(out), ImportOptions())
    image = next((out / "images").iterdir())
    with Image.open(image) as img:
        assert img.size == (WIDTH, HEIGHT) and img.getexif().get(0x0112, 1) == 1
    with Image.open(out / "masks" / "p0.png") as written:
        assert written.size == (WIDTH, HEIGHT)
