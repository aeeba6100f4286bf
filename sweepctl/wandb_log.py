"""W&B's run log (`run-<id>.wandb`): its framing, read incrementally while the run is still writing it.

The file is an append-only log in LevelDB's log format, as the `wandb` package's
core writes it (measured with wandb 0.31, no Python reader ships with it):

- a 7-byte file header: `:W&B`, the magic 0xBEE1 (little-endian), version 0;
- then 32 KiB blocks (the first one holds the header too) of physical records, each
  a 7-byte header (CRC-32 of the type byte and the payload, little-endian; the
  payload's length, 2 bytes; its type: FULL, FIRST, MIDDLE or LAST) and the
  payload. A record never crosses a block: a longer one is cut into FIRST,
  MIDDLE..., LAST pieces, and a block's last 1-6 bytes, too few for a header,
  are zero padding;
- each logical record is one `wandb_internal.Record` protobuf message
  (decoded by `sweepctl.wandb_records`).

Its bytes are never trusted. A read takes at most MAX_READ bytes from where the
last one stopped; a record cut short at the end of the file (the run is still
writing it) is left for the next read; a logical record over MAX_RECORD bytes is
skipped (counted in `oversized`); a checksum that still fails after
CHECKSUM_RETRIES reads of the same place, a record that crosses its block, an
unknown type or a wrong file header end the reading of that file for good
(`broken` says why) and keep what was read before.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

FILE_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK_SIZE = 32 * 1024
RECORD_HEADER_SIZE = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
MAX_READ = 1 << 20  # bytes read from one file per call: at least BLOCK_SIZE, which always holds a whole physical record
MAX_RECORD = 4 << 20  # a logical record (one history row, one summary update) larger than this is skipped
CHECKSUM_RETRIES = 3  # reads of the same record whose checksum fails before the file counts as corrupt

_HEADER = struct.Struct("<IHB")


class LogFraming:
    """How far one log has been read, and the pieces of a record begun but not ended; `take` moves it on.

    Pure: it is given the file's bytes from `offset` on and returns the whole
    logical records among them; `offset` always stays at a physical record's start.
    """

    def __init__(self) -> None:
        self.offset = 0  # position in the file of the next unread physical record
        self.broken: str | None = None  # why this log cannot be read any further
        self.oversized = 0  # logical records skipped for being over MAX_RECORD bytes
        self._pieces: list[bytes] = []
        self._size = 0
        self._open = False  # a FIRST piece was read and its LAST not yet
        self._skipping = False  # the record begun is over MAX_RECORD: its pieces are dropped
        self._failed_at: int | None = None
        self._failures = 0

    def take(self, window: bytes) -> list[bytes]:
        """The logical records completed by `window` (the file's bytes from `offset` on, any amount of them)."""
        if self.broken is not None:
            return []
        start = 0
        if self.offset == 0:
            if len(window) < len(FILE_HEADER):
                return []
            if window[: len(FILE_HEADER)] != FILE_HEADER:
                self.broken = "not a W&B run log (wrong file header)"
                return []
            start = len(FILE_HEADER)
        records: list[bytes] = []
        used = self._physical_records(window, start, records)
        self.offset += used
        return records

    def _physical_records(self, window: bytes, pos: int, records: list[bytes]) -> int:
        """Read whole physical records from `window[pos:]`; how many bytes of the window were used."""
        while True:
            left_in_block = BLOCK_SIZE - (self.offset + pos) % BLOCK_SIZE
            if left_in_block < RECORD_HEADER_SIZE:
                if len(window) - pos < left_in_block:
                    return pos  # the padding is written with the next record
                pos += left_in_block
                continue
            if len(window) - pos < RECORD_HEADER_SIZE:
                return pos
            checksum, length, kind = _HEADER.unpack_from(window, pos)
            if checksum == 0 and length == 0 and kind == 0:
                return pos  # zeros: space the writer has not filled yet
            if kind not in (FULL, FIRST, MIDDLE, LAST) or RECORD_HEADER_SIZE + length > left_in_block:
                self.broken = f"corrupt record header at byte {self.offset + pos}"
                return pos
            end = pos + RECORD_HEADER_SIZE + length
            if end > len(window):
                return pos  # cut short: the rest is still being written
            payload = window[pos + RECORD_HEADER_SIZE : end]
            if zlib.crc32(payload, zlib.crc32(bytes((kind,)))) != checksum:
                self._checksum_failed(self.offset + pos)
                return pos
            self._assemble(kind, payload, records)
            pos = end

    def _checksum_failed(self, at: int) -> None:
        """A record whose checksum fails may be one the writer has not finished: only a repeated failure is corruption."""
        self._failures = self._failures + 1 if self._failed_at == at else 1
        self._failed_at = at
        if self._failures >= CHECKSUM_RETRIES:
            self.broken = f"checksum mismatch at byte {at}"

    def _assemble(self, kind: int, payload: bytes, records: list[bytes]) -> None:
        if kind == FULL:
            self._reset()
            records.append(payload)
            return
        if kind == FIRST:
            self._reset()
            self._open = True
        elif not self._open:
            return  # a MIDDLE or LAST whose FIRST was never seen: nothing whole to give
        self._size += len(payload)
        if self._size > MAX_RECORD:
            if not self._skipping:
                self.oversized += 1
            self._skipping = True
            self._pieces = []
        elif not self._skipping:
            self._pieces.append(payload)
        if kind == LAST:
            if not self._skipping:
                records.append(b"".join(self._pieces))
            self._reset()

    def _reset(self) -> None:
        self._pieces, self._size, self._open, self._skipping = [], 0, False, False


class RunLog:
    """One `.wandb` file, read on from where the last read stopped (at most MAX_READ bytes a read)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.framing = LogFraming()

    def read(self) -> list[bytes]:
        """The logical records written since the last read (none when the file cannot be read just now)."""
        if self.framing.broken is not None:
            return []
        try:
            with self.path.open("rb") as file:
                file.seek(self.framing.offset)
                window = file.read(MAX_READ)
        except OSError:
            return []
        return self.framing.take(window)
