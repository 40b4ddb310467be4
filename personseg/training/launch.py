"""``personseg train --nproc N``: N ranks on this machine through torch's elastic launcher.

Each rank runs ``python -m personseg train ...`` with torchrun's environment, exactly as
``python -m torch.distributed.run --nproc-per-node N -m personseg train ...`` would start it, so one
code path serves this launch, a hand-run torchrun and Kubeflow Trainer. The rendezvous binds
127.0.0.1 on a free port. A rank that fails ends the run (no restarts); the launcher's error becomes a
``UserError`` naming the failed rank(s) and exit code(s), the rank's own message being on stderr above.
"""

from __future__ import annotations

import logging
import sys
import uuid

from personseg.errors import UserError

log = logging.getLogger(__name__)


def describe_failures(failures: dict[int, object]) -> str:
    """One line naming each failed rank and its exit code, the likely cause first.

    Ranks that exited on their own come before ranks killed by a signal (the launcher stops the
    survivors once one rank fails), then by failure time (whole seconds, so often tied), then by rank.
    """

    def key(item: tuple[int, object]) -> tuple[bool, float, int]:
        code = getattr(item[1], "exitcode", 0)
        return isinstance(code, int) and code < 0, getattr(item[1], "timestamp", 0), item[0]

    ordered = sorted(failures.items(), key=key)
    parts = []
    for rank, failure in ordered:
        code = getattr(failure, "exitcode", None)
        how = f"killed by signal {-code}" if isinstance(code, int) and code < 0 else f"exit code {code}"
        parts.append(f"rank {rank} failed ({how})")
    return "; ".join(parts)


def launch_local(nproc: int, argv: list[str], rdzv_timeout_s: float = 300.0) -> None:
    """Run ``python <argv>`` as ``nproc`` ranks; return when all succeeded, raise ``UserError`` otherwise."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=uuid.uuid4().hex,
                          rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", local_addr="127.0.0.1",
                          rdzv_configs={"timeout": int(rdzv_timeout_s)}, max_restarts=0, monitor_interval=0.1)
    log.info("launching %d training ranks on this machine", nproc)
    try:
        elastic_launch(config, sys.executable)(*argv)
    except ChildFailedError as exc:
        raise UserError(f"--nproc {nproc}: training failed: {describe_failures(exc.failures)}") from None
