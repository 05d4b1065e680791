"""Helpers for the single-page-app tests: a static web server for the app's files (as a developer's
`python3 -m http.server`), MSAL Browser's bundles from tests/node/node_modules (installed by `npm ci`),
and Debian's chromium trusting mockidp's CA the way a developer's does: through an NSS database in its
HOME, filled with certutil (Debian's libnss3-tools). No certificate error is ignored."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.conftest import ROOT, _free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MSAL_BROWSER = ROOT / "tests" / "node" / "node_modules" / "@azure" / "msal-browser" / "lib"
BUNDLES = (MSAL_BROWSER / "msal-browser.min.js", MSAL_BROWSER / "redirect-bridge" / "msal-redirect-bridge.min.js")


def copy_bundles(folder: Path) -> None:
    """What the README's `cp node_modules/@azure/msal-browser/lib/...` line does."""
    for bundle in BUNDLES:
        assert bundle.exists(), f"{bundle} is missing: run `npm ci` in tests/node"
        shutil.copy(bundle, folder / bundle.name)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def static_site(folder: Path) -> Iterator[int]:
    """Serve `folder` on http://localhost:<port> (127.0.0.1); yields the port."""
    port = _free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def nss_home(home: Path) -> Path:
    """A HOME whose NSS database exists (Chromium creates it on its first run; certutil -N here)."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{db}", "-N", "--empty-password"], check=True, capture_output=True)
    return home


def trust_ca(home: Path, ca: str) -> None:
    db = home / ".pki" / "nssdb"
    subprocess.run(["certutil", "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "mockidp", "-i", ca],
                   check=True, capture_output=True)


@contextmanager
def chromium_with_home(playwright: Playwright, home: Path) -> Iterator[Browser]:
    """Debian's chromium with HOME=home (so it reads that NSS database)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                         env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    try:
        yield browser
    finally:
        browser.close()


def sign_in_in_popup(page: Page, user: tuple[str, str]) -> None:
    """Press the app's Sign in; on mockidp's page in the popup, type the name and password."""
    with page.expect_popup() as caught:
        page.click("#signin")
    popup = caught.value
    popup.wait_for_selector("#username")
    popup.fill("#username", user[0])
    popup.fill("#password", user[1])
    popup.click("#next")


def journal(context: BrowserContext) -> list[str]:
    """What the pages of `context` do (navigations, console, failed requests): shown when a step fails."""
    seen: list[str] = []

    def watch(page: Page) -> None:
        page.on("framenavigated", lambda f: seen.append(f"navigated {f.url[:160]}") if f == page.main_frame else None)
        page.on("console", lambda m: seen.append(f"console {m.type}: {m.text[:300]}"))
        page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
        page.on("close", lambda _: seen.append("closed"))

    context.on("page", watch)
    context.on("request", lambda r: seen.append(f"request {r.method} {r.url[:160]}") if r.method != "GET" else None)
    context.on("response", lambda r: seen.append(f"response {r.status} {r.url[:160]}") if r.request.method != "GET"
               else None)
    context.on("requestfailed", lambda r: seen.append(f"failed {r.method} {r.url[:160]}: {r.failure}"))
    return seen


def printed(page: Page, previous: str = "", seen: list[str] | None = None) -> str:
    """What the app printed in #out once it shows something other than `previous`."""
    try:
        page.wait_for_function("prev => { const t = document.getElementById('out').textContent; "
                               "return t && t !== prev; }", arg=previous, timeout=30_000)
    except PlaywrightTimeoutError:
        raise AssertionError("the app printed nothing new; what the pages did:\n" + "\n".join(seen or [])) from None
    return page.locator("#out").inner_text()
