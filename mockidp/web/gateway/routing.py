"""The seed's API Management services compiled for requests, once per worker: APIs by path, operations by
method and URL template, subscriptions by key, and the composed policy of each (operation, product).

APIM's matching, as mockidp does it (docs/apim.md#choices-not-confirmed-against-apim): the API is the one
whose path (URL suffix) is the longest prefix of the request path on a segment boundary, compared
case-sensitively; then the operation whose method is the request's and whose template matches the rest of
the path, case-insensitively, literal segments preferred over `{parameters}` and those over `{*wildcard}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mockidp.apim.policy import (
    DEFAULT_GLOBAL_POLICY,
    Placed,
    PolicyDocument,
    Scope,
    Section,
    compose,
    parse_policy,
)
from mockidp.directory.apim_model import (
    ApimServiceRecord,
    ApiRecord,
    BackendRecord,
    OperationRecord,
    PolicyText,
    ProductRecord,
    SubscriptionRecord,
)

ComposedPolicy = Mapping[Section, tuple[Placed, ...]]
_PARAM = re.compile(r"^\{(\*?)([^{}]*)\}$")


@dataclass(frozen=True, slots=True)
class Template:
    """An operation's urlTemplate: segments that are literals, {name} (one segment) or {*name} (the rest)."""

    parts: tuple[tuple[Literal["literal", "param", "rest"], str], ...]

    @classmethod
    def of(cls, url_template: str) -> Template:
        parts: list[tuple[Literal["literal", "param", "rest"], str]] = []
        for segment in url_template.strip("/").split("/") if url_template.strip("/") else []:
            m = _PARAM.match(segment)
            if segment == "*":
                parts.append(("rest", ""))
            elif m is None:
                parts.append(("literal", segment.lower()))
            else:
                parts.append(("rest" if m.group(1) else "param", m.group(2)))
        return cls(tuple(parts))

    def match(self, segments: list[str]) -> tuple[int, ...] | None:
        """The match's rank (higher is more specific), or None."""
        rank: list[int] = []
        for i, (kind, value) in enumerate(self.parts):
            if kind == "rest":
                rank.append(0)
                return tuple(rank)
            if i >= len(segments):
                return None
            if kind == "literal":
                if segments[i].lower() != value:
                    return None
                rank.append(2)
            else:
                if not segments[i]:
                    return None
                rank.append(1)
        return tuple(rank) if len(segments) == len(self.parts) else None


@dataclass(slots=True)
class Route:
    api: ApiRecord
    operation: OperationRecord
    template: Template


@dataclass(slots=True)
class CompiledApi:
    record: ApiRecord
    prefix: str  # "/" + path, or "" for the empty suffix
    routes: list[Route]
    backend: BackendRecord | None

    def operation(self, method: str, rest: str) -> Route | None:
        segments = rest.strip("/").split("/") if rest.strip("/") else []
        best: tuple[tuple[int, ...], Route] | None = None
        for route in self.routes:
            if route.operation.method != method:
                continue
            rank = route.template.match(segments)
            if rank is not None and (best is None or rank > best[0]):
                best = (rank, route)
        return best[1] if best else None


@dataclass(frozen=True, slots=True)
class Gate:
    """The subscription-key check's outcome for one request."""

    subscription: SubscriptionRecord | None
    key: str
    product: ProductRecord | None
    refused: Literal["", "missing", "invalid"] = ""


