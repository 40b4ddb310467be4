"""Complete-or-absent outputs that never replace a user's files unasked.

A folder is built in a hidden sibling and renamed into place. An existing non-empty folder is refused
unless ``force``; replacing it moves it aside first, so a crash leaves the old or the new folder (or
the old one beside an absent output), never a mixture. Everything written gets the permissions that
a plain ``mkdir``/``open`` gives under the caller's umask: some writers (``tempfile``, safetensors)
create private 0700/0600 entries, which a server running as another uid could not read.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from personseg.errors import UserError

FORCE_HINT = "pass --force to replace it"


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (other threads may be creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output(out: str | Path, force: bool = False, what: str = "output") -> Path:
    """Refuse, before any work, an output that is not a plain new name or would replace files without ``force``."""
    path = Path(out)
    if path.name in ("", ".", ".."):
        raise UserError(f"{what} {str(out)!r}: name the folder to create (e.g. ./mydata)")
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise UserError(f"{what} {out}: exists and is not a folder; choose another name")
    if path.is_dir():
        if Path.cwd().resolve().is_relative_to(path.resolve()):
            raise UserError(f"{what} {out}: holds the current folder; choose another name")
        try:
            empty = not any(path.iterdir())
        except OSError as exc:
            raise UserError(f"{what} {out}: cannot read it ({exc.strerror})") from None
        if not force and not empty:
            raise UserError(f"{what} {out}: already exists and is not empty; {FORCE_HINT}")
    return path


def check_file(path: str | Path, force: bool = False, what: str = "output") -> Path:
    """Refuse, before any work, an output file that is not a plain name or would replace a file without ``force``."""
    file = Path(path)
    if file.name in ("", ".", "..") or file.is_dir():
        raise UserError(f"{what} {str(path)!r}: name a file to write (e.g. ./report.json)")
    if file.exists() and not force:
        raise UserError(f"{what} {path}: already exists; {FORCE_HINT}")
    return file


def _make_parents(out: Path) -> list[Path]:
    """Create the folders above ``out``; those it created, deepest first (to undo on failure)."""
    made = []
    for parent in out.parents:
        if parent.exists():
            break
        made.append(parent)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"output {out}: cannot create {out.parent} ({exc.strerror})") from None
    return made


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _sibling(out: Path, tag: str) -> Path:
    """Create and return an empty hidden folder beside ``out``; ``os.mkdir`` applies the umask."""
    while True:
        candidate = out.with_name(f".{out.name}.{tag}-{secrets.token_hex(4)}")
        try:
            os.mkdir(candidate, 0o777)
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            raise UserError(f"output {out}: cannot write in {out.parent} ({exc.strerror})") from None


def follow_umask(root: Path, umask: int | None = None) -> None:
    """Give every folder and file under ``root`` (and ``root``) the mode ``mkdir``/``open`` would under ``umask``."""
    umask = current_umask() if umask is None else umask
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o777 & ~umask)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                executable = os.stat(path).st_mode & 0o111
                os.chmod(path, (0o777 if executable else 0o666) & ~umask)


@contextlib.contextmanager
def atomic_dir(out: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty folder beside ``out``; on success it becomes ``out``, on error nothing is left.

    An existing non-empty ``out`` is refused unless ``force``; an existing empty one is replaced.
    """
    out = check_output(out, force)
    made = _make_parents(out)
    try:
        tmp = _sibling(out, "tmp")
    except BaseException:
        _remove_empty(made)
        raise
    try:
        yield tmp
        follow_umask(tmp)
        check_output(out, force)  # again: something may have appeared there while we worked
        if out.is_dir():
            old = _sibling(out, "old")
            out.rename(old / out.name)  # kept whole until the new folder is in place
            try:
                tmp.rename(out)
            except BaseException:
                (old / out.name).rename(out)
                old.rmdir()
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(made)
        raise


def write_json(path: str | Path, data: object) -> None:
    """Write JSON through a temp file and rename, so readers never see half a file."""
    import json

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
