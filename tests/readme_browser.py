"""A stand-in for the person at the browser in the README's walkthrough: Python's `webbrowser` runs it
(BROWSER="python tests/readme_browser.py %s"), it returns at once (MSAL waits for the redirect only after
the browser command ends) and, in a detached child, signs Alice in with Debian's chromium."""

from __future__ import annotations

import subprocess
import sys

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def sign_in(url: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(ignore_https_errors=True).new_page()
        page.goto(url)
        page.fill("#username", "alice@contoso.onmicrosoft.com")
        page.fill("#password", "alice-password-1")
        with page.expect_request(lambda r: r.url.startswith("http://localhost:53123/")):
            page.click("#next")
        page.wait_for_load_state()
        browser.close()


if __name__ == "__main__":
    if sys.argv[1] == "--drive":
        sign_in(sys.argv[2])
    else:
        subprocess.Popen([sys.executable, __file__, "--drive", sys.argv[1]], start_new_session=True)
