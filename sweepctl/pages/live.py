"""The live view's pure parts: a sweep page's version, the script that reloads a page when it changes, the cache of
rendered pages, the list of sweeps, error pages, and which addresses count as loopback.

A page's version is what changes when there is something new to draw: the number of finished trials and the sweep's
state. The cache keeps one rendered page per sweep, for the version it was rendered at, so any number of viewers of
a sweep cost one render per change. It is safe to use from many threads (the server handles each request in one).
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sweepctl.pages.page import Markup, Section, render_page, table, text
from sweepctl.records import SweepState, TrialState

PLOTLY_PATH = "/plotly.js"
POLL_SECONDS = 3.0
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class PageVersion:
    """What a sweep's page was drawn from, in brief: trials finished and the sweep's state."""

    finished: int
    state: SweepState

    @classmethod
    def of(cls, counts: Mapping[TrialState, int], state: SweepState) -> PageVersion:
        return cls(sum(n for s, n in counts.items() if s.is_finished), state)

    def as_json(self) -> str:
        return json.dumps({"finished": self.finished, "state": self.state.value})


def sweep_path(sweep_id: str) -> str:
    return f"/sweep/{quote(sweep_id, safe='')}"


def refresh_script(sweep_id: str, version: PageVersion, every_seconds: float = POLL_SECONDS) -> str:
    """The page's head scripts: Plotly from this server, then a poll of the sweep's version that reloads the page
    when trials finished or the state changed since it was drawn. Polling starts once the page has loaded (a page
    still drawing is never reloaded); a failed poll (server gone) is retried quietly."""
    url = json.dumps(sweep_path(sweep_id) + "/version")
    drawn = version.as_json()
    return (
        f'<script src="{PLOTLY_PATH}"></script>\n'
        "<script>(function () {\n"
        f"  const drawn = {drawn};\n"
        "  async function poll() {\n"
        "    try {\n"
        f"      const now = await (await fetch({url}, {{cache: 'no-store'}})).json();\n"
        "      if (now.finished !== drawn.finished || now.state !== drawn.state) { location.reload(); return; }\n"
        "    } catch (e) { /* the server is restarting or Redis is away: try again later */ }\n"
        f"    setTimeout(poll, {round(every_seconds * 1000)});\n"
        "  }\n"
        f"  addEventListener('load', () => setTimeout(poll, {round(every_seconds * 1000)}));\n"
        "})();</script>"
    )


class PageCache:
    """Rendered pages by sweep, each for one version; a page is rendered once per version however many ask at once.

    `get(sweep_id, version, render)` returns the cached page when it was rendered at `version`, else calls
    `render()` (holding that sweep's lock, so concurrent requests for it wait for one render) and keeps the result
    in place of the older one. At most `sweeps` sweeps are kept, the least recently asked for dropped first.
    """

    def __init__(self, sweeps: int = 16) -> None:
        self.sweeps = sweeps
        self.renders = 0
        self._pages: OrderedDict[str, tuple[PageVersion, bytes]] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, sweep_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(sweep_id, threading.Lock())

    def _cached(self, sweep_id: str, version: PageVersion) -> bytes | None:
        with self._guard:
            found = self._pages.get(sweep_id)
            if found is None or found[0] != version:
                return None
            self._pages.move_to_end(sweep_id)
            return found[1]

    def get(self, sweep_id: str, version: PageVersion, render: Callable[[], bytes]) -> bytes:
        page = self._cached(sweep_id, version)
        if page is not None:
            return page
        with self._lock(sweep_id):
            page = self._cached(sweep_id, version)
            if page is not None:
                return page
            page = render()
            with self._guard:
                self.renders += 1
                self._pages[sweep_id] = (version, page)
                self._pages.move_to_end(sweep_id)
                while len(self._pages) > self.sweeps:
                    dropped, _ = self._pages.popitem(last=False)
                    self._locks.pop(dropped, None)
            return page


@dataclass(frozen=True)
class SweepRow:
    """One line of the list of sweeps."""

    id: str
    name: str
    state: str
    trials: int
    finished: int
    best: float | None
    metric: str


def _link(sweep_id: str, label: str) -> Markup:
    return Markup(f'<a href="{text(sweep_path(sweep_id))}">{text(label)}</a>')


def sweeps_page(rows: Sequence[SweepRow], source: str) -> str:
    """The list of every sweep in the store, newest first, each linking to its page."""
    shown = [
        (_link(r.id, r.id), r.name or "-", r.state, f"{r.finished} of {r.trials}", "-" if r.best is None else f"{r.best:.6g}", r.metric)
        for r in rows
    ]
    body = table(("sweep", "name", "state", "trials finished", "best", "metric"), shown) if rows else '<p class="note">No sweep yet.</p>'
    section = Section("sweeps", f"Sweeps ({len(rows)})", body)
    return render_page("sweepctl sweeps", [section], subtitle=f"read from {source}", footer="sweepctl ui: read-only", script="")


def error_page(status: int, title: str, message: str) -> str:
    """A page saying what went wrong in words (never a traceback), with a link back to the list of sweeps."""
    body = f'<p>{text(message)}</p><p><a href="/">All sweeps</a></p>'
    return render_page(f"{status} {title}", [Section("error", title, body)], footer="sweepctl ui", script="")


def is_loopback(address: str) -> bool:
    """Whether serving on `address` keeps the page to this machine (a loopback IP or a loopback name)."""
    if address.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def host_allowed(host_header: str | None, bind: str) -> bool:
    """Whether a request's Host header may be answered: anything when bound beyond loopback, else only a loopback
    host, so a web page elsewhere cannot read the sweeps through a DNS name rebound to 127.0.0.1."""
    if not is_loopback(bind):
        return True
    if not host_header:
        return False
    host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") and host_header.count(":") == 1 else host_header
    if host.startswith("[") and "]" in host:
        host = host[1 : host.index("]")]
    return is_loopback(host)


def version_body(version: PageVersion) -> bytes:
    return version.as_json().encode()


def json_error(message: str) -> bytes:
    payload: dict[str, Any] = {"error": message}
    return json.dumps(payload).encode()
