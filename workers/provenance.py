"""What a trial ran: the git commit of the program's code and content hashes of declared data."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from sweepctl.records import CodeVersion

_CHUNK = 1 << 20
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


def _file_digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _file_cache:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        _file_cache[key] = h.hexdigest()
    return _file_cache[key]


def fingerprint(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's sorted (relative path, file digest) list."""
    if path.is_file():
        return "sha256:" + _file_digest(path)
    if path.is_dir():
        h = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{file.relative_to(path).as_posix()}\0{_file_digest(file)}\n".encode())
        return "sha256:" + h.hexdigest()
    return "missing"


def data_fingerprints(paths: tuple[str, ...], base: Path) -> dict[str, str]:
    """Each declared data path (as written in the sweep file) -> its fingerprint, seen from `base`."""
    return {p: fingerprint((base / p) if not os.path.isabs(p) else Path(p)) for p in paths}
