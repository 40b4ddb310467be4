"""docs/results.md's peer tables: one per CPU kind, each between its markers, the rest of the text kept."""

from __future__ import annotations

import json

import pytest
from script_modules import load_script

from personseg.bench.results_doc import markers, replace_table
from personseg.errors import UserError


def _result(flags: list[str], date: str) -> dict:
    row = {"name": "bilinear fp32-eager", "network": "bilinear", "peer": "fp32-eager", "precision": "fp32",
           "reason": None, "iou": 0.8, "agreement_iou": 1.0, "agreement_with": "bilinear fp32-eager",
           "latency_ms": {"median": 100.0, "min": 99.0, "max": 101.0}, "speedup": 1.0, "gflops": 1.0,
           "params": 10, "extra_iou": 0.7}
    return {"batch_size": 8, "image_size": 64, "threads": 2, "rounds": 1, "baseline": row["name"],
            "cpu": {"model": "Some CPU", "flags": flags, "cores": 2, "peak": None}, "versions": {"torch": "2.13.0"},
            "data": {"uri": "d", "split": "test", "samples": 8}, "models": [row], "date": date,
            "command": "benchmarks/peers.py --model m"}


def test_each_cpu_kind_has_its_own_table_and_the_rest_of_the_document_stays():
    doc = "# Results\n\nHand-written text.\n"
    vnni = replace_table(doc, _result(["avx2", "avx512_vnni"], "2026-12-07 06:00 UTC"))
    assert vnni.startswith(doc) and markers("VNNI")[0] in vnni and "2026-12-07 06:00 UTC" in vnni
    both = replace_table(vnni + "\nMore text after.\n", _result(["avx2"], "2026-12-01 10:00 UTC"))
    assert markers("AVX2")[0] in both and "More text after." in both and "2026-12-07 06:00 UTC" in both
    again = replace_table(both, _result(["avx512_vnni"], "2026-12-08 09:00 UTC"))
    assert "2026-12-07 06:00 UTC" not in again and "2026-12-08 09:00 UTC" in again  # replaced, not appended
    assert again.count(markers("VNNI")[0]) == 1 and "2026-12-01 10:00 UTC" in again
    assert "| bilinear fp32-eager (baseline) |" in again and "`benchmarks/peers.py --model m`" in again


def test_broken_markers_and_old_results_are_refused():
    begin, _ = markers("VNNI")
    with pytest.raises(UserError, match="not a begin/end pair"):
        replace_table(f"x\n{begin}\n", _result(["avx512_vnni"], "d"))
    old = _result(["avx2"], "d")
    del old["command"]
    with pytest.raises(UserError, match="no 'command'"):
        replace_table("x", old)


def test_the_script_rewrites_the_document_in_place(tmp_path):
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n")
    (tmp_path / "table.json").write_text(json.dumps(_result(["avx2"], "2026-12-01 10:00 UTC")))
    load_script("scripts/results_peers.py").main([str(tmp_path / "table.json"), "--doc", str(doc)])
    assert markers("AVX2")[1] in doc.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.md", "table.json"]
