"""A trial's output pipes split into lines as iterating a text file over them would, in linear time and bounded memory."""

from __future__ import annotations

import io
import random
import time
import tracemalloc

import pytest

from sweepctl.protocol import Report, classify_line
from workers.trial_process import (
    LAST_LINE_CHARS,
    MAX_LINE_CHARS,
    TAIL_CHARS,
    OutputTail,
    _LineSplitter,
)

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
    with io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace") as stream:  # what open() gives
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


def _feed(splitter: _LineSplitter, data: bytes, chunk: int) -> None:
    for at in range(0, len(data), chunk):
        splitter.feed(data[at : at + chunk])
    splitter.feed(b"")


@pytest.mark.timeout(120)
def test_a_line_without_newlines_is_split_in_linear_time_and_passed_on_capped() -> None:
    # Given 64 MB of output without a newline, read as the pump reads it (64 KiB at a time)
    seen: list[str] = []
    splitter = _LineSplitter(OutputTail(), seen.append)
    chunk = b"x" * (1 << 16)
    began = time.process_time()
    # When it is split (today's main took 34 s of CPU for this: stop as soon as it is clearly not linear)
    for _ in range(1024):
        splitter.feed(chunk)
        assert time.process_time() - began < 10, "64 MB without a newline took over 10 s of CPU to split"
    splitter.feed(b"\nnext\n")
    splitter.feed(b"")
    # Then it was one line, passed on as its first and last characters and how many were dropped between
    assert [len(line) < MAX_LINE_CHARS + 100 for line in seen] == [True, True]
    head, dropped, end = seen[0].partition(f"[... {(64 << 20) - MAX_LINE_CHARS} characters dropped ...]")
    assert dropped and head == end[:-1] == "x" * (MAX_LINE_CHARS // 2) and end.endswith("\n")
    assert seen[1] == "next\n"


def test_an_overlong_line_is_never_taken_for_a_report_and_lines_up_to_the_cap_are_whole() -> None:
    # Given a report-shaped line far over the cap between a line exactly at the cap and a valid report
    at_cap = "y" * MAX_LINE_CHARS + "\n"
    data = (at_cap + "loss=" + "1" * (3 * MAX_LINE_CHARS) + "\n" + "step=2 loss=0.5\n").encode()
    seen: list[str] = []
    tail = OutputTail()
    # When it arrives in uneven chunks
    _feed(_LineSplitter(tail, seen.append), data, 4099)
    # Then the line at the cap came whole, the overlong one capped and ordinary output, the report a report
    assert seen[0] == at_cap == _as_text_file(data)[0]
    assert len(seen[1]) < MAX_LINE_CHARS + 100 and seen[1].startswith("loss=111") and seen[1].endswith("111\n")
    assert not isinstance(classify_line(seen[1]), Report)
    assert classify_line(seen[2]) == Report(step=2, values={"loss": 0.5})
    assert tail.last_line() == "step=2 loss=0.5"


def test_a_tail_stores_its_last_characters_and_last_words_not_its_last_lines() -> None:
    # Given a tail fed 200 lines at the cap (what 200 lines of 4 MB become), then an error and many blank lines
    tracemalloc.start()
    try:
        tail = OutputTail()
        before, _ = tracemalloc.get_traced_memory()
        for i in range(200):
            tail.add(f"{i} " + "z" * (MAX_LINE_CHARS - 10) + "\n")
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    tail.add("Error: the end\n")
    for _ in range(10_000):
        tail.add("\n")
    # Then it held about TAIL_CHARS characters plus one line (today's main held all 200 lines: 13 MB),
    # its text is still the last TAIL_CHARS characters, and its last words survived the blank lines
    assert held - before < 4 * (TAIL_CHARS + MAX_LINE_CHARS), f"the tail held {held - before} bytes"
    assert tail.text() == "\n" * TAIL_CHARS
    assert tail.last_line() == "Error: the end"


def test_the_last_line_of_a_tail_is_bounded() -> None:
    tail = OutputTail()
    tail.add("  " + "e" * MAX_LINE_CHARS + "  \n")
    assert tail.last_line() == "e" * LAST_LINE_CHARS + "..."
