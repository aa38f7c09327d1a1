"""The private job folder of one server, owned by it, and the removal of folders left behind.

Each server makes its own folder ``lesrcnn-jobs-XXXXXXXX`` (mode 0700) in the job parent folder
(``--jobs-dir``, default the system temp dir), takes an exclusive ``flock`` on its ``.lock`` file
for as long as it lives, then writes its process id to ``.pid``. The kernel drops the lock when the
process ends, however it ends (SIGKILL, an OOM kill), so a folder that has a ``.pid`` and whose
lock can be taken has no server any more: the next server to start in the same parent removes it
and says how many bytes it freed. A folder without ``.pid`` is being created (or was made by an
older version, which wrote no lock) and is left alone; so is a folder of another user.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PREFIX", "JobDir", "Reclaimed", "remove_orphans"]

PREFIX = "lesrcnn-jobs-"
"""Name prefix of every server's job folder."""

_LOCK = ".lock"
_PID = ".pid"


@dataclass(frozen=True)
class Reclaimed:
    """What :func:`remove_orphans` removed: ``folders`` and the ``bytes`` their files held."""

    folders: int = 0
    bytes: int = 0


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _orphaned(folder: Path) -> bool:
    """True when ``folder`` is ours (same user), has a pid file and nobody holds its lock."""
    try:
        if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
            return False
        if not (folder / _PID).is_file():
            return False
        fd = os.open(folder / _LOCK, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # its server holds the lock: alive
        return False
    finally:
        os.close(fd)  # closing drops a lock we took: the folder is removed next, by its finder
    return True


def remove_orphans(parent: str | os.PathLike[str]) -> Reclaimed:
    """Remove the job folders in ``parent`` whose server is gone (see the module doc).

    Returns:
        How many folders were removed and the bytes their files held.
    """
    folders = freed = 0
    for folder in sorted(Path(parent).glob(f"{PREFIX}*")):
        if _orphaned(folder):
            size = _size(folder)
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                folders += 1
                freed += size
    return Reclaimed(folders, freed)


class JobDir:
    """This server's job folder: created, locked and pid-stamped; orphans removed first.

    Args:
        parent: where the folder is made (default: the system temp dir).

    Attributes:
        root: the folder.
        reclaimed: the folders of gone servers removed on creation.
    """

    def __init__(self, parent: str | os.PathLike[str] | None = None) -> None:
        base = Path(parent) if parent is not None else Path(tempfile.gettempdir())
        self.reclaimed = remove_orphans(base)
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))  # mode 0700
        self._fd = os.open(self.root / _LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        (self.root / _PID).write_text(f"{os.getpid()}\n", encoding="ascii")  # after the lock

    def close(self) -> None:
        """Delete the folder and everything in it, then drop the lock."""
        shutil.rmtree(self.root, ignore_errors=True)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
