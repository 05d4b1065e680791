"""The seed's API Management services as frozen values, checked and resolved (apim_seed.py): what the
gateway of every worker builds its routes from (web/gateway/). Policies stay XML text with where it came
from, so that each worker parses them once at start with the same line numbers the seed check reported.
Stored as JSON (tables.ApimServiceRow): `as_json` / `from_json` are each other's inverse."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PolicyText:
    xml: str
    source: str  # the file its lines refer to: the seed, or the policyFile
    first_line: int  # the line of the XML's first line in `source` (1 for a policyFile)
    yaml_path: str  # where the seed gives it, for problems: apiManagement[0].apis[1].policy


@dataclass(frozen=True, slots=True)
class NamedValueRecord:
    name: str
    value: str
    secret: bool  # never shown: traces and logs show {{name}} instead


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    id: str
    pem: str


@dataclass(frozen=True, slots=True)
class BackendRecord:
    id: str
    url: str | None
    builtin: str | None  # "echo": mockidp's echo function on this server's own port
    headers: tuple[tuple[str, tuple[str, ...]], ...]  # credentials.header, named values substituted
    query: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class OperationRecord:
    name: str
    method: str
    url_template: str
    policy: PolicyText | None


@dataclass(frozen=True, slots=True)
class ApiRecord:
    name: str
    path: str  # the URL suffix, without slashes at either end ("" is allowed, as in APIM)
    service_url: str | None
    backend_id: str | None
    subscription_required: bool
    key_header: str
    key_query: str
    policy: PolicyText | None
    operations: tuple[OperationRecord, ...]


@dataclass(frozen=True, slots=True)
class ProductRecord:
    name: str
    apis: tuple[str, ...]
    subscription_required: bool
    policy: PolicyText | None


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    name: str
    scope: str  # "all", "product/<name>" or "api/<name>"
    primary_key: str
    secondary_key: str | None
    allow_tracing: bool
    state: str


@dataclass(frozen=True, slots=True)
class ApimServiceRecord:
    name: str
    policy: PolicyText | None
    named_values: tuple[NamedValueRecord, ...]
    certificates: tuple[CertificateRecord, ...]
    backends: tuple[BackendRecord, ...]
    apis: tuple[ApiRecord, ...]
    products: tuple[ProductRecord, ...]
    subscriptions: tuple[SubscriptionRecord, ...]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ApimServiceRecord:
        return cls(
            d["name"], _policy(d["policy"]),
            tuple(NamedValueRecord(**x) for x in d["named_values"]),
            tuple(CertificateRecord(**x) for x in d["certificates"]),
            tuple(BackendRecord(x["id"], x["url"], x["builtin"], _pairs(x["headers"]), _pairs(x["query"]))
                  for x in d["backends"]),
            tuple(ApiRecord(a["name"], a["path"], a["service_url"], a["backend_id"], a["subscription_required"],
                            a["key_header"], a["key_query"], _policy(a["policy"]),
                            tuple(OperationRecord(o["name"], o["method"], o["url_template"], _policy(o["policy"]))
                                  for o in a["operations"]))
                  for a in d["apis"]),
            tuple(ProductRecord(p["name"], tuple(p["apis"]), p["subscription_required"], _policy(p["policy"]))
                  for p in d["products"]),
            tuple(SubscriptionRecord(**x) for x in d["subscriptions"]),
        )


def _policy(d: dict[str, Any] | None) -> PolicyText | None:
    return None if d is None else PolicyText(**d)


def _pairs(items: list[list[Any]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, tuple(values)) for name, values in items)
