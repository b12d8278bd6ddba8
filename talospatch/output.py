"""The one module that writes files: atomically, so a reader never sees half a patch."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from talospatch.errors import BadInput


def check_target(path: str, label: str = "output") -> Path:
    """Fail early, before any work, when ``path`` cannot be an output file.

    ``label`` names the option or key that gave the path, in messages.
    """
    if not path:
        raise BadInput(f"{label} needs a file name")
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise BadInput(f"{label} {path}: folder {folder} does not exist")
    if target.is_dir():
        raise BadInput(f"{label} {path}: is a directory")
    return target


def write_atomic(path: str, text: str, label: str = "output") -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    On any error the previous file, if any, is untouched and no new file appears.
    """
    target = check_target(path, label)
    folder = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise BadInput(f"{label} {path}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            # Keep the mode of the file being replaced; a new file gets the umask's default.
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise BadInput(f"{label} {path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def make_folder(path: str, label: str = "output") -> None:
    """Create the folder ``path`` (and its parents) unless it exists."""
    folder = Path(path)
    if folder.is_dir():
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{label} {path}: cannot create the folder: {exc.strerror or exc}") from None
