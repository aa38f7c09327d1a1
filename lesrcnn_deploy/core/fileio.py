"""Small file helpers: SHA256 and atomic writes (temporary file in the same folder, then rename)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import LesrcnnError, StorageError

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "read_json",
    "sha256_file",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Hex SHA256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    On any exception (including KeyboardInterrupt) the temporary file is removed and ``target``
    is left as it was: a reader never sees a half-written file.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp", dir=target.parent
        )
    except OSError as exc:
        raise _storage_error(exc, target) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, LesrcnnError):
            raise _storage_error(exc, target) from exc
        raise


def _storage_error(exc: OSError, target: Path) -> StorageError:
    """``exc`` as the toolkit's one-line :class:`StorageError`, naming the target file."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    err = StorageError(f"{target}: cannot write ({reason})")
    err.errno, err.strerror, err.filename = exc.errno, reason, str(target)
    return err


def read_json(path: str | os.PathLike[str], what: str, *, error: type[Exception]) -> Any:
    """Parse the JSON file ``path``; a missing, unreadable or invalid file raises ``error`` with
    one line naming the file and ``what`` it should be."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"{p}: {what} not found"
        raise error(msg) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{p}: unreadable {what} ({type(exc).__name__})"
        raise error(msg) from None


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(
    target: str | os.PathLike[str], obj: Any, *, default: Callable[[Any], Any] | None = None
) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``target`` atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=default or str) + "\n"
    atomic_write_bytes(target, text.encode("utf-8"))
