"""The work folder of a segmented video job: finished segments kept across crashes, checked again.

``.{output name}.parts/`` beside the output holds ``job.json`` (the job's key: the input's
SHA-256 and every setting that changes the pixels or the encoding) and, per finished segment,
``seg_NNNNN.nut`` then ``seg_NNNNN.json`` (its frame count, where its last frame ends, its size and
SHA-256), each written atomically, the record after the file. A segment counts as finished only
with both, and only after the check at the next start: same size and SHA-256, as many video
packets as frames, every frame decodable. Anything else (a file half-written when the process
was killed, a record without its file, a corrupt file) is deleted and the segment redone. A folder
of another input or other settings is discarded; so is any folder with ``restart``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.errors import VideoError
from ..core.fileio import atomic_path, atomic_write_json, sha256_file
from .probe import import_av

__all__ = ["SegmentRecord", "WorkFolder", "job_key", "work_folder_for"]

_JOB = "job.json"


@dataclass(frozen=True)
class SegmentRecord:
    """A finished segment, as its record file says.

    Attributes:
        index: the segment's position.
        frames: video frames it holds.
        end_pts: where its last frame ends (source video time base).
        bytes: size of its file.
        sha256: SHA-256 of its file.
        codec: encoder used.
        pix_fmt: encoder pixel format.
        size: encoded ``(width, height)``.
        decode_s, infer_s, encode_s: busy time of its stages, s.
        wall_s: wall time of its run (set-up, seek, the three stages, SHA-256), s.
        notes: what of the input its encoder could not carry (HDR metadata).
    """

    index: int
    frames: int
    end_pts: int
    bytes: int
    sha256: str
    codec: str = ""
    pix_fmt: str = ""
    size: tuple[int, int] = (0, 0)
    decode_s: float = 0.0
    infer_s: float = 0.0
    encode_s: float = 0.0
    wall_s: float = 0.0
    notes: tuple[str, ...] = ()


def work_folder_for(dst: str | os.PathLike[str]) -> Path:
    """The work folder of output ``dst``: ``.{name}.parts`` beside it (hidden)."""
    p = Path(dst)
    return p.parent / f".{p.name}.parts"


def job_key(source: str | os.PathLike[str], settings: Mapping[str, Any]) -> str:
    """SHA-256 of the input's bytes and ``settings`` (JSON, sorted): the work folder's key."""
    text = json.dumps(
        {"input_sha256": sha256_file(source), "settings": settings}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


class WorkFolder:
    """One work folder (see the module doc); cheap to build, so Ray actors make their own.

    Args:
        path: the folder (:func:`work_folder_for`).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def part(self, index: int) -> Path:
        """The segment file of segment ``index``."""
        return self.path / f"seg_{index:05d}.nut"

    def _record(self, index: int) -> Path:
        return self.path / f"seg_{index:05d}.json"

    def prepare(self, key: str, *, restart: bool = False) -> list[str]:
        """Create the folder for job ``key``, discarding one of another key (or any, ``restart``).

        Returns:
            Notes: what was discarded.
        """
        notes = []
        if self.path.exists():
            old = None
            with contextlib.suppress(OSError, ValueError):
                old = json.loads((self.path / _JOB).read_text()).get("key")
            if restart or old != key:
                why = "--restart" if restart else "another input or other settings"
                notes.append(f"discarded the work folder {self.path} ({why})")
                shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        for stray in self.path.glob(".*"):  # temporary files of a killed run
            with contextlib.suppress(OSError):
                stray.unlink()
        if not (self.path / _JOB).exists():
            atomic_write_json(self.path / _JOB, {"key": key})
        return notes

    def save(self, record: SegmentRecord) -> None:
        """Write the record of a segment whose file is in place."""
        atomic_write_json(self._record(record.index), asdict(record))

    def write_part(self, index: int) -> Any:
        """An atomic path for segment ``index``'s file (a context manager yielding a path)."""
        return atomic_path(self.part(index))

    def finished(self, frames: Mapping[int, int]) -> tuple[dict[int, SegmentRecord], list[str]]:
        """The segments already done, checked (see the module doc); the rest is deleted.

        Args:
            frames: segment index -> the frames the plan counts (0: not known beforehand).

        Returns:
            The trusted records by index, and one note per segment found broken.
        """
        done: dict[int, SegmentRecord] = {}
        notes: list[str] = []
        for index, want in frames.items():
            part, record = self.part(index), self._record(index)
            if not record.exists():
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()  # a file without its record: not known to be whole
                continue
            try:
                raw = json.loads(record.read_text())
                rec = SegmentRecord(
                    **{**raw, "size": tuple(raw["size"]), "notes": tuple(raw["notes"])}
                )
                problem = _check(part, rec, want)
            except (OSError, ValueError, TypeError, KeyError) as exc:
                problem = f"unreadable record ({type(exc).__name__})"
                rec = None
            if problem is None and rec is not None:
                done[index] = rec
                continue
            notes.append(f"segment {index} in the work folder is redone: {problem}")
            for p in (record, part):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
        return done, notes

    def remove(self) -> None:
        """Delete the folder (the job is finished)."""
        shutil.rmtree(self.path, ignore_errors=True)

    def empty(self) -> bool:
        """No finished segment in the folder."""
        return not any(self.path.glob("seg_*.json"))


def _check(part: Path, rec: SegmentRecord, want: int) -> str | None:
    """Why segment file ``part`` cannot be trusted, or ``None``."""
    if want and rec.frames != want:
        return f"holds {rec.frames} frames, the plan {want}"
    if not part.exists():
        return "its file is missing"
    if part.stat().st_size != rec.bytes or sha256_file(part) != rec.sha256:
        return "its file changed since it was written (size or SHA-256)"
    av = import_av()
    try:
        with av.open(str(part)) as c:
            v = c.streams.video[0]
            v.thread_type = "AUTO"
            decoded = sum(1 for _ in c.decode(v))
    except (av.FFmpegError, IndexError) as exc:
        return f"not decodable ({exc})"
    if decoded != rec.frames:
        return f"{decoded} frames decode, {rec.frames} recorded"
    return None


def record_of(part: Path, *, index: int, stats: Any, wall_s: float = 0.0) -> SegmentRecord:
    """The record of segment ``index`` just written to ``part`` by a run with ``stats`` that
    took ``wall_s``."""
    if not part.exists():
        msg = f"{part}: segment file missing after its run"
        raise VideoError(msg)
    return SegmentRecord(
        index=index,
        frames=stats.frames,
        end_pts=stats.end_pts,
        bytes=part.stat().st_size,
        sha256=sha256_file(part),
        codec=stats.codec,
        pix_fmt=stats.pix_fmt,
        size=tuple(stats.size),
        decode_s=stats.decode_s,
        infer_s=stats.infer_s,
        encode_s=stats.encode_s,
        wall_s=wall_s,
        notes=tuple(stats.notes),
    )
