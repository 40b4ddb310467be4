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


def _serve_result(flags: list[str], date: str) -> dict:
    from personseg.bench.serve import BenchConfig, BenchReport, LoadResult
    from personseg.serving.timeline import STAGES

    config = BenchConfig("runs/m", concurrency=(1, 8), requests=10, threads=2, rounds=2)
    report = BenchReport(config, "m (openvino, int8, 64px)", "4 photos", date=date, load=[[1.0, 1, 1], [2.0, 2, 2]],
                         cpu={"model": "Some CPU", "flags": flags, "cores": 2})
    for round_ in range(2):
        for c in (1, 8):
            report.levels.append(LoadResult(c, 10, 0, 1.0, 10.0 * c + round_, 20.0 * c, 5.0 * c, round=round_,
                                            mean_batch=min(c, 4), client_mean_ms=12.0 * c, app_mean_ms=10.0 * c,
                                            stages_ms={s: 1.0 for s in STAGES}, client_cpu_ms=0.5,
                                            server_cpu_ms=30.0,
                                            server_threads_cpu_ms={"loop": 1.0, "pool": 2.0, "model": 27.0}))
        report.bare_rounds.append({1: 100.0, 4: 40.0, 8: 10.0})
        report.bare_cpu_ms.append({1: 20.0, 4: 22.0, 8: 24.0})
    return json.loads(json.dumps(report.as_dict()))  # as the --json file holds it


def test_serve_tables_sit_beside_the_peer_tables_one_per_cpu_kind():
    doc = replace_table("# Results\n", _result(["avx512_vnni"], "2026-12-07 06:00 UTC"))
    both = replace_table(doc, _serve_result(["avx512_vnni"], "2026-12-07T07:00:00+00:00"), "serve")
    assert markers("VNNI", "serve")[0] in both and markers("VNNI")[0] in both
    assert "`personseg bench serve --model runs/m --concurrency 1,8" in both and "load average (1 min) 1.0" in both
    assert "| 1 | 5.0 (5.0 to 5.0) | 10.5 (10.0 to 11.0) | +0.5 (+0.0 to +1.0) | 0.50 (0.50 to 0.50) |" in both
    # CPU: server (its event loop, pool and model threads), bare at batch 4, client
    assert "| 8 | 96.0 | 16.0 | " in both and "| 30.0 | 1.0 | 2.0 | 27.0 | 22.0 | 0.5 |" in both
    older = _serve_result(["avx512_vnni"], "2026-12-07T07:00:00+00:00")
    for level in older["levels"]:
        del level["server_threads_cpu_ms"]  # a file written before bench serve split the server's CPU
    assert "| 30.0 | - | - | - | 22.0 | 0.5 |" in replace_table(doc, older, "serve")
    again = replace_table(both, _serve_result(["avx512_vnni"], "2026-12-08T07:00:00+00:00"), "serve")
    assert "2026-12-07T07:00:00" not in again and again.count(markers("VNNI", "serve")[0]) == 1
    assert "2026-12-07 06:00 UTC" in again  # the peer table is untouched


def test_the_serve_script_rewrites_the_document_and_refuses_old_results(tmp_path):
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n")
    result = _serve_result(["avx2"], "2026-12-07T07:00:00+00:00")
    (tmp_path / "bench.json").write_text(json.dumps(result))
    load_script("scripts/results_serve.py").main([str(tmp_path / "bench.json"), "--doc", str(doc)])
    assert markers("AVX2", "serve")[1] in doc.read_text()
    del result["load"]
    with pytest.raises(UserError, match="no 'load'"):
        replace_table("x", result, "serve")
