"""Fixtures of the frontend test: one headless Chromium (Debian's, through Playwright) showing
one JupyterLab notebook with the kubernel kernel, shared by the tests of the session in order.

tests/frontend/run starts JupyterLab and passes it here in the environment:
KUBERNEL_LAB_URL (http://127.0.0.1:PORT), KUBERNEL_LAB_TOKEN, KUBERNEL_LAB_ROOT (its root
directory), KUBERNEL_CHROMIUM (the browser) and KUBERNEL_FRONTEND_OUT (where screenshots go).

Nothing may leave this machine: every request the page makes is routed through a handler that
lets only the JupyterLab server through and aborts and records anything else; the last test of
the session fails if anything was recorded.
"""
from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, expect, sync_playwright

# Generous limits: nothing here measures time. The first Rust cell waits for evcxr to start
# (about 4 s on a quiet machine, much more on a loaded one).
FIRST_CELL_MS = float(os.environ.get("KUBERNEL_FRONTEND_FIRST_CELL_TIMEOUT", "60")) * 1000
STEP_MS = float(os.environ.get("KUBERNEL_FRONTEND_TIMEOUT", "60")) * 1000


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run tests/frontend/run, which starts JupyterLab", returncode=2)
    return value


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    host: str
    port: int
    # Requests the page tried to send anywhere but the JupyterLab server.
    foreign: list[str] = field(default_factory=list)

    def api(self, method: str, path: str) -> object:
        req = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname == self.host and parts.port == self.port


@pytest.fixture(scope="session")
def lab() -> Lab:
    url = _env("KUBERNEL_LAB_URL").rstrip("/")
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", f"JupyterLab must listen on 127.0.0.1 only, not {url}"
    return Lab(url=url, token=_env("KUBERNEL_LAB_TOKEN"), root=Path(_env("KUBERNEL_LAB_ROOT")),
               host=parts.hostname, port=parts.port or 80)


@pytest.fixture(scope="session")
def playwright() -> Playwright:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Browser:
    browser = playwright.chromium.launch(
        executable_path=_env("KUBERNEL_CHROMIUM"),
        headless=True,
        args=[
            "--no-sandbox",  # we run as root
            # Belt and braces to the routing below: no name resolves, so nothing can be reached
            # by name even from outside the page (the browser's own background services).
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-domain-reliability",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def context(browser: Browser, lab: Lab) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")

    def guard(route: Route) -> None:
        url = route.request.url
        if lab.is_local(url):
            route.continue_()
        else:
            lab.foreign.append(f"{route.request.method} {url}")
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    # Web sockets are not routed like requests: check their addresses when they open.
    context.on("page", lambda page: page.on("websocket", lambda ws: None if lab.is_local(ws.url) else lab.foreign.append(f"WEBSOCKET {ws.url}")))
    yield context
    context.close()


@pytest.fixture(scope="session")
def page(context: BrowserContext, lab: Lab) -> Page:
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))
    page._kubernel_console = console  # type: ignore[attr-defined]
    page.set_default_timeout(STEP_MS)
    expect.set_options(timeout=STEP_MS)
    yield page
    # Shut the kernels down through JupyterLab's REST API, as closing the notebook would.
    try:
        for session in lab.api("GET", "/api/sessions") or []:  # type: ignore[union-attr]
            lab.api("DELETE", f"/api/sessions/{session['id']}")
    except Exception as err:  # the runner stops JupyterLab and its kernels anyway
        print(f"could not shut the kernels down: {err}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
        out = Path(os.environ.get("KUBERNEL_FRONTEND_OUT") or Path(__file__).parent / "out")
        if page is not None:
            out.mkdir(parents=True, exist_ok=True)
            shot = out / f"{item.name}-{report.when}.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                report.sections.append(("screenshot", str(shot)))
            except Exception as err:
                report.sections.append(("screenshot", f"none: {err}"))
            console = getattr(page, "_kubernel_console", [])
            if console:
                (out / "console.log").write_text("\n".join(console) + "\n")
