"""`sweepctl ui` on a real sweep that is still running: a real server, controller, worker and headless Chromium.

Trials take about a second and a half each, one at a time, so the sweep is still running while the page is opened;
the page must open with no network, draw its plots, and show trials that finished after it was first loaded (after
reloading itself, and on a fresh GET). The list of sweeps links it, an unknown id is a 404 page, only GET and HEAD are
answered, and the server listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import re
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from playwright.sync_api import Route, sync_playwright

from sweepctl.records import TrialState
from sweepctl.store import Store
from tests.support.browser import CHROMIUM, FLAGS, open_page
from tests.support.processes import Processes, wait_for
from tests.system.helpers import submit, write_sweep

pytestmark = pytest.mark.system

SWEEP = """
name: live demo
method: random
metric: {name: loss, goal: minimize}
program: trial_program.py
parameters:
  x: {min: 0.0, max: 2.0}
  sleep: {values: [1.5]}
run_cap: 40
parallelism: 1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, method: str = "GET") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=60) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def completed(store: Store, sweep_id: str) -> int:
    return store.counts(sweep_id)[TrialState.COMPLETED]


def completed_shown(page: str) -> int:
    """The completed count in the page's 'trials by state' table."""
    found = re.search(r"<tr><td>completed</td><td>(\d+)</td></tr>", page)
    assert found, "the page shows no completed count"
    return int(found.group(1))


def reloaded_page(url: str, allow: str) -> tuple[str, str]:
    """The page as first loaded and as it is after it reloaded itself (network blocked but for the server)."""

    def route(route: Route) -> None:
        route.continue_() if route.request.url.startswith(allow) else route.abort()

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=list(FLAGS), headless=True)
        try:
            context.route("**/*", route)
            page = context.new_page()
            page.goto(url, wait_until="load")
            first = page.content()
            with page.expect_navigation(wait_until="load", timeout=60_000):
                pass  # the page's own poll reloads it when a trial finishes
            return first, page.content()
        finally:
            context.close()


def test_the_live_view_serves_a_running_sweep_and_shows_trials_finished_after_the_first_load(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given a sweep still running on a real controller and worker, trials of about 1.5 s one at a time
    sweep_file = write_sweep(tmp_path, SWEEP)
    procs.start("worker", "--gpus", "none", "--concurrency", "1")
    procs.start("controller")
    sweep_id = submit(procs, sweep_file)
    # And sweepctl ui serving the store (its pages polling every 60 s, so that none reloads while it is checked),
    # and a second one whose pages poll every second
    port, quick_port = free_port(), free_port()
    server = procs.start("ui", "--port", str(port), "--poll", "60", log=tmp_path / "ui.log")
    procs.start("ui", "--port", str(quick_port), "--poll", "1", log=tmp_path / "ui-quick.log")
    base, quick = f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{quick_port}/"
    for url in (base, quick):
        wait_for(lambda: _answers(url), 60, f"the ui at {url} to answer", interval=0.2)
    wait_for(lambda: completed(store, sweep_id) >= 2, 90, "two trials to complete", interval=0.2)

    # Then it listens on 127.0.0.1 only (the default bind)
    listening = [c.laddr for c in psutil.Process(server.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert [(a.ip, a.port) for a in listening] == [("127.0.0.1", port)]

    # When the sweep's page is opened in headless Chromium with every request but the server's blocked
    page_url = f"{base}sweep/{sweep_id}"
    check = open_page(page_url, tmp_path / "ui.png", allow=(base,))
    # Then it loads with no console error and no outside request, and draws its plots
    assert check.problems() == []
    assert check.plots >= 3 and check.colours > 100
    assert "live demo" in check.text

    # When it is left open until a trial finishes, it reloads itself and shows more completed trials than at first
    first, after = reloaded_page(f"{quick}sweep/{sweep_id}", quick)
    assert completed_shown(after) > completed_shown(first)
    # And a fresh GET, once two more trials completed, shows them too (a new render, not the cached page)
    seen = completed_shown(after)
    wait_for(lambda: completed(store, sweep_id) >= seen + 2, 90, "two more trials to complete", interval=0.2)
    status, page = get(page_url)
    assert status == 200 and completed_shown(page) >= seen + 2
    assert '<script src="/plotly.js"></script>' in page and len(page) < 1_000_000  # Plotly is not resent with the page

    # And the version endpoint the page polls says how many trials finished and the state
    status, body = get(f"{page_url}/version")
    version = json.loads(body)
    assert status == 200 and version["state"] == "running" and version["finished"] >= seen + 2
    # And / lists the sweep with a link to its page
    status, index = get(base)
    assert status == 200 and f'<a href="/sweep/{sweep_id}">{sweep_id}</a>' in index and "live demo" in index
    # And an unknown sweep is a 404 page naming it; a write is refused
    status, missing = get(f"{base}sweep/nosuchsweep")
    assert status == 404 and "No sweep &#x27;nosuchsweep&#x27; in this store." in missing
    assert "Traceback" not in missing
    assert get(page_url, method="POST")[0] == 405
    assert get(f"{base}plotly.js", method="HEAD")[0] == 200


def _answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


def test_a_bind_beyond_loopback_warns_that_anyone_reaching_the_port_reads_every_sweep(tmp_path: Path, procs: Processes) -> None:
    # Given sweepctl ui told to listen on every address
    log, port = tmp_path / "ui.log", free_port()
    server = procs.start("ui", "--bind", "0.0.0.0", "--port", str(port), log=log)
    wait_for(lambda: "sweepctl ui serving http" in log.read_text(), 60, "the ui to start", interval=0.2)
    # Then it says so plainly before serving, and listens where it was told
    assert "warning: serving on 0.0.0.0, not loopback: anyone who can reach port" in log.read_text()
    listening = [c.laddr for c in psutil.Process(server.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert [(a.ip, a.port) for a in listening] == [("0.0.0.0", port)]
    # And it answers a request naming any host (no loopback-only Host check)
    status, _ = get(f"http://127.0.0.1:{port}/")
    assert status == 200
