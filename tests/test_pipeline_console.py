"""What ``personseg pipeline run --local`` prints: the run watcher and the console formatter, no pipeline run.

A run folder is written the way kfp.local writes one (task folders, ``executor_output.json``, the
artifacts), one step at a time, with a real report (``markdown_report`` of a hand-written evaluation);
the watcher turns it into events and the console prints them. A real failing kfp.local run is in
``test_quiet_run_failure.py``; a real successful one in ``test_pipeline_local_run.py``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pipeline_fixtures import candidates_index, eval_result, eval_row

from personseg.console.launcher import personseg_command
from personseg.steps import summary
from personseg.steps.evaluate import gate_summary
from personseg.steps.selection import judge, select
from personseg.steps.summary import terminal_summary
from personseg_kfp.local.console import MAX_LINES, RunConsole, where_to_look
from personseg_kfp.local.watch import RunWatcher

RUN = "person-segmentation-2026-12-01-14-00-00-000000"


def _metrics_output(values: dict, extra: dict | None = None) -> dict:
    return {"artifacts": {"metrics": {"artifacts": [{"name": "metrics", "uri": "m", "metadata": values}]},
                          **(extra or {})}}


def _write(task: Path, output: dict, files: dict[str, str]) -> None:
    for name, text in files.items():
        (task / name).parent.mkdir(parents=True, exist_ok=True)
        (task / name).write_text(text)
    (task / "executor_output.json").write_text(json.dumps(output))


def _demo_sized() -> tuple[dict, dict, dict]:
    """What ``make demo`` evaluates: two networks on two runtimes, a second evaluation set, its whole settings."""
    from dataclasses import asdict

    from personseg.evaluate.config import EvalConfig
    from personseg.steps.quantize import CandidatesConfig
    from personseg.swap.config import SwapConfig
    from personseg.training.config import TrainConfig

    result, index = eval_result(), candidates_index()
    for network, iou, ms in (("bilinear", 0.814, 25.0), ("swapped", 0.805, 12.5)):
        result["models"].append(eval_row(f"{network}-int8-openvino", iou, ms, (f"{network}-fp32-onnx", 0.99)))
        index["candidates"].append({**index["candidates"][0 if network == "bilinear" else 1],
                                    "name": f"{network}:openvino", "runtime": "openvino",
                                    "path": f"{network}-int8-openvino"})
    for row in result["models"]:
        row["extra"] = {"iou": row["iou"] - 0.2}
    result["extra_data"] = {"uri": "real", "samples": 4, "split": "all"}
    data = "/home/me/personseg/runs/demo/person-segmentation-2026-12-01-14-00-00-000000/ingest/data"
    result["config"] = asdict(EvalConfig(models=tuple(f"{m['name']}=/m/{m['name']}" for m in result["models"]),
                                         data=data))
    settings = {"model_name": "personseg", "tolerable_iou_loss": 0.02, "min_speedup": 1.25, "min_iou": 0.5,
                "min_extra_iou": 0.0, "evaluation": result["config"], "train": asdict(TrainConfig(data=data)),
                "swap": asdict(SwapConfig(model="/m/bilinear", data=data)),
                "quantize": asdict(CandidatesConfig(candidates=",".join(c["name"] for c in index["candidates"]),
                                                    data=data))}
    return result, index, settings


def _steps(run: Path, winner: bool, demo: bool = False) -> list[tuple[str, dict, dict[str, str]]]:
    """(task, executor output, artifact files) of each step of a run that trains, as kfp.local leaves them."""
    result, index, settings = _demo_sized() if demo else (eval_result(), candidates_index(), {"min_speedup": 2.0})
    selection = select(judge(index, result, tolerable_iou_loss=0.02, min_speedup=2.0 if winner else 99.0), result)
    evaluation = {**result, "winner": selection.winner, "candidates": [v.to_dict() for v in selection.verdicts],
                  "gate": gate_summary(selection)}
    for network in index["networks"].values():
        network["quantize"] = {"agreement_iou": 0.9712}
    deployed = {"status": "deployed", "target": "local", "endpoint": "http://127.0.0.1:40123",
                "pinned_model": "models:/personseg:3", "name": "personseg", "version": 3,
                "state_dir": "/home/me/personseg/runs/deploy"}
    steps = [
        ("check-data", {"parameterValues": {"Output": "data=1;recipe=2"}},
         {"report": "Dataset `demo`: fingerprint `abc`, recipe `def`.\n\n**Training**: new data since version 2 "
                    "of `personseg` (production).\n"}),
        ("ingest", {"artifacts": {"data": {"artifacts": [{"name": "data", "metadata": {"uri": "demo"}}]}}},
         {f"data/images/p{i}.jpg": "" for i in range(40)}),
        ("train", _metrics_output({"val_iou": 0.9041, "best_epoch": 21.0}), {"model/config.json": "{}"}),
        ("swap", _metrics_output({"val_iou_swapped": 0.9012}),
         {"model/metrics.json": json.dumps({"val_iou_bilinear": 0.9041, "val_iou_swapped_initial": 0.9012,
                                            "val_iou_swapped": 0.9012, "fine_tune": "reverted"})}),
        ("quantize", _metrics_output({"candidates_built": 2.0}),
         {"candidates/candidates.json": json.dumps(index)}),
        ("evaluate", {"parameterValues": {"Output": selection.winner}, **_metrics_output({"deploy": 1.0})},
         {"evaluation": json.dumps(evaluation), "gallery": "<html></html>",
          "report": summary.markdown_report(result, selection, None, settings)}),
    ]
    if demo:  # a step only a cluster uses, shown all the same
        steps.insert(2, ("train-pod-gpus", {"parameterValues": {"Output": 0}}, {}))
    return steps + ([("deploy", {"parameterValues": {"Output": deployed["endpoint"]}},
                      {"result": json.dumps(deployed)})] if winner else [])


def _run_through(tmp_path: Path, winner: bool = True, demo: bool = False) -> tuple[list[str], str, Path]:
    """Feed the console the events of a run written step by step; return its lines, the report, the run folder."""
    root = tmp_path / "runs"
    root.mkdir()
    (root / "person-segmentation-2026-11-30-09-00-00-000000").mkdir()  # an older run: not this one
    out = io.StringIO()
    console = RunConsole(out)
    console.start(root / "pipeline-2026-12-01-14-00-00.log")
    run = root / RUN
    with RunWatcher(root, console.event, poll=3600) as watcher:  # scanned by hand below, not by the thread
        run.mkdir()
        for task, output, files in _steps(run, winner, demo):
            (run / task).mkdir()
            watcher.scan()  # the executor made its folder: the step started
            _write(run / task, output, files)
            watcher.scan()  # its outputs are written: the step ended
    assert watcher.run_dir == run
    console.skipped()
    report = run / "evaluate" / "report"
    console.finish(run, report, run / "pipeline.log", 372.0)
    return out.getvalue().splitlines(), report.read_text(), run


def test_a_deployed_run_prints_a_line_per_step_the_verdict_and_where_to_look(tmp_path: Path) -> None:
    lines, report, run = _run_through(tmp_path)
    assert len(lines) <= MAX_LINES, "\n".join(lines)
    assert terminal_summary(report).strip() in "\n".join(lines)  # the verdict, the candidates, the chain
    assert "## All models" in report and "## All models" not in lines and "```json" not in lines  # the file's only
    own = [line for line in lines if line not in report.splitlines()]
    # nothing of kfp.local's executor JSON outside the report (whose settings block is JSON of its own)
    assert not any(marker in line for line in own for marker in ('"outputFile"', '"artifacts"', "executor", "{"))
    steps = [line for line in own if line.startswith(("-> ", "   "))]
    assert [s.split()[1 if s.startswith("->") else 0] for s in steps] == [
        "check-data", "check-data", "ingest", "ingest", "train", "train", "swap", "swap", "quantize", "quantize",
        "evaluate", "evaluate", "deploy", "deploy"]
    figures = "\n".join(steps)
    assert "Training: new data since version 2 of personseg (production)" in figures
    assert "demo: 40 images" in figures
    assert "best val IoU 0.9041 (epoch 21)" in figures
    assert "fine-tuning reverted (no better than the swap's start): val IoU 0.9012 (bilinear 0.9041)" in figures
    assert "2/2 candidates built; agreement with FP32 bilinear 0.971, swapped 0.971" in figures
    # the fixture's swapped INT8 runs 20 ms against its FP32 ONNX's 50 ms
    assert "winner swapped:onnxruntime, 2.50x over its FP32 ONNX (test IoU 0.8000)" in figures
    assert "deployed models:/personseg:3 (local) at http://127.0.0.1:40123" in figures
    assert own[0].startswith("Running the pipeline locally; full log: ") and own[0].find("pipeline-2026") > 0
    assert "Pipeline finished in 6 min 12 s." in own
    assert f"Gallery:  {run / 'gallery.html'} (open it in a browser)" in own
    assert (run / "gallery.html").read_text() == "<html></html>"
    assert f"Full log: {run / 'pipeline.log'}" in own
    curl = next(line.strip() for line in own if line.strip().startswith("curl "))
    assert curl.endswith("'http://127.0.0.1:40123/v1/segment?output=cutout' -o grace_hopper-cutout.png")
    assert "--data-binary @" in curl and Path(curl.split("@", 1)[1].split()[0]).is_file()  # a bundled photo
    assert own[-1] == f"Stop the server with: {personseg_command()} deploy --target local --name personseg " \
                      "--state-dir /home/me/personseg/runs/deploy --stop"  # works from any folder


@pytest.mark.parametrize("winner", [True, False])
def test_a_demo_sized_run_prints_at_most_max_lines_in_all(tmp_path: Path, winner: bool) -> None:
    lines, report, run = _run_through(tmp_path, winner, demo=True)
    assert len(lines) <= MAX_LINES, f"{len(lines)} lines:\n" + "\n".join(lines)
    assert len(report.splitlines()) > MAX_LINES  # the report itself is longer: the file keeps it whole
    text = "\n".join(lines)
    assert sum(line.startswith(("| bilinear:", "| swapped:")) for line in lines) == 4  # every candidate
    assert "| quantize | swapped INT8 (openvino) |" in text  # the chain: quality and speed, step by step
    assert '"weight_decay"' not in text and "## Settings" not in text and "## All models" not in text
    assert lines[-1].startswith("Stop the server with: ") if winner else lines[-1].startswith("Not deployed")


def test_a_run_the_gate_stopped_says_why_and_that_deploy_was_skipped(tmp_path: Path) -> None:
    lines, report, run = _run_through(tmp_path, winner=False)
    assert len(lines) <= MAX_LINES, "\n".join(lines)
    assert "**Gate: not deployed**" in lines
    own = [line for line in lines if line not in report.splitlines()]
    evaluate = next(line for line in own if line.split()[0] == "evaluate")
    assert "no winner: No candidate passed: bilinear:onnxruntime failed speed" in evaluate
    assert "deploy     skipped: not deployed, no candidate passed the gate" in "\n".join(own)
    assert own[-1] == f"Not deployed (the gate said no); outputs in {run}"
    assert not any(line.strip().startswith("curl ") for line in own)


def test_a_task_that_never_writes_its_outputs_is_reported_failed(tmp_path: Path) -> None:
    out = io.StringIO()
    console = RunConsole(out)
    with RunWatcher(tmp_path, console.event, poll=3600) as watcher:
        (tmp_path / RUN / "train").mkdir(parents=True)
        watcher.scan()
    assert out.getvalue().splitlines()[0] == "-> train"
    assert out.getvalue().splitlines()[1].startswith("   train      FAILED after ")
    assert console.states == {"train": "failed"}


def test_progress_lines_show_on_a_terminal_only(tmp_path: Path) -> None:
    out = io.StringIO()
    RunConsole(out, terminal=False).progress("train", 12.3, "epoch 3/15")
    assert out.getvalue() == ""
    console = RunConsole(out, terminal=True)
    console.progress("train", 12.3, "epoch 3/15  batch 2")
    assert out.getvalue() == "\r   train          12 s  epoch 3/15  batch 2\x1b[K"
    console.event(type("E", (), {"task": "train", "state": "done", "seconds": 2.0, "figure": "best"})())
    assert out.getvalue().endswith("\x1b[K\r\x1b[K   train         2.0 s  best\n")  # the progress line is cleared


def test_where_to_look_without_evaluation_says_nothing_was_trained(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONSEG_DEPLOY_STATE", str(tmp_path / "no-deployments"))
    (tmp_path / "check-data").mkdir()
    (tmp_path / "check-data" / "report").write_text("x")
    lines = where_to_look(tmp_path, tmp_path / "check-data" / "report", None)
    assert lines[-2:] == [f"Nothing trained (no new data); outputs in {tmp_path}",
                          "To train anyway: make demo FORCE=1, or personseg pipeline run --local "
                          "--param force_retrain=true"]


def test_the_running_step_shows_its_own_progress_only(tmp_path: Path) -> None:
    import time

    seen: list[tuple[str, str]] = []
    progress = tmp_path / "run.progress"
    run = tmp_path / RUN

    def wait_for(task: str, text: str) -> None:
        deadline = time.monotonic() + 10
        while (task, text) not in seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (task, text) in seen, seen

    with RunWatcher(tmp_path, lambda ev: None, lambda task, s, text: seen.append((task, text)), progress,
                    poll=0.02) as watcher:
        (run / "train").mkdir(parents=True)
        wait_for("train", "")
        progress.write_text("epoch 2/15  batch 3")  # what the step's subprocess writes
        wait_for("train", "epoch 2/15  batch 3")
        (run / "train" / "executor_output.json").write_text("{}")
        (run / "swap").mkdir()
        wait_for("swap", "")
        assert ("swap", "epoch 2/15  batch 3") not in seen  # train's last line was dropped as swap started
    assert watcher.run_dir == run
