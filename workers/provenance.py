"""What a trial ran: the git commit of the program's code and content hashes of declared data."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sweepctl.records import CodeVersion
from sweepctl.worker_settings import DATA_HASH_SECONDS_ENV, DEFAULT_DATA_HASH_SECONDS

_CHUNK = 1 << 20
# How long one trial's data paths may take to fingerprint, all together (seconds); past it a path is
# recorded as not hashed. The trial does not wait for it: hashing runs beside the trial.
HASH_SECONDS_ENV = DATA_HASH_SECONDS_ENV
HASH_SECONDS = DEFAULT_DATA_HASH_SECONDS
MAX_DATA_FILES = 100_000  # files under one data folder; past it the folder is recorded as not hashed
# (path, size, mtime_ns) -> digest: data sets are hashed once per worker, not once per trial.
_file_cache: dict[tuple[str, int, int], str] = {}


def code_version(path: str | os.PathLike[str]) -> CodeVersion | None:
    """The commit and dirty flag of the git work tree holding `path`, or None outside git.

    Checked for every trial, in one `git status` call (~2 ms); folders outside any
    work tree are recognised without running git at all.
    """
    start = Path(path)
    folder = start if start.is_dir() else start.parent
    top = _work_tree(folder)
    if top is None:
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit, dirty = "", False
    for line in done.stdout.splitlines():
        if line.startswith("# branch.oid "):
            commit = line.split()[2]
        elif not line.startswith("#"):
            dirty = True  # a changed tracked file (untracked files are not asked for)
    if not commit or commit == "(initial)":
        return None  # a repository without a commit names no code
    return CodeVersion(repo=str(top), commit=commit, dirty=dirty)


def _work_tree(folder: Path) -> Path | None:
    """The top of the git work tree holding `folder` (where `.git` is), or None."""
    try:
        folder = folder.resolve(strict=True)
    except OSError:
        return None
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


class NotHashed(Exception):
    """Raised inside fingerprinting when a path cannot (or may not) be hashed; the message says why."""


@dataclass
class _Budget:
    """The time left for one trial's fingerprints, and whether the trial is over (cancelled)."""

    seconds: float
    deadline: float = 0.0
    cancelled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def check(self) -> None:
        if self.cancelled.is_set():
            raise NotHashed("not hashed: the trial ended first")
        if time.monotonic() > self.deadline:
            raise NotHashed(f"not hashed: took longer than {self.seconds:g} s ({HASH_SECONDS_ENV})")


def _file_digest(path: Path, info: os.stat_result, budget: _Budget) -> str:
    """sha256 of a regular file's bytes, read in chunks with the budget checked between them."""
    key = (str(path.resolve()), info.st_size, info.st_mtime_ns)
    if key in _file_cache:
        return _file_cache[key]
    h = hashlib.sha256()
    left = info.st_size
    with path.open("rb", buffering=0) as f:
        if left == 0 and _produces_data(f):
            # /proc and /sys files say they are empty and then produce (endless) data.
            raise NotHashed("not hashed: a file whose size is unknown (in /proc or /sys?)")
        while left > 0:
            budget.check()
            chunk = f.read(min(_CHUNK, left))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    _file_cache[key] = h.hexdigest()
    return _file_cache[key]


def _produces_data(f: BinaryIO) -> bool:
    """Whether a file that says it is empty reads as anything but empty (some /proc files refuse small reads)."""
    try:
        return bool(f.read(4096))
    except OSError:
        return True


def _folder_files(root: Path, budget: _Budget) -> list[tuple[str, ...]]:
    """Relative paths (as parts) of the files under `root`, sorted as pathlib sorts them.

    Symlinks to files are followed; folders are entered only when they are real
    folders on the same file system as `root`, so `/` does not walk into /proc,
    other mounts or symlink loops.
    """
    device = root.stat().st_dev
    found: list[tuple[str, ...]] = []
    stack: list[tuple[str, ...]] = [()]
    while stack:
        budget.check()
        relative = stack.pop()
        try:
            entries = list(os.scandir(root.joinpath(*relative)))
        except OSError:
            continue  # unreadable folder: left out, as before
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.stat(follow_symlinks=False).st_dev == device:
                        stack.append((*relative, entry.name))
                elif entry.is_file():
                    found.append((*relative, entry.name))
            except OSError:
                continue
            if len(found) > MAX_DATA_FILES:
                raise NotHashed(f"not hashed: more than {MAX_DATA_FILES:,} files")
    return sorted(found)


def fingerprint(path: Path, budget: _Budget | None = None) -> str:
    """sha256 of a file's bytes, or of a folder's sorted (relative path, file digest) list; else why not.

    Only regular files and folders are hashed: a FIFO, a device or a /proc file
    is named as not hashed instead of being read forever.
    """
    budget = budget or _Budget(HASH_SECONDS)
    try:
        info = path.stat()
        if stat.S_ISREG(info.st_mode):
            return "sha256:" + _file_digest(path, info, budget)
        if stat.S_ISDIR(info.st_mode):
            h = hashlib.sha256()
            for parts in _folder_files(path, budget):
                file = path.joinpath(*parts)
                h.update(f"{'/'.join(parts)}\0{_file_digest(file, file.stat(), budget)}\n".encode())
            return "sha256:" + h.hexdigest()
        return "not hashed: not a regular file or folder"
    except FileNotFoundError:
        return "missing"
    except NotHashed as exc:
        return str(exc)
    except OSError as exc:
        return f"not hashed: {exc.strerror or exc}"


def data_fingerprints(paths: tuple[str, ...], base: Path, budget: _Budget | None = None) -> dict[str, str]:
    """Each declared data path (as written in the sweep file) -> its fingerprint, seen from `base`."""
    budget = budget or _Budget(HASH_SECONDS)
    return {p: fingerprint((base / p) if not os.path.isabs(p) else Path(p), budget) for p in paths}


class DataHasher:
    """Fingerprints a trial's data paths in a thread of its own while the trial runs.

    Bounded by a time budget (HASH_SECONDS for all the paths together, from the
    start) and stopped by `cancel()` between two chunks of 1 MiB: hashing never
    delays the trial's start, never holds its lease, and never outlives it.
    Digests of files are cached per worker by (path, size, mtime), so only the
    first trial of a worker reads the data.
    """

    def __init__(self, paths: tuple[str, ...], base: Path, seconds: float = HASH_SECONDS) -> None:
        self._budget = _Budget(seconds)
        self._paths = paths
        self._result: dict[str, str] | None = None
        self._thread = threading.Thread(target=self._run, args=(paths, base), name="sweepctl-data-hash", daemon=True)
        self._thread.start()

    def _run(self, paths: tuple[str, ...], base: Path) -> None:
        self._result = data_fingerprints(paths, base, self._budget)

    @property
    def done(self) -> bool:
        return self._result is not None

    def cancel(self) -> None:
        self._budget.cancelled.set()

    def result(self) -> dict[str, str]:
        """The fingerprints, waiting for them within the budget; paths not hashed by then say so."""
        self._thread.join(max(0.0, self._budget.deadline - time.monotonic()) + 1.0)
        if self._result is None:
            self.cancel()
            self._thread.join(1.0)
        return self._result if self._result is not None else {p: "not hashed: took too long" for p in self._paths}
