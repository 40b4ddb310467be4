"""Thin entry point: the pipeline is ``personseg_kfp.pipeline`` (installed with personseg).

Its compiled package, ``person_segmentation.yaml`` beside this file, is what people upload in the
Kubeflow UI; ``personseg pipeline compile`` rewrites it and a test checks it is not stale.
"""

from personseg_kfp.pipeline import (  # noqa: F401
    PIPELINE_NAME,
    build_pipeline,
    compile_pipeline,
    person_segmentation,
)
