"""The seed's `apiManagement:` section as pydantic models: API Management services with their policies,
named values, backends, APIs and operations, products and subscriptions (README, "Through the gateway").

Names follow APIM's ARM/Bicep properties (`serviceUrl`, `subscriptionRequired`,
`subscriptionKeyParameterNames`, `urlTemplate`, backend `credentials.header`), so a template's values can
be pasted in. Cross-references and the policies themselves are checked by apim_seed.py.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mockidp.directory.seed_base import SeedModel

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,48}[a-z0-9]$|^[a-z]$")  # APIM: the first label of {name}.azure-api.net
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")  # an HTTP token (RFC 9110)
_HTTPS: tuple[Literal["https", "http"], ...] = ("https",)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")


def _named(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"'{value[:80]}' is not a name (letters, digits, '.', '_', '-'; at most 80)")
    return value


class NamedValue(SeedModel):
    name: str
    value: str = Field(max_length=4096)
    secret: bool = False

    _name = field_validator("name")(_named)


class BackendCredentials(SeedModel):
    # ARM's form: header name -> values (a Function App import creates {"x-functions-key": ["{{key}}"]}).
    header: dict[str, list[str] | str] = Field(default_factory=dict)
    query: dict[str, list[str] | str] = Field(default_factory=dict)

    @field_validator("header")
    @classmethod
    def _header_names(cls, value: dict[str, list[str] | str]) -> dict[str, list[str] | str]:
        for name in value:
            if not _HEADER.match(name):
                raise ValueError(f"'{name[:80]}' is not an HTTP header name")
        return value


class Backend(SeedModel):
    id: str
    url: str | None = None
    builtin: Literal["echo"] | None = None  # mockidp's echo function, wherever this mockidp listens
    description: str | None = None
    protocol: Literal["http"] = "http"
    credentials: BackendCredentials = Field(default_factory=BackendCredentials)

    _id = field_validator("id")(_named)

    @model_validator(mode="after")
    def _one_target(self) -> Backend:
        if (self.url is None) == (self.builtin is None):
            raise ValueError("give exactly one of 'url' (any http or https URL) and 'builtin: echo'")
        return self


class KeyParameterNames(SeedModel):
    header: str = "Ocp-Apim-Subscription-Key"
    query: str = "subscription-key"

    @field_validator("header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _HEADER.match(value):
            raise ValueError(f"'{value[:80]}' is not an HTTP header name")
        return value

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        if not value or len(value) > 128 or any(c in value for c in "&=#? "):
            raise ValueError(f"'{value[:80]}' is not a query parameter name")
        return value


class Operation(SeedModel):
    name: str
    method: str
    url_template: str = Field(min_length=1, max_length=1024)
    display_name: str | None = None
    description: str | None = None
    policy: str | None = None
    policy_file: str | None = None

    _name = field_validator("name")(_named)

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value.upper() not in METHODS:
            raise ValueError(f"'{value[:20]}' is not an HTTP method ({', '.join(METHODS)})")
        return value.upper()

    @field_validator("url_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("a urlTemplate starts with '/' (e.g. /hello or /users/{id})")
        if "?" in value or "#" in value:
            raise ValueError("query parameters in a urlTemplate are not supported by mockidp; match the path only")
        return value

    @model_validator(mode="after")
    def _one_policy(self) -> Operation:
        if self.policy is not None and self.policy_file is not None:
            raise ValueError("give 'policy' (inline XML) or 'policyFile', not both")
        return self


class Api(SeedModel):
    name: str
    path: str = Field(max_length=400)
    display_name: str | None = None
    description: str | None = None
    service_url: str | None = None
    backend_id: str | None = None
    protocols: list[Literal["https", "http"]] = Field(default_factory=lambda: list(_HTTPS))
    subscription_required: bool = True  # APIM's default
    subscription_key_parameter_names: KeyParameterNames = Field(default_factory=KeyParameterNames)
    policy: str | None = None
    policy_file: str | None = None
    operations: list[Operation] = Field(default_factory=list)

    _name = field_validator("name")(_named)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        value = value.strip("/")
        if any(c in value for c in "?#{}\\ ") or "//" in value:
            raise ValueError("an API path is a URL suffix such as 'echo' or 'orders/v1'")
        return value

    @model_validator(mode="after")
    def _checks(self) -> Api:
        if self.service_url is not None and self.backend_id is not None:
            raise ValueError("give 'serviceUrl' or 'backendId', not both")
        if self.policy is not None and self.policy_file is not None:
            raise ValueError("give 'policy' (inline XML) or 'policyFile', not both")
        return self


class Product(SeedModel):
    name: str
    display_name: str | None = None
    apis: list[str] = Field(default_factory=list)
    subscription_required: bool = True
    state: Literal["published", "notPublished"] = "published"
    policy: str | None = None
    policy_file: str | None = None

    _name = field_validator("name")(_named)

    @model_validator(mode="after")
    def _one_policy(self) -> Product:
        if self.policy is not None and self.policy_file is not None:
            raise ValueError("give 'policy' (inline XML) or 'policyFile', not both")
        return self


class Subscription(SeedModel):
    name: str
    display_name: str | None = None
    scope: str = "all"  # all | product/<name> | api/<name> (also APIM's /products/<name>, /apis/<name>)
    primary_key: str = Field(min_length=8, max_length=256)
    secondary_key: str | None = Field(default=None, min_length=8, max_length=256)
    allow_tracing: bool = False
    state: Literal["active", "suspended", "cancelled", "expired", "rejected", "submitted"] = "active"

    _name = field_validator("name")(_named)

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        text = value.strip().strip("/")
        text = re.sub(r"^(products|apis)/", lambda m: m.group(1)[:-1] + "/", text)
        kind, _, name = text.partition("/")
        if text == "all" or text == "allApis" or (kind in ("product", "api") and name):
            return "all" if text == "allApis" else text
        raise ValueError("scope is 'all', 'product/<name>' or 'api/<name>'")


class Certificate(SeedModel):
    id: str
    data: str | None = None  # PEM, or base64 DER
    key_file: str | None = None

    _id = field_validator("id")(_named)

    @model_validator(mode="after")
    def _one_source(self) -> Certificate:
        if (self.data is None) == (self.key_file is None):
            raise ValueError("give exactly one of 'data' (PEM or base64 DER) and 'keyFile'")
        return self


class Service(SeedModel):
    name: str
    policy: str | None = None
    policy_file: str | None = None
    named_values: list[NamedValue] = Field(default_factory=list)
    certificates: list[Certificate] = Field(default_factory=list)
    backends: list[Backend] = Field(default_factory=list)
    apis: list[Api] = Field(default_factory=list)
    products: list[Product] = Field(default_factory=list)
    subscriptions: list[Subscription] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _service_name(cls, value: str) -> str:
        if not _SERVICE.match(value):
            raise ValueError(f"'{value[:80]}' is not an API Management service name (lower-case letters, digits "
                             "and '-', as in {name}.azure-api.net)")
        return value

    @model_validator(mode="after")
    def _one_policy(self) -> Service:
        if self.policy is not None and self.policy_file is not None:
            raise ValueError("give 'policy' (inline XML) or 'policyFile', not both")
        return self