@dataclass(slots=True)
class CompiledService:
    record: ApimServiceRecord
    apis: list[CompiledApi]  # longest prefix first
    documents: dict[tuple[Scope, str], PolicyDocument]  # (scope, name) -> parsed policy
    texts: dict[tuple[Scope, str], PolicyText]
    keys: dict[str, SubscriptionRecord]
    products_of: dict[str, list[ProductRecord]]  # API name -> products holding it
    secrets: tuple[tuple[str, str], ...]  # (value, name) of secret named values, longest first
    _composed: dict[tuple[str, str, str], ComposedPolicy] = field(default_factory=dict)

    def api(self, path: str) -> tuple[CompiledApi, str] | None:
        for api in self.apis:
            if not api.prefix or path == api.prefix or path.startswith(api.prefix + "/"):
                return api, path[len(api.prefix):]
        return None

    def gate(self, api: ApiRecord, headers: list[tuple[str, str]], query: list[tuple[str, str]]) -> Gate:
        """APIM's subscription-key check: the key from the API's header, else its query parameter; a key is
        valid when an active subscription holds it (primary or secondary) and its scope covers the API."""
        header = api.key_header.lower()
        key = next((v for k, v in headers if k.lower() == header), None)
        if key is None:
            key = next((v for k, v in query if k == api.key_query), None)
        open_product = next((p for p in self.products_of.get(api.name, []) if not p.subscription_required), None)
        required = api.subscription_required and open_product is None
        if key is None:
            return Gate(None, "", open_product, "missing" if required else "")
        sub = self.keys.get(key)
        product = None
        if sub is not None and sub.state == "active":
            kind, _, name = sub.scope.partition("/")
            if kind == "product":
                product = next((p for p in self.products_of.get(api.name, []) if p.name == name), None)
            covered = sub.scope == "all" or (kind == "api" and name == api.name) or product is not None
            if covered:
                return Gate(sub, key, product)
        # A key that opens nothing: refused where a key is needed; ignored on an open API (no subscription)
        return Gate(None, "", open_product, "invalid" if required else "")

    def policy(self, route: Route, product: ProductRecord | None) -> ComposedPolicy:
        """global -> product -> API -> operation, composed once per (API, operation, product)."""
        key = (route.api.name, route.operation.name, product.name if product else "")
        found = self._composed.get(key)
        if found is None:
            docs = [self.documents[("global", "")]]
            for scope, name in (("product", product.name if product else None), ("api", route.api.name),
                                ("operation", f"{route.api.name}/{route.operation.name}")):
                if name is not None and (scope, name) in self.documents:
                    docs.append(self.documents[(scope, name)])  # type: ignore[index]
            found = self._composed[key] = compose(docs)
        return found

    def text_of(self, scope: str, route: Route, product: ProductRecord | None) -> PolicyText | None:
        name = {"global": "", "product": product.name if product else "", "api": route.api.name,
                "operation": f"{route.api.name}/{route.operation.name}"}.get(scope, "")
        return self.texts.get((scope, name))  # type: ignore[arg-type]

    def scrub(self, text: str) -> str:
        """Secret named values never leave the gateway in a trace or log: shown as {{name}}."""
        for value, name in self.secrets:
            if value and value in text:
                text = text.replace(value, "{{" + name + "}}")
        return text


def compile_service(record: ApimServiceRecord) -> CompiledService:
    named = {nv.name: nv.value for nv in record.named_values}
    documents: dict[tuple[Scope, str], PolicyDocument] = {}
    texts: dict[tuple[Scope, str], PolicyText] = {}

    def add(scope: Scope, name: str, text: PolicyText | None) -> None:
        if text is None:
            return
        # The seed check parsed the same text with the same named values: this does not fail
        documents[(scope, name)] = parse_policy(text.xml, scope=scope, source=text.source, named_values=named)
        texts[(scope, name)] = text

    add("global", "", record.policy)
    if ("global", "") not in documents:
        documents[("global", "")] = parse_policy(DEFAULT_GLOBAL_POLICY, scope="global", source="(default)")
    for product in record.products:
        add("product", product.name, product.policy)
    backends = {b.id: b for b in record.backends}
    apis = []
    for api in record.apis:
        add("api", api.name, api.policy)
        for op in api.operations:
            add("operation", f"{api.name}/{op.name}", op.policy)
        routes = [Route(api, op, Template.of(op.url_template)) for op in api.operations]
        apis.append(CompiledApi(api, "/" + api.path if api.path else "", routes,
                                backends.get(api.backend_id) if api.backend_id else None))
    apis.sort(key=lambda a: len(a.prefix), reverse=True)
    keys: dict[str, SubscriptionRecord] = {}
    for sub in record.subscriptions:
        keys[sub.primary_key] = sub
        if sub.secondary_key:
            keys[sub.secondary_key] = sub
    products_of: dict[str, list[ProductRecord]] = {}
    for product in record.products:
        for name in product.apis:
            products_of.setdefault(name, []).append(product)
    secrets = tuple(sorted(((nv.value, nv.name) for nv in record.named_values if nv.secret),
                           key=lambda x: -len(x[0])))
    return CompiledService(record, apis, documents, texts, keys, products_of, secrets)


def compile_services(records: tuple[ApimServiceRecord, ...]) -> list[CompiledService]:
    return [compile_service(r) for r in records]
