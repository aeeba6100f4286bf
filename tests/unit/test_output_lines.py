"""A trial's output pipes split into lines exactly as iterating a text file over them would."""

from __future__ import annotations

import os
import random

import pytest

from workers.trial_process import OutputTail, _LineSplitter

CASES = [
    b"",
    b"loss=1\n",
    b"no newline at the end",
    b"crlf\r\nbare cr progress\rnext\n\nlast",
    "é€ mixed\n".encode() * 3 + b"\xff\xfe not utf-8\n",
    b"ends in cr\r",
    b"\r\n\r\n",
    b"\n",
]


def _as_text_file(data: bytes) -> list[str]:
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    with open(read, encoding="utf-8", errors="replace") as stream:
        return list(stream)


@pytest.mark.parametrize("data", CASES)
def test_lines_match_a_text_file_however_the_bytes_arrive(data: bytes) -> None:
    rng = random.Random(7)
    for _ in range(25):
        # Given the bytes arriving in chunks of 1-3 bytes (splitting UTF-8 sequences and \r\n pairs)
        seen: list[str] = []
        tail = OutputTail()
        splitter = _LineSplitter(tail, seen.append)
        at = 0
        while at < len(data):
            step = rng.randint(1, 3)
            splitter.feed(data[at : at + step])
            at += step
        # When the stream ends
        splitter.feed(b"")
        # Then the callback and the tail got the lines a text file gives
        assert seen == _as_text_file(data)
        assert tail.text() == "".join(seen)
