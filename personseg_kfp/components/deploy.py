"""Deploy: publish the winning candidate's model to the registry and roll it out (cluster or local process)."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def deploy(candidates: Input[Model], winner: str, evaluation: Input[Artifact], model_name: str, deploy_target: str,
           namespace: str, dataset_uri: str, retrain_key: str, s3_endpoint: str, serving_secret: str,
           access_key_field: str, secret_key_field: str, serving_min_replicas: int, serving_max_replicas: int,
           serving_cpu_request: str, serving_cpu_limit: str, serving_memory_request: str, serving_memory_limit: str,
           serving_image: str, result: Output[Artifact]) -> str:
    """Publish, deploy, and record the outcome; returns where the model answers."""
    params = dict(locals())
    import json

    from personseg.steps.candidates import candidate_dir
    from personseg.steps.check_data import serving_settings
    from personseg.steps.deploy import card_from_evaluation, publish_and_deploy
    from personseg.steps.retrain_check import training_card
    from personseg.steps.storage_env import use_endpoint
    from personseg.storage.access import S3Access

    use_endpoint(s3_endpoint)
    # the same values check_data checked: endpoint, Secret, sizing, image
    s3 = S3Access(s3_endpoint, serving_secret, access_key_field, secret_key_field)
    card = {**card_from_evaluation(evaluation.path, winner), **training_card(dataset_uri, retrain_key)}
    outcome = publish_and_deploy(candidate_dir(candidates.path, winner), model_name, deploy_target, namespace, card,
                                 s3, serving_settings(params))
    with open(result.path, "w") as fh:
        json.dump(outcome, fh, indent=2, sort_keys=True)
    return outcome["endpoint"]
