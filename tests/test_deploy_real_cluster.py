"""Against a REAL cluster, only when KUBECONFIG is set (skipped otherwise; the stand-in tests in
tests/test_deploy_cluster.py cover the logic). Server-side apply idempotence always runs then; the
full rollout also needs PERSONSEG_TEST_MODEL (an s3:// prefix or models:/ ref the pods can read) and
the serving image pushed (PERSONSEG_TEST_IMAGE, default from the package version).
Namespace: PERSONSEG_TEST_NAMESPACE (default "default").
"""

from __future__ import annotations

import os
import uuid

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("KUBECONFIG"),
                                reason="KUBECONFIG not set: no real cluster to test against")
NAMESPACE = os.environ.get("PERSONSEG_TEST_NAMESPACE", "default")


def test_server_side_apply_is_idempotent_on_a_real_cluster():
    from personseg.deploy.config import DeployConfig
    from personseg.deploy.objects import service_account
    from personseg.kube import KubeApi, connect

    api = KubeApi(connect())
    cfg = DeployConfig(model="s3://unused/m/1/", namespace=NAMESPACE, name=f"personseg-t{uuid.uuid4().hex[:8]}")
    obj = service_account(cfg)
    try:
        first = api.apply(obj, cfg.field_manager)
        second = api.apply(obj, cfg.field_manager)
        assert first["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
        assert api.get("ServiceAccount", NAMESPACE, cfg.name)["automountServiceAccountToken"] is False
    finally:
        assert api.delete("ServiceAccount", NAMESPACE, cfg.name)
    assert api.get("ServiceAccount", NAMESPACE, cfg.name) is None


@pytest.mark.skipif(not os.environ.get("PERSONSEG_TEST_MODEL"), reason="PERSONSEG_TEST_MODEL not set")
def test_full_rollout_on_a_real_cluster():
    from personseg.deploy.config import DeployConfig
    from personseg.deploy.step import run
    from personseg.image_refs import serving_image

    cfg = DeployConfig(model=os.environ["PERSONSEG_TEST_MODEL"], namespace=NAMESPACE,
                       image=os.environ.get("PERSONSEG_TEST_IMAGE", serving_image()), timeout=600)
    result = run(cfg)
    assert result.status == "deployed" and result.smoke["width"] == 160
