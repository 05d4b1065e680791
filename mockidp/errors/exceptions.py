"""AadstsError and the Entra error envelope.

    AadstsError(spec, **params)      raised by protocol code, rendered by one web handler
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mockidp.clock import entra_timestamp
from mockidp.errors.catalogue import EMAIL_HIDDEN, ErrorSpec, IdentityEndpointError


class AadstsError(Exception):
    def __init__(self, spec: ErrorSpec, *, suberror: str | None = None, error: str | None = None,
                 extra_codes: tuple[int, ...] = (), **params: Any) -> None:
        self.spec = spec
        self.extra_codes = extra_codes
        self.params = params
        self.suberror = suberror
        self.error = error  # another OAuth `error` value the catalogue entry documents for this context
        super().__init__(f"AADSTS{spec.code}")

    @property
    def message(self) -> str:
        """What clients receive (token and redirect bodies, in-place form errors): people's addresses hidden."""
        hidden = dict.fromkeys(self.spec.personal, EMAIL_HIDDEN)
        return f"AADSTS{self.spec.code}: " + self.spec.template.format(**{**self.params, **hidden})

    @property
    def page_message(self) -> str:
        """What Entra's own error page shows: the message with the signed-in user's address."""
        return f"AADSTS{self.spec.code}: " + self.spec.template.format(**self.params)

    def fix(self) -> tuple[str, str] | None:
        """The entry's fix (admin center path, seed YAML) for this refusal, or None where it has none."""
        fix = self.spec.fix
        if fix is None:
            return None
        known = _Known(self.params)
        return fix.portal.format_map(known), fix.seed.format_map(known)


class _Known(dict[str, Any]):
    """A placeholder a raise site did not pass reads as <name>, never a KeyError in a trace."""

    def __missing__(self, key: str) -> str:
        return f"<{key}>"


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """The volatile parts of one error response."""

    trace_id: str
    correlation_id: str
    now: float
    at_token_endpoint: bool = True


def render_envelope(err: AadstsError, ctx: ErrorContext) -> dict[str, Any]:
    """Entra's error body, keys in Entra's order (single-space separators, as served since late 2023)."""
    ts = entra_timestamp(ctx.now)
    spec = err.spec
    error = oauth_error(err, at_token_endpoint=ctx.at_token_endpoint)
    body: dict[str, Any] = {
        "error": error,
        "error_description": (
            f"{err.message} Trace ID: {ctx.trace_id} Correlation ID: {ctx.correlation_id} Timestamp: {ts}"
        ),
        "error_codes": [spec.code, *spec.extra_codes, *err.extra_codes],
        "timestamp": ts,
        "trace_id": ctx.trace_id,
        "correlation_id": ctx.correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={spec.code}",
    }
    if err.suberror:
        body["suberror"] = err.suberror
    return body


def oauth_error(err: AadstsError, *, at_token_endpoint: bool) -> str:
    spec = err.spec
    return err.error or (spec.token_error if (at_token_endpoint and spec.token_error) else spec.error)


class IdentityEndpointRefused(Exception):
    """A refusal of a managed-identity endpoint (catalogue IdentityEndpointError), in that endpoint's envelope;
    `aadsts` is Entra's own refusal when the endpoint passes one on (oauth/managed_identity.py)."""

    def __init__(self, spec: IdentityEndpointError | None, *, aadsts: AadstsError | None = None,
                 **params: Any) -> None:
        self.spec = spec
        self.aadsts = aadsts
        self.params = params
        super().__init__(spec.name if spec else f"AADSTS{aadsts.spec.code if aadsts else 0}")

    @property
    def status(self) -> int:
        if self.spec is not None:
            return self.spec.status
        return self.aadsts.spec.status if self.aadsts else 400

    @property
    def message(self) -> str:
        if self.spec is not None:
            return self.spec.message.format(**self.params)
        return self.aadsts.message if self.aadsts else ""
