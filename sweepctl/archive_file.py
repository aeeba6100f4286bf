"""Archive files: written atomically and read back before anything is deleted; gzip by the name's `.gz`.

A file is written under a temporary name in its folder (made if missing), flushed to disk, then renamed
over the destination, so a reader (or a crash) never sees half an archive. An existing file is replaced only
when it is an archive of the same sweep (a delete run again); any other file is refused, untouched.
Files are read whole: an archive takes about three times its uncompressed size in memory to write or read.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sweepctl.errors import ArchiveError

_GZIP_MAGIC = b"\x1f\x8b"


def encode(doc: Any) -> bytes:
    """The document as the file holds it (before any compression): strict JSON, no NaN, UTF-8."""
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")


def read(path: Path) -> Any:
    """The JSON document in an archive file (gzip-compressed or not, whatever its name); ArchiveError naming the file."""
    try:
        return json.loads(_text(path))
    except ValueError as exc:
        raise ArchiveError(f"{path}: not a readable archive: {exc}") from exc


def _text(path: Path) -> bytes:
    """The file's JSON text, decompressed when it is gzip."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data.startswith(_GZIP_MAGIC) else data
    except FileNotFoundError as exc:
        raise ArchiveError(f"{path}: no such file") from exc
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"{path}: not a readable archive: {exc}") from exc


def write(doc: Any, path: Path, sweep_id: str) -> int:
    """Write `doc` to `path` atomically and read it back; the file's size in bytes. ArchiveError when it cannot."""
    _check_destination(path, sweep_id)
    text = encode(doc)
    data = gzip.compress(text, compresslevel=6, mtime=0) if path.name.endswith(".gz") else text
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot write in {folder}: {exc}") from exc
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise ArchiveError(f"{path}: cannot write the archive: {exc}") from exc
    _sync_folder(folder)
    if _text(path) != text:
        raise ArchiveError(f"{path}: the archive read back differs from what was written; nothing is deleted")
    return len(data)


def _check_destination(path: Path, sweep_id: str) -> None:
    """Refuse to replace a file that is not an archive of this same sweep."""
    if path.is_dir():
        raise ArchiveError(f"{path}: is a folder; give a file name (e.g. {path / (sweep_id + '.json.gz')})")
    if not path.exists():
        return
    try:
        found = read(path)
    except ArchiveError:
        found = None
    if not (isinstance(found, dict) and isinstance(found.get("sweep"), dict) and found["sweep"].get("id") == sweep_id):
        raise ArchiveError(f"{path}: exists and is not an archive of sweep {sweep_id}: give another file name, or remove it")


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (a crash right after it keeps the new file)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
