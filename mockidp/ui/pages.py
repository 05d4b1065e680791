"""Rendering of the sign-in, consent, device-code, sign-out, error and form_post pages."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment


@functools.cache
def _env() -> Environment:
    """Built at the first page, not at import: Jinja2 costs every worker about 50 ms and some MB at start,
    and a server that only issues tokens never renders a page (issue 11)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("mockidp.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True, slots=True)
class Page:
    html: str
    nonce: str  # for the page's one <style> (and, on form_post, its one <script>)


def render(template: str, **context: Any) -> Page:
    nonce = secrets.token_urlsafe(16)
    return Page(_env().get_template(template).render(nonce=nonce, **context), nonce)
