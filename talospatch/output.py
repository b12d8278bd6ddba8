"""The one module that writes files: atomically, so a reader never sees half a patch.

Every file is written to a temporary file in its target's folder and renamed over the
target (``os.replace``, atomic on one filesystem): a reader sees the old file or the new one,
never a part, and a write that fails leaves the old file (or none) and no temporary file.
``Staging`` does that for several files at once: each is written beside its target as it
comes, and all are renamed into place only at ``commit``, so a spec whose third file fails
to write (or a build that is interrupted) leaves none of its files changed, and no folder
made for them.

There is no ``fsync``: atomicity is kept, durability is not sought. Every output is rebuilt
from its inputs byte for byte, so what a power cut may lose (the last files written, left as
the old file, or on some filesystems an empty one) is repaired by running the command again,
and ``build --check`` finds it. Syncing every file cost a build of 1,000 specs (2,000 files)
most of a second.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from talospatch.errors import BadInput

# What names a path in messages: the option or key that gave it. One that costs something
# to find (a spec's ``file:line: key``, which parses the spec again) is passed as a function,
# called only when there is a message to write.
Label = str | Callable[[], str]


def _name(label: Label) -> str:
    return label if isinstance(label, str) else label()


def check_target(path: str, label: Label = "output") -> Path:
    """Fail early, before any work, when ``path`` cannot be an output file.

    ``label`` names the option or key that gave the path, in messages.
    """
    if not path:
        raise BadInput(f"{_name(label)} needs a file name")
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise BadInput(f"{_name(label)} {path}: folder {folder} does not exist")
    if target.is_dir():
        raise BadInput(f"{_name(label)} {path}: is a directory")
    return target


class Staging:
    """Files written beside their targets, renamed into place together by ``commit``.

    Used as a context manager: leaving it without ``commit`` (an error, an interrupt)
    deletes the files staged so far, and no target changes.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, str, Label]] = []  # (temporary file, target, its label)
        self._folders: list[Path] = []  # created here, outermost first
        self._umask: int | None = None

    def make_folder(self, path: str, label: Label = "output") -> None:
        """Create the folder ``path`` and its missing parents; leaving without ``commit``
        removes the ones created here (when empty)."""
        missing: list[Path] = []
        folder = Path(path)
        while not folder.is_dir() and folder.parent != folder:
            missing.append(folder)
            folder = folder.parent
        for created in reversed(missing):
            try:
                created.mkdir()
            except OSError as exc:
                raise BadInput(f"{_name(label)} {path}: cannot create the folder: {exc.strerror or exc}") from None
            self._folders.append(created)

    def add(self, path: str, text: str, label: Label = "output") -> None:
        """Write ``text`` to a temporary file beside ``path``, with the mode ``path`` will have."""
        target = check_target(path, label)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        except OSError as exc:
            raise BadInput(f"{_name(label)} {path}: cannot write: {exc.strerror}") from None
        self._staged.append((tmp, path, label))
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            try:
                # Keep the mode of the file being replaced; a new file gets the umask's default.
                mode = target.stat().st_mode & 0o7777
            except FileNotFoundError:
                mode = 0o666 & ~self._get_umask()
            os.chmod(tmp, mode)
        except OSError as exc:
            raise BadInput(f"{_name(label)} {path}: cannot write: {exc.strerror or exc}") from None

    def _get_umask(self) -> int:
        if self._umask is None:
            self._umask = os.umask(0)
            os.umask(self._umask)
        return self._umask

    def commit(self) -> None:
        """Rename every staged file over its target."""
        staged, self._staged = self._staged, []
        self._folders.clear()  # they hold what is committed now
        for index, (tmp, path, label) in enumerate(staged):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                self._staged = staged[index:]  # not renamed: ``discard`` deletes them
                raise BadInput(f"{_name(label)} {path}: cannot write: {exc.strerror or exc}") from None

    def discard(self) -> None:
        """Delete the files staged and not yet renamed, and the folders made for them."""
        for tmp, _path, _label in self._staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._staged.clear()
        for folder in reversed(self._folders):
            with contextlib.suppress(OSError):  # not empty: something else wrote there meanwhile
                folder.rmdir()
        self._folders.clear()

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.discard()


def write_atomic(path: str, text: str, label: Label = "output") -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    On any error the previous file, if any, is untouched and no new file appears.
    """
    with Staging() as staging:
        staging.add(path, text, label)
        staging.commit()
