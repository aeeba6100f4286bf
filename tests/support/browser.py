"""Opening a page in a real headless Chromium (Debian's `chromium`) with no network, and checking what a person would see.

Playwright's Python package drives the system browser (`executable_path`); it never downloads one of its own.
Every request that is not for a file:// URL (or an allowed prefix) is aborted and recorded, so a page that
fetches a script, style or font from the network fails its check. Console errors and uncaught page errors are
collected, a screenshot is taken and its distinct colours counted, and every Plotly div must have drawn its SVG.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import Request, Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run")
PLOTS = ".plotly-graph-div"
MIN_COLOURS = 16  # a page with text and plots has hundreds; a blank or single-colour one has a handful


@dataclass
class PageCheck:
    """What opening one page showed."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    plots: int = 0
    unrendered_plots: list[str] = field(default_factory=list)  # ids of plot divs without a .main-svg
    screenshot: Path | None = None
    colours: int = 0  # distinct pixel values of the screenshot
    text: str = ""  # the page's visible text
    probed: Any = None  # what `probe` returned, once every plot was drawn

    def problems(self) -> list[str]:
        """Everything wrong with the page, in words; empty when it opened cleanly and drew every plot."""
        found = [f"console error: {e}" for e in self.console_errors]
        found += [f"page error: {e}" for e in self.page_errors]
        found += [f"network request (blocked): {u}" for u in self.blocked_requests]
        found += [f"plot not drawn: {p}" for p in self.unrendered_plots]
        if self.colours < MIN_COLOURS:
            found.append(f"screenshot looks blank: {self.colours} distinct colours")
        return found


def distinct_colours(png: Path) -> int:
    with Image.open(png) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 24)
    return len(colours or [])


def open_page(
    url: str,
    screenshot: Path,
    *,
    allow: Sequence[str] = ("file://",),
    settle_ms: int = 500,
    timeout_s: float = 60.0,
    probe: str | None = None,
) -> PageCheck:
    """Open `url` in a fresh headless Chromium profile with only `allow`ed URL prefixes reachable, and check it.

    `probe` is a JavaScript function evaluated in the page once the plots are drawn, to read what was drawn
    (its result is `PageCheck.probed`).
    """
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium package (tests/run.sh does)")
    check = PageCheck(url)

    def route(route: Route) -> None:
        if route.request.url.startswith(tuple(allow)):
            route.continue_()
        else:
            route.abort()

    def request(req: Request) -> None:
        if not req.url.startswith(tuple(allow)) and not req.url.startswith("data:"):
            check.blocked_requests.append(req.url)

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=list(FLAGS), headless=True, viewport={"width": 1280, "height": 900}
        )
        try:
            context.set_default_timeout(timeout_s * 1000)
            context.route("**/*", route)
            page = context.new_page()
            page.on("request", request)
            page.on("console", lambda message: check.console_errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: check.page_errors.append(str(error)))
            page.goto(url, wait_until="load")
            divs = page.eval_on_selector_all(PLOTS, "els => els.map(e => e.id)")
            check.plots = len(divs)
            try:
                page.wait_for_function(
                    f"() => [...document.querySelectorAll('{PLOTS}')].every(e => e.querySelector('.main-svg'))", timeout=timeout_s * 1000
                )
            except PlaywrightTimeout:
                pass  # which plots were not drawn is read below
            page.wait_for_timeout(settle_ms)
            undrawn = "els => els.filter(e => !e.querySelector('.main-svg')).map(e => e.id)"
            check.unrendered_plots = page.eval_on_selector_all(PLOTS, undrawn)
            check.text = page.inner_text("body")
            if probe is not None:
                check.probed = page.evaluate(probe)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    check.screenshot = screenshot
    check.colours = distinct_colours(screenshot)
    return check
