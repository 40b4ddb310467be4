"""Deploy: publish the winning candidate's model to the registry and roll it out (cluster or local process)."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def deploy(candidates: Input[Model], winner: str, evaluation: Input[Artifact], model_name: str, deploy_target: str,
           namespace: str, dataset_uri: str, retrain_key: str, s3_endpoint: str, serving_secret: str,
           access_key_field: str, secret_key_field: str, serving_min_replicas: int, serving_max_replicas: int,
           serving_cpu_request: str, serving_cpu_limit: str, serving_memory_request: str, serving_memory_limit: str,
           result: Output[Artifact]) -> str:
    """Publish, deploy, and record the outcome; returns where the model answers."""
    import json

    from personseg.pipeline_logic.candidates import candidate_dir
    from personseg.pipeline_logic.deploy import card_from_evaluation, publish_and_deploy
    from personseg.pipeline_logic.retrain import training_card
    from personseg.pipeline_logic.storage_env import use_endpoint

    use_endpoint(s3_endpoint)
    serving = {"s3_secret": serving_secret, "s3_access_key_field": access_key_field,
               "s3_secret_key_field": secret_key_field, "min_replicas": serving_min_replicas,
               "max_replicas": serving_max_replicas, "cpu_request": serving_cpu_request,
               "cpu_limit": serving_cpu_limit, "memory_request": serving_memory_request,
               "memory_limit": serving_memory_limit}
    card = {**card_from_evaluation(evaluation.path, winner), **training_card(dataset_uri, retrain_key)}
    outcome = publish_and_deploy(candidate_dir(candidates.path, winner), model_name, deploy_target, namespace, card,
                                 s3_endpoint, serving)
    with open(result.path, "w") as fh:
        json.dump(outcome, fh, indent=2, sort_keys=True)
    return outcome["endpoint"]
