"""`personseg storage up|down|env`: a local S3 server (SeaweedFS ``weed mini``) for development.

``up`` starts it in the background with generated credentials, writes them to a 0600 env file and
prints shell lines to load them: ``eval "$(personseg storage up)"``. The secret key itself is
only in the env file, never on the terminal.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from personseg.errors import UserError

if TYPE_CHECKING:
    from personseg.storage.weed import LocalS3

DEFAULT_DIR = Path("runs/storage")
ENV_NAME = "s3.env"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `storage` command and its sub-commands."""
    parser = sub.add_parser(
        "storage", help="Local S3 server for development (SeaweedFS weed mini)", description=__doc__
    )
    inner = parser.add_subparsers(dest="storage_command", required=True, metavar="COMMAND")
    up = inner.add_parser("up", help="start the server in the background and print its exports")
    up.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="server state directory (default %(default)s)")
    up.add_argument("--port", type=int, default=None, help="S3 port on 127.0.0.1 (default: a free one)")
    up.add_argument("--env-file", type=Path, default=None, help=f"env file to write (default DIR/{ENV_NAME})")
    up.set_defaults(func=_up)
    down = inner.add_parser("down", help="stop the server started by `up`")
    down.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="server state directory (default %(default)s)")
    down.set_defaults(func=_down)
    env = inner.add_parser("env", help="print the exports of the running server")
    env.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="server state directory (default %(default)s)")
    env.add_argument("--env-file", type=Path, default=None, help=f"env file (default DIR/{ENV_NAME})")
    env.set_defaults(func=_env)


def _print_exports(server: LocalS3, env_file: Path) -> None:
    from personseg.console.launcher import personseg_command

    stop = f"{personseg_command()} storage down --dir {shlex.quote(str(server.root))}"  # works from any folder
    print(f"# personseg local S3 (weed mini, pid {server.pid}); stop: {stop}")
    for key, value in server.env().items():
        if key != "MINIO_SECRET_KEY":
            print(f"export {key}={value}")
    print(f". {env_file.resolve()}  # sets MINIO_SECRET_KEY too (kept off the terminal)")


def _up(args: argparse.Namespace) -> int:
    from personseg.storage.weed import running_server, start_local_s3, write_env_file

    env_file = args.env_file or args.dir / ENV_NAME
    server = running_server(args.dir)
    if server is not None:
        if args.port is not None and server.s3_port != args.port:
            raise UserError(f"a server already runs from {args.dir} on port {server.s3_port}; `storage down` it first")
    else:
        server = start_local_s3(args.dir, args.port)
    write_env_file(env_file, server)
    _print_exports(server, env_file)
    return 0


def _down(args: argparse.Namespace) -> int:
    from personseg.storage.weed import running_server

    server = running_server(args.dir)
    if server is None:
        print(f"no local S3 server running from {args.dir}")
        return 0
    server.stop()
    print(f"stopped weed mini (pid {server.pid})")
    return 0


def _env(args: argparse.Namespace) -> int:
    from personseg.storage.weed import running_server

    server = running_server(args.dir)
    if server is None:
        raise UserError(f"no local S3 server running from {args.dir}; start one with `personseg storage up`")
    env_file = args.env_file or args.dir / ENV_NAME
    if not env_file.is_file():
        raise UserError(f"{env_file}: missing; run `personseg storage up --dir {args.dir}` to rewrite it")
    _print_exports(server, env_file)
    return 0
