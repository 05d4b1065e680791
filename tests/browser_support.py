"""Helpers for tests/ui/test_browser.py: Debian's chromium driven by Playwright, a tab that records
what the pages do, and MSAL applications that trust only the mock's CA.

Chromium is told to ignore certificate errors (trusting a private CA in chromium is awkward); the
clients (MSAL over requests) still verify the mock's TLS certificate against its CA.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msal
import requests
from playwright.sync_api import BrowserContext, ConsoleMessage, Dialog, Page, Request, Response
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from mockidp.testing.jwts import claims_of
from tests.conftest import TENANT, LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path("/tmp/mockidp-shots")

ALICE = ("alice@contoso.onmicrosoft.com", "alice-password-1")
BOB = ("bob@contoso.onmicrosoft.com", "bob-password-1")


# ------------------------------------------------------------------------------------------- clients


class Clients:
    """MSAL applications whose HTTP session trusts only one server's CA (immune to the ambient
    REQUESTS_CA_BUNDLE); every session is closed at the end of the test."""

    def __init__(self) -> None:
        self._sessions: list[requests.Session] = []

    def session(self, server: LiveServer) -> requests.Session:
        s = requests.Session()
        s.verify = server.ca
        s.trust_env = False
        self._sessions.append(s)
        return s

    def public(self, server: LiveServer, client_id: str, *, tenant: str = TENANT) -> msal.PublicClientApplication:
        return msal.PublicClientApplication(client_id, authority=f"{server.origin}/{tenant}",
                                            instance_discovery=False, http_client=self.session(server))

    def confidential(self, server: LiveServer, client_id: str, secret: str, *,
                     tenant: str = TENANT) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(client_id, client_credential=secret,
                                                  authority=f"{server.origin}/{tenant}", instance_discovery=False,
                                                  http_client=self.session(server))

    def close(self) -> None:
        for s in self._sessions:
            s.close()


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (the real-client tests verify signatures; these tests look at content)."""
    return claims_of(token)


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def redeem(app: msal.ClientApplication, flow: dict[str, Any], response: dict[str, str]) -> dict[str, Any]:
    """acquire_token_by_auth_code_flow (MSAL checks state and the id_token nonce); must succeed."""
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert "access_token" in result, result
    return result


# ------------------------------------------------------------------------------------------- browser


@dataclass(frozen=True)
class ErrorPage:
    message: str
    request_id: str
    correlation_id: str
    timestamp: str


@dataclass
class Tab:
    """A page and what it did: every request, the HTML documents mockidp answered, console errors
    (CSP violations land there), uncaught script errors and dialogs (an executed alert())."""

    page: Page
    origin: str
    requests: list[Request] = field(default_factory=list)
    documents: list[Response] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, context: BrowserContext, origin: str) -> Tab:
        tab = cls(context.new_page(), origin)
        tab.page.on("request", lambda request: tab.requests.append(request))
        tab.page.on("response", tab._response)
        tab.page.on("console", tab._console)
        tab.page.on("pageerror", lambda exc: tab.console_errors.append(f"pageerror: {exc}"))
        tab.page.on("dialog", tab._dialog)
        return tab

    def _response(self, response: Response) -> None:
        if response.request.resource_type == "document" and response.url.startswith(self.origin + "/"):
            self.documents.append(response)

    def _console(self, message: ConsoleMessage) -> None:
        # Expected noise: the refused connection to a redirect URI, and chromium's note that an
        # error page came with HTTP 400 (statuses are asserted where they matter).
        expected = ("net::ERR_CONNECTION_REFUSED", "the server responded with a status of 400")
        if message.type == "error" and not any(text in message.text for text in expected):
            self.console_errors.append(message.text)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    # navigation --------------------------------------------------------------------------------

    def goto(self, url: str) -> Response:
        response = self.page.goto(url)
        assert response is not None, url
        return response

    def _goto_redirected(self, url: str) -> None:
        """Navigate to a URL that ends on a client's redirect URI, where nothing listens."""
        try:
            self.page.goto(url)
        except PlaywrightError as exc:
            if "net::ERR_CONNECTION_REFUSED" not in exc.message:
                raise

    def request_to(self, prefix: str, action: Callable[[], object], timeout: float = 5_000) -> Request:
        """The request the browser makes to ``prefix`` (a redirect URI) as a result of ``action``.
        (Playwright's route() does not see the targets of redirects, so the request is observed.)"""
        try:
            with self.page.expect_request(lambda r: r.url.startswith(prefix), timeout=timeout) as caught:
                action()
        except PlaywrightTimeoutError:
            raise AssertionError(f"the browser never went to {prefix}; it shows {self.page.url}; "
                                 f"console errors: {self.console_errors}") from None
        return caught.value

    def open_to(self, url: str, prefix: str) -> Request:
        """Open ``url`` and return the request it leads to at ``prefix``."""
        return self.request_to(prefix, lambda: self._goto_redirected(url))

    def foreign_requests(self, *allowed: str) -> list[str]:
        """Requests that went anywhere but mockidp (and the ``allowed`` prefixes)."""
        return [r.url for r in self.requests
                if not r.url.startswith((self.origin + "/", *allowed)) and not r.url.startswith("about:")]

    # the pages ---------------------------------------------------------------------------------

    def type_credentials(self, username: str, password: str) -> None:
        """On the first sign-in page: type both and press Sign in (the response is not awaited)."""
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("#next")

    def sign_in(self, username: str, password: str) -> None:
        """Type the credentials and wait for the next mockidp page."""
        with self.page.expect_navigation():
            self.type_credentials(username, password)

    def pick_account(self, username: str) -> None:
        """Pick an account in the list; the password page follows."""
        with self.page.expect_navigation():
            self.page.click(f'.accounts button[value="{username}"]')
        assert self.page.locator("h1").inner_text() == "Enter password"
        assert username in self.page.locator("main").inner_text()

    def enter_password(self, password: str) -> None:
        self.page.fill("#password", password)
        self.page.click("#signin")

    def heading(self) -> str:
        return self.page.locator("h1").inner_text()

    def error_page(self) -> ErrorPage:
        assert self.heading() == "Sorry, but we’re having trouble signing you in."
        text = self.page.locator
        return ErrorPage(text("#message").inner_text(), text("#request-id").inner_text(),
                         text("#correlation-id").inner_text(), text("#timestamp").inner_text())

    def on_mockidp(self) -> bool:
        return self.page.url.startswith(self.origin + "/")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

