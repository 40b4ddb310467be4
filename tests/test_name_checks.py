"""Every name or value checked by a pattern is checked whole: ``$`` alone also matches before a final newline.

``models publish --name $'nl\\n'`` used to succeed and break ``models list``; a bucket ``models\\n`` parsed.
"""

from __future__ import annotations

import pytest

from personseg.deploy.config import DeployConfig, cpu_cores
from personseg.errors import UserError
from personseg.storage.access import S3Access
from personseg.storage.cache import _check_key
from personseg.storage.config import check_bucket_name
from personseg.storage.refs import check_name, parse_ref
from personseg.training.trainjob import NodePool, TrainJobSpec


def _trainjob(name: str) -> None:
    pool = NodePool(nodes=1, namespace="n", image="i", s3=S3Access("e", "s"))
    TrainJobSpec(name=name, pool=pool, data_uri="s3://b/d", model_uri="s3://b/m", train_args=()).check()


CHECKS = {
    "model name": (check_name, "seg"),
    "model reference": (parse_ref, "models:/seg"),
    "bucket": (check_bucket_name, "models"),
    "cache key": (_check_key, "0" * 64),
    "cpu quantity": (cpu_cores, "500m"),
    "deploy name": (lambda v: DeployConfig(model="s3://b/m/1/", name=v), "personseg"),
    "trainjob name": (_trainjob, "train-1"),
}


@pytest.mark.parametrize("what", sorted(CHECKS))
def test_a_trailing_newline_is_refused(what):
    check, good = CHECKS[what]
    check(good)
    with pytest.raises(UserError):
        check(good + "\n")
