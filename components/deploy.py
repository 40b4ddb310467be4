"""Deploy: publish the INT8 model to the registry and roll it out (cluster or local process)."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def deploy(int8: Input[Model], evaluation: Input[Artifact], model_name: str, deploy_target: str, namespace: str,
           s3_endpoint: str, result: Output[Artifact]) -> str:
    """Publish, deploy, and record the outcome; returns where the model answers."""
    import json

    from personseg.pipeline_logic.deploy import card_from_evaluation, publish_and_deploy
    from personseg.pipeline_logic.storage_env import use_endpoint

    use_endpoint(s3_endpoint)
    outcome = publish_and_deploy(int8.path, model_name, deploy_target, namespace,
                                 card_from_evaluation(evaluation.path))
    with open(result.path, "w") as fh:
        json.dump(outcome, fh, indent=2, sort_keys=True)
    return outcome["endpoint"]
