"""The live view's pure parts: a page's version, the reload script, the page cache, the sweeps list, which hosts count as loopback."""

from __future__ import annotations

import threading
import time

from sweepctl.pages.live import (
    PageCache,
    PageVersion,
    SweepRow,
    error_page,
    host_allowed,
    is_loopback,
    refresh_script,
    sweeps_page,
)
from sweepctl.records import SweepState, TrialState


def test_a_version_counts_only_finished_trials_and_changes_with_the_state() -> None:
    # Given trial counts by state: 2 queued, 3 running, 4 completed, 1 failed, 2 stopped
    counts = {TrialState.QUEUED: 2, TrialState.RUNNING: 3, TrialState.COMPLETED: 4, TrialState.FAILED: 1, TrialState.STOPPED: 2}
    # When a version is taken
    version = PageVersion.of(counts, SweepState.RUNNING)
    # Then only the 7 finished trials count, and the JSON the page polls says so
    assert version == PageVersion(7, SweepState.RUNNING)
    assert version.as_json() == '{"finished": 7, "state": "running"}'
    # And a trial starting does not change it, one finishing or the sweep ending does
    assert PageVersion.of({**counts, TrialState.RUNNING: 4}, SweepState.RUNNING) == version
    assert PageVersion.of({**counts, TrialState.COMPLETED: 5}, SweepState.RUNNING) != version
    assert PageVersion.of(counts, SweepState.FINISHED) != version


def test_the_refresh_script_loads_plotly_from_the_server_and_polls_the_sweeps_version() -> None:
    script = refresh_script("ab/c d", PageVersion(3, SweepState.RUNNING), every_seconds=2.5)
    assert '<script src="/plotly.js"></script>' in script
    assert '"/sweep/ab%2Fc%20d/version"' in script  # the id quoted as one path segment
    assert 'const drawn = {"finished": 3, "state": "running"};' in script
    assert "setTimeout(poll, 2500)" in script and "location.reload()" in script
    assert "addEventListener('load'" in script  # a page still loading is never reloaded
    assert "http" not in script  # nothing from another origin


def test_the_cache_renders_once_per_version_however_many_ask_at_once() -> None:
    # Given a cache and a slow render that counts its calls
    cache = PageCache()
    calls: list[int] = []

    def render() -> bytes:
        calls.append(1)
        time.sleep(0.2)
        return f"page {len(calls)}".encode()

    v1 = PageVersion(10, SweepState.RUNNING)
    # When 10 viewers ask for the same sweep and version at the same time
    answers: list[bytes] = []
    threads = [threading.Thread(target=lambda: answers.append(cache.get("s", v1, render))) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    # Then it was rendered once and all got that page
    assert len(calls) == 1 and answers == [b"page 1"] * 10
    # And a new version renders again, after which the old one is gone
    v2 = PageVersion(11, SweepState.RUNNING)
    assert cache.get("s", v2, render) == b"page 2"
    assert cache.get("s", v2, render) == b"page 2"
    assert cache.get("s", v1, render) == b"page 3"
    assert cache.renders == 3


def test_the_cache_keeps_at_most_its_number_of_sweeps_dropping_the_least_recently_asked() -> None:
    cache = PageCache(sweeps=2)
    v = PageVersion(1, SweepState.RUNNING)
    for sweep in ("a", "b"):
        cache.get(sweep, v, lambda: b"x")
    cache.get("a", v, lambda: b"never")  # a is fresh again
    cache.get("c", v, lambda: b"x")  # b goes
    assert cache.get("a", v, lambda: b"never") == b"x"
    assert cache.get("b", v, lambda: b"again") == b"again"


def test_the_sweeps_list_links_every_sweep_and_escapes_names() -> None:
    rows = [SweepRow("abc123", "<b>mine</b>", "running", 12, 7, 0.1234567, "loss"), SweepRow("def456", "", "finished", 3, 3, None, "acc")]
    page = sweeps_page(rows, "redis://localhost:6379/0")
    assert '<a href="/sweep/abc123">abc123</a>' in page and '<a href="/sweep/def456">def456</a>' in page
    assert "&lt;b&gt;mine&lt;/b&gt;" in page and "<b>mine</b>" not in page
    assert "7 of 12" in page and "0.123457" in page
    assert "<script" not in page  # no plot, no Plotly


def test_an_error_page_says_what_happened_escaped() -> None:
    page = error_page(404, "Unknown sweep", "No sweep '<x>' in this store.")
    assert "<title>404 Unknown sweep</title>" in page and "No sweep &#x27;&lt;x&gt;&#x27; in this store." in page


def test_loopback_addresses_and_names() -> None:
    for address in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"):
        assert is_loopback(address), address
    for address in ("0.0.0.0", "::", "10.0.0.5", "example.com"):
        assert not is_loopback(address), address


def test_a_loopback_server_answers_only_loopback_host_names() -> None:
    for host in ("127.0.0.1:9840", "localhost:9840", "[::1]:9840", "localhost"):
        assert host_allowed(host, "127.0.0.1"), host
    # a DNS name rebound to 127.0.0.1 by someone else's page is refused
    for host in ("evil.example:9840", "evil.example", None, ""):
        assert not host_allowed(host, "127.0.0.1"), host
    # bound beyond loopback, any name reaches it (the command warned)
    assert host_allowed("sweeps.lab.example:9840", "0.0.0.0")
