"""A PyTorch (safetensors) model serves through the same server and matches direct inference."""

import httpx
import numpy as np
import pytest
from serving_fixtures import decode_png, encode, running_server, split_image

from personseg.imageops import sigmoid, to_input, unletterbox
from personseg.runtime import load_predictor
from personseg.serving.settings import ServeSettings

torch = pytest.importorskip("torch")


def test_torch_unet_served_over_http_matches_direct_inference(tmp_path):
    from personseg.models import build_model
    from personseg.models.checkpoint import save_model

    torch.manual_seed(0)
    model_dir = tmp_path / "unet"
    model_dir.mkdir()
    arch = {"name": "unet", "decoder": "bilinear", "width": 8}
    save_model(build_model("unet", decoder="bilinear", width=8), model_dir, arch, image_size=64)
    threads = torch.get_num_threads()  # the predictor sets torch's global thread count: leave it as it was
    image = split_image(70, 40)

    predictor = load_predictor(model_dir, threads)
    tensor, box = to_input(image, 64)
    prob = unletterbox(sigmoid(predictor.logits(tensor[None])[0, 0]), box, 70, 40)
    expected = np.clip(np.rint(prob * 255.0), 0, 255).astype(np.uint8)

    settings = ServeSettings(model_uri=str(model_dir), threads=threads, max_batch=2)
    with running_server(settings) as server, httpx.Client(base_url=server.url, timeout=20) as client:
        assert client.get("/v2/models/personseg").json()["platform"] == "pytorch_safetensors"
        r = client.post("/v1/segment", params={"output": "probability"}, content=encode(image))
        assert r.status_code == 200, r.text
        got = np.asarray(decode_png(r.content))
    assert got.shape == (40, 70)
    assert np.abs(got.astype(int) - expected).max() <= 1  # batched vs single inference may differ in the last bit
