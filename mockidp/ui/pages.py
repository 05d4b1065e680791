"""Rendering of the sign-in, consent, device-code, sign-out, error and form_post pages."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_env = Environment(
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
    return Page(_env.get_template(template).render(nonce=nonce, **context), nonce)
