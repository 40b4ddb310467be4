"""How to reach and authenticate to the KFP API, and one-line errors for everything that call can do.

Authentication uses the usual ``kfp.Client`` options: a bearer token read from an environment
variable (never from the command line, which ends up in shell history and process lists), a CA
bundle, a namespace for multi-user deployments.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from personseg.errors import UserError
from personseg_kfp.backend import check_backend
from personseg_kfp.kfp_errors import translate

TOKEN_ENV = "KFP_TOKEN"


@dataclass(frozen=True)
class Connection:
    """How to reach and authenticate to the KFP API."""

    host: str
    namespace: str | None = None
    token_env: str = TOKEN_ENV
    ssl_ca_cert: str | None = None
    timeout: float = 10.0

    def token(self) -> str | None:
        """The bearer token from ``$token_env``, or None."""
        return os.environ.get(self.token_env) or None

    def client(self) -> Any:
        """A ``kfp.Client`` for this endpoint, after checking it is a KFP v2 API new enough for the pipeline."""
        if not self.host.startswith(("http://", "https://")):
            raise UserError(f"--host {self.host!r}: expected http(s)://HOST[:PORT][/PATH]")
        check_backend(self.host, self.token(), self.token_env, self.ssl_ca_cert, self.timeout)
        import kfp

        kwargs: dict[str, Any] = {"host": self.host, "existing_token": self.token(), "ssl_ca_cert": self.ssl_ca_cert}
        if self.namespace:
            kwargs["namespace"] = self.namespace
        with warnings.catch_warnings(), self.errors():
            warnings.filterwarnings("ignore", "This client only works with", FutureWarning)
            return kfp.Client(**kwargs)

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn what ``kfp.Client`` raises on a failed call into one ``UserError`` naming the host."""
        try:
            yield
        except UserError:
            raise
        except Exception as exc:
            err = translate(self.host, exc, self.token_env, bool(self.token()), self.timeout)
            if err is None:
                raise
            raise err from None
