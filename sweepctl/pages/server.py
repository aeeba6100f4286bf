"""The live view's HTTP server: the standard library's ThreadingHTTPServer over the store, read-only.

Routes (GET and HEAD only; anything else is 405):
  /                     the list of sweeps, each linking to its page
  /sweep/ID             the sweep's page (`render_sweep_page`), with Plotly from /plotly.js and a poll that reloads it
  /sweep/ID/version     {"finished": N, "state": "..."}: what the page polls, two small reads
  /plotly.js            Plotly's JavaScript, sent once and cached by the browser

An unknown sweep is a 404 page naming it; Redis unavailable is a 503 page saying so; any other failure is a 500
page in words, its traceback logged on the server's stderr only. Nothing the page needs comes from the network.
"""

from __future__ import annotations

import hashlib
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import plotly.offline

from sweepctl.errors import StoreUnavailable, SweepError, UnknownSweepError
from sweepctl.pages.live import (
    PLOTLY_PATH,
    POLL_SECONDS,
    PageCache,
    PageVersion,
    SweepRow,
    error_page,
    host_allowed,
    json_error,
    refresh_script,
    sweeps_page,
    version_body,
)
from sweepctl.pages.load import sweep_view
from sweepctl.pages.sweep_page import render_sweep_page
from sweepctl.store import Store


class Reply:
    """One response: status, content type, body and extra headers."""

    def __init__(self, status: int, kind: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.status, self.kind, self.body, self.headers = status, kind, body, headers or {}


def html(status: int, page: str) -> Reply:
    return Reply(status, "text/html; charset=utf-8", page.encode(), {"Cache-Control": "no-store"})


class LiveView:
    """What the server answers, from the store; one per server, shared by its request threads."""

    def __init__(self, store: Store, *, source: str, bind: str, poll_seconds: float = POLL_SECONDS) -> None:
        self.store, self.source, self.bind, self.poll_seconds = store, source, bind, poll_seconds
        self.cache = PageCache()
        self.plotly = plotly.offline.get_plotlyjs().encode()
        self.plotly_etag = '"' + hashlib.sha256(self.plotly).hexdigest()[:16] + '"'

    def version(self, sweep_id: str) -> PageVersion:
        state = self.store.sweep_state(sweep_id)  # UnknownSweepError for an unknown id
        return PageVersion.of(self.store.counts(sweep_id), state)

    def sweep_page(self, sweep_id: str) -> bytes:
        version = self.version(sweep_id)

        def render() -> bytes:
            view = sweep_view(self.store, sweep_id, time.time())
            return render_sweep_page(view, script=refresh_script(sweep_id, version, self.poll_seconds)).encode()

        return self.cache.get(sweep_id, version, render)

    def sweep_rows(self) -> list[SweepRow]:
        rows = []
        for sweep_id in reversed(self.store.sweep_ids()):
            try:
                sweep = self.store.get_sweep(sweep_id)
            except UnknownSweepError:
                continue  # deleted between the two reads
            summary = self.store.spec_summary(sweep)
            counts = self.store.counts(sweep_id)
            best = self.store.best_objective(sweep_id, summary.goal)
            finished = PageVersion.of(counts, sweep.state).finished
            rows.append(SweepRow(sweep_id, summary.name, sweep.state.value, sum(counts.values()), finished, best, summary.metric))
        return rows

    def answer(self, path: str, if_none_match: str | None) -> Reply:
        """The reply to a GET of `path`: a page, JSON, Plotly, or an error page in words."""
        parts = [unquote(p) for p in urlsplit(path).path.split("/") if p]
        json_wanted = len(parts) == 3 and parts[2] == "version"
        try:
            return self._route(parts, if_none_match)
        except UnknownSweepError:
            message = f"No sweep {parts[1]!r} in this store."
            if json_wanted:
                return Reply(404, "application/json", json_error(message))
            return html(404, error_page(404, "Unknown sweep", message))
        except StoreUnavailable as exc:
            message = f"Redis is unavailable just now ({exc}); this page will work again when it answers."
            if json_wanted:
                return Reply(503, "application/json", json_error(message), {"Retry-After": "5"})
            return html(503, error_page(503, "Redis unavailable", message))
        except SweepError as exc:
            return html(500, error_page(500, "Cannot show this", str(exc)))

    def _route(self, parts: list[str], if_none_match: str | None) -> Reply:
        if not parts:
            return html(200, sweeps_page(self.sweep_rows(), self.source))
        if parts == [PLOTLY_PATH.strip("/")]:
            cache = {"Cache-Control": "public, max-age=86400", "ETag": self.plotly_etag}
            if if_none_match == self.plotly_etag:
                return Reply(304, "text/javascript; charset=utf-8", b"", cache)
            return Reply(200, "text/javascript; charset=utf-8", self.plotly, cache)
        if len(parts) == 2 and parts[0] == "sweep":
            return Reply(200, "text/html; charset=utf-8", self.sweep_page(parts[1]), {"Cache-Control": "no-store"})
        if len(parts) == 3 and parts[0] == "sweep" and parts[2] == "version":
            return Reply(200, "application/json", version_body(self.version(parts[1])), {"Cache-Control": "no-store"})
        return html(404, error_page(404, "Not found", "There is no such page: / lists the sweeps, /sweep/ID shows one."))


def handler_for(view: LiveView, log: Callable[[str], None]) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to `view`."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "sweepctl-ui"
        protocol_version = "HTTP/1.1"

        def _reply(self, send_body: bool) -> None:
            if not host_allowed(self.headers.get("Host"), view.bind):
                reply = html(421, error_page(421, "Wrong host", "This server answers only to a loopback host name."))
            else:
                try:
                    reply = view.answer(self.path, self.headers.get("If-None-Match"))
                except Exception:  # noqa: BLE001  # the visitor gets a page in words, the traceback goes to our log
                    log(traceback.format_exc())
                    reply = html(500, error_page(500, "Internal error", "The page could not be made; the server's log says why."))
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.kind)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if send_body and reply.status != 304:
                self.wfile.write(reply.body)

        def do_GET(self) -> None:  # noqa: N802  # http.server's naming
            self._reply(send_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._reply(send_body=False)

        def _refuse(self) -> None:
            body = b"read-only: only GET and HEAD\n"
            self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
            self.send_header("Allow", "GET, HEAD")
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # http.server's signature
            if not self.path.endswith("/version"):  # the polls would drown everything else
                log(f"{self.address_string()} {format % args}")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a browser holding a connection open must not keep the process from ending


class _ServerV6(_Server):
    address_family = socket.AF_INET6


def serve(view: LiveView, port: int, stop: threading.Event, on_ready: Callable[[str], None]) -> None:
    """Serve `view` on (view.bind, port) until `stop` is set; `on_ready` gets the URL once the socket listens."""
    server_class = _ServerV6 if ":" in view.bind else _Server
    server = server_class((view.bind.strip("[]"), port), handler_for(view, lambda line: print(line, file=sys.stderr, flush=True)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    host, bound_port = str(server.server_address[0]), server.server_address[1]
    on_ready(f"http://{f'[{host}]' if ':' in host else host}:{bound_port}/")
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
