"""Evaluate: the seed, each network's FP32 ONNX and every candidate side by side; gate each, pick the fastest."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def evaluate(data: Input[Dataset], bilinear: Input[Model], candidates: Input[Model], model_name: str,
             tolerable_iou_loss: float, min_speedup: float, min_iou: float, rounds: int, extra_eval_uri: str,
             min_extra_iou: float, image_size: int, s3_endpoint: str, metrics: Output[Metrics],
             report: Output[Markdown], gallery: Output[HTML], evaluation: Output[Artifact]) -> str:
    """Compare the models, score production, write the UI artifacts; return the winner ("" = deploy nothing)."""
    import tempfile

    from personseg.steps.evaluate import evaluate_candidates
    from personseg.steps.ingest import extra_eval_set
    from personseg.steps.storage_env import use_endpoint

    use_endpoint(s3_endpoint)
    with tempfile.TemporaryDirectory(prefix="personseg-eval-") as work:
        out = evaluate_candidates(data.path, bilinear.path, candidates.path, model_name, tolerable_iou_loss,
                                  min_speedup, rounds=rounds, report_json=evaluation.path,
                                  extra=extra_eval_set(extra_eval_uri, work, image_size), min_extra_iou=min_extra_iou,
                                  min_iou=min_iou)
    for key, value in out.metrics.items():
        metrics.log_metric(key, value)
    with open(report.path, "w") as fh:
        fh.write(out.markdown)
    with open(gallery.path, "w") as fh:
        fh.write(out.gallery)
    return out.winner
