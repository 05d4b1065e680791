"""The seed's `apiManagement:` services checked as a whole and resolved into apim_model records.

Each policy (global, product, API, operation) is parsed here with the parser the gateway runs
(mockidp/apim/policy.py), with the service's named values, so a policy mockidp would not run fully is
refused at load, never at the first request. Its problems carry the seed's file and line (the line of the
XML inside a `policy: |` block, or of the policyFile) and the YAML path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from mockidp.apim.policy import PolicyError, Scope, parse_policy
from mockidp.directory import apim_model as am
from mockidp.directory import apim_schema as s
from mockidp.directory.certificates import parse_certificate

MAX_POLICY_FILE_BYTES = 256 * 1024  # the policy parser's own bound

Path_ = tuple[str | int, ...]
# (path, message) -> a problem; the loader's _File knows the lines
Report = Callable[[Path_, str], None]
# (path, message, file, line) -> a problem at a line of another file, or of the seed's XML block
ReportAt = Callable[[Path_, str, str, int], None]
ReadFile = Callable[[str, int], str | None]  # a file relative to the seed's folder, confined to it


@dataclasses.dataclass
class ServiceInput:
    path: Path_
    service: s.Service
    seed_name: str
    text_line: Callable[[Path_], int]  # the first line of a scalar's text in the seed
    report: Report  # a problem at a path of this service's file


def resolve_services(inputs: list[ServiceInput], report_at: ReportAt,
                     read_file: Callable[[str, str, int], str | None]) -> tuple[am.ApimServiceRecord, ...]:
    out: list[am.ApimServiceRecord] = []
    names: set[str] = set()
    paths: dict[str, str] = {}  # API path (lower case) -> service name: the gateway routes localhost by path
    for item in inputs:
        svc, sp, report = item.service, item.path, item.report
        if svc.name in names:
            report((*sp, "name"), f"a second API Management service named '{svc.name}'")
        names.add(svc.name)
        record = _Service(item, report_at, _reader(read_file, item.seed_name)).resolve()
        for i, api in enumerate(record.apis):
            other = paths.get(api.path.lower())
            if other is not None and other != svc.name:
                report((*sp, "apis", i, "path"), f"the API path '{api.path}' is also served by service '{other}': "
                                                 "gateway URLs would be ambiguous on localhost")
            paths[api.path.lower()] = svc.name
        out.append(record)
    return tuple(out)


def _reader(read_file: Callable[[str, str, int], str | None], seed: str) -> ReadFile:
    def read(name: str, limit: int) -> str | None:
        return read_file(seed, name, limit)

    return read


class _Service:
    def __init__(self, item: ServiceInput, report_at: ReportAt, read: ReadFile) -> None:
        self.item, self.report, self.report_at, self.read = item, item.report, report_at, read
        self.svc = item.service
        self.named = {nv.name: nv.value for nv in self.svc.named_values}

    def resolve(self) -> am.ApimServiceRecord:
        svc, sp = self.svc, self.item.path
        seen: set[str] = set()
        for i, nv in enumerate(svc.named_values):
            if nv.name in seen:
                self.report((*sp, "namedValues", i, "name"), f"a second named value '{nv.name}'")
            seen.add(nv.name)
        certificates = self.certificates()
        backends = self.backends()
        backend_ids = {b.id for b in backends}
        apis = self.apis(backend_ids)
        api_names = {a.name for a in apis}
        products = self.products(api_names)
        subscriptions = self.subscriptions(api_names, {p.name for p in products})
        policy = self.policy(sp, svc.policy, svc.policy_file, "global")
        # certificate-id and backend-id of every policy must name what this service defines
        cert_ids = {c.id for c in certificates}
        for text in self.policies(policy, apis, products):
            self.references(text, cert_ids, backend_ids)
        return am.ApimServiceRecord(
            svc.name, policy, tuple(am.NamedValueRecord(nv.name, nv.value, nv.secret) for nv in svc.named_values),
            certificates, backends, apis, products, subscriptions)

    # -- policies

    def policy(self, path: Path_, inline: str | None, file: str | None, scope: Scope) -> am.PolicyText | None:
        if inline is not None:
            text = am.PolicyText(inline, self.item.seed_name, self.item.text_line((*path, "policy")),
                                 _format((*path, "policy")))
            where: Path_ = (*path, "policy")
        elif file is not None:
            content = self.read(file, MAX_POLICY_FILE_BYTES)
            if content is None:
                self.report((*path, "policyFile"), f"cannot read {file[:256]!r}: policyFile names a regular file of "
                                                   f"at most {MAX_POLICY_FILE_BYTES} bytes inside the seed's folder")
                return None
            text = am.PolicyText(content, file, 1, _format((*path, "policyFile")))
            where = (*path, "policyFile")
        else:
            return None
        try:
            parse_policy(text.xml, scope=scope, source=text.source, named_values=self.named)
        except PolicyError as exc:
            for p in exc.problems:
                self.report_at(where, f"<{p.element}>: {p.message}", self.file_of(text),
                               text.first_line + p.line - 1)
            return None
        return text

    def file_of(self, text: am.PolicyText) -> str:
        return self.item.seed_name if text.source == self.item.seed_name else text.source

    def policies(self, policy: am.PolicyText | None, apis: tuple[am.ApiRecord, ...],
                 products: tuple[am.ProductRecord, ...]) -> Iterator[tuple[am.PolicyText, Scope]]:
        if policy is not None:
            yield policy, "global"
        for p in products:
            if p.policy is not None:
                yield p.policy, "product"
        for a in apis:
            if a.policy is not None:
                yield a.policy, "api"
            for o in a.operations:
                if o.policy is not None:
                    yield o.policy, "operation"

    def references(self, placed: tuple[am.PolicyText, Scope], cert_ids: set[str], backend_ids: set[str]) -> None:
        text, scope = placed
        document = parse_policy(text.xml, scope=scope, source=text.source, named_values=self.named)
        for statement in (st for section in document.sections.values() for st in section):
            for obj in _walk(statement):
                line = getattr(statement, "line", 1)
                cert = getattr(obj, "certificate_id", None)
                if isinstance(cert, str) and cert and cert not in cert_ids:
                    self.report_at(_path_of(text), f"certificate-id '{cert}' names no certificate of service "
                                   f"'{self.svc.name}' (add it under certificates:)", self.file_of(text),
                                   text.first_line + line - 1)
                backend = getattr(obj, "backend_id", None)
                if isinstance(backend, str) and backend and backend not in backend_ids:
                    self.report_at(_path_of(text), f"backend-id '{backend}' names no backend of service "
                                   f"'{self.svc.name}'", self.file_of(text), text.first_line + line - 1)

    # -- parts

    def certificates(self) -> tuple[am.CertificateRecord, ...]:
        out: list[am.CertificateRecord] = []
        for i, c in enumerate(self.svc.certificates):
            cp: Path_ = (*self.item.path, "certificates", i)
            text = c.data if c.data is not None else self.read(c.key_file or "", 64 * 1024)
            if text is None:
                self.report((*cp, "keyFile"), f"cannot read {(c.key_file or '')[:256]!r}: keyFile names a regular "
                                              "file inside the seed's folder")
                continue
            try:
                parse_certificate(text)
            except ValueError as exc:
                # decryption-keys' certificate-id names the private key (APIM holds an uploaded PFX)
                if not _is_private_key(text):
                    self.report((*cp, "data" if c.data is not None else "keyFile"),
                                f"{exc}; or give the PEM private key of a certificate for decryption-keys")
                    continue
            if any(x.id == c.id for x in out):
                self.report((*cp, "id"), f"a second certificate '{c.id}'")
            out.append(am.CertificateRecord(c.id, text))
        return tuple(out)

    def substituted(self, path: Path_, value: str) -> str:
        """{{named values}} in a backend's credentials, as APIM substitutes them."""
        out, rest = "", value
        while "{{" in rest:
            before, _, after = rest.partition("{{")
            name, found, rest = after.partition("}}")
            if not found:
                return out + before + "{{" + name
            name = name.strip()
            if name not in self.named:
                self.report(path, f"named value {{{{{name}}}}} is not defined")
            out += before + self.named.get(name, "")
        return out + rest

    def backends(self) -> tuple[am.BackendRecord, ...]:
        out: list[am.BackendRecord] = []
        for i, b in enumerate(self.svc.backends):
            bp: Path_ = (*self.item.path, "backends", i)
            if any(x.id == b.id for x in out):
                self.report((*bp, "id"), f"a second backend '{b.id}'")
            if b.url is not None:
                why = _url_problem(b.url)
                if why:
                    self.report((*bp, "url"), why)

            def pairs(kind: str, given: dict[str, list[str] | str],
                      bp: Path_ = bp) -> tuple[tuple[str, tuple[str, ...]], ...]:
                return tuple((name, tuple(self.substituted((*bp, "credentials", kind, name), v)
                                          for v in ([values] if isinstance(values, str) else values)))
                             for name, values in given.items())

            out.append(am.BackendRecord(b.id, b.url, b.builtin, pairs("header", b.credentials.header),
                                        pairs("query", b.credentials.query)))
        return tuple(out)

    def apis(self, backend_ids: set[str]) -> tuple[am.ApiRecord, ...]:
        out: list[am.ApiRecord] = []
        paths: set[str] = set()
        for i, a in enumerate(self.svc.apis):
            ap: Path_ = (*self.item.path, "apis", i)
            if any(x.name == a.name for x in out):
                self.report((*ap, "name"), f"a second API '{a.name}'")
            if a.path.lower() in paths:
                self.report((*ap, "path"), f"a second API with the path '{a.path}'")
            paths.add(a.path.lower())
            if a.service_url is not None:
                why = _url_problem(a.service_url)
                if why:
                    self.report((*ap, "serviceUrl"), why)
            if a.backend_id is not None and a.backend_id not in backend_ids:
                self.report((*ap, "backendId"), f"no backend '{a.backend_id}' in this service")
            operations: list[am.OperationRecord] = []
            for oi, o in enumerate(a.operations):
                op: Path_ = (*ap, "operations", oi)
                if any(x.name == o.name for x in operations):
                    self.report((*op, "name"), f"a second operation '{o.name}' in this API")
                if any(x.method == o.method and x.url_template.lower() == o.url_template.lower()
                       for x in operations):
                    self.report((*op, "urlTemplate"), f"{o.method} {o.url_template} is defined twice in this API")
                operations.append(am.OperationRecord(o.name, o.method, o.url_template,
                                                     self.policy(op, o.policy, o.policy_file, "operation")))
            names = a.subscription_key_parameter_names
            out.append(am.ApiRecord(a.name, a.path, a.service_url, a.backend_id, a.subscription_required,
                                    names.header, names.query, self.policy(ap, a.policy, a.policy_file, "api"),
                                    tuple(operations)))
        return tuple(out)

    def products(self, api_names: set[str]) -> tuple[am.ProductRecord, ...]:
        out: list[am.ProductRecord] = []
        for i, p in enumerate(self.svc.products):
            pp: Path_ = (*self.item.path, "products", i)
            if any(x.name == p.name for x in out):
                self.report((*pp, "name"), f"a second product '{p.name}'")
            for ai, name in enumerate(p.apis):
                if name not in api_names:
                    self.report((*pp, "apis", ai), f"no API '{name}' in this service")
            out.append(am.ProductRecord(p.name, tuple(p.apis), p.subscription_required,
                                        self.policy(pp, p.policy, p.policy_file, "product")))
        return tuple(out)

    def subscriptions(self, api_names: set[str], product_names: set[str]) -> tuple[am.SubscriptionRecord, ...]:
        out: list[am.SubscriptionRecord] = []
        keys: set[str] = set()
        for i, sub in enumerate(self.svc.subscriptions):
            sp: Path_ = (*self.item.path, "subscriptions", i)
            if any(x.name == sub.name for x in out):
                self.report((*sp, "name"), f"a second subscription '{sub.name}'")
            kind, _, name = sub.scope.partition("/")
            if kind == "product" and name not in product_names:
                self.report((*sp, "scope"), f"no product '{name}' in this service")
            if kind == "api" and name not in api_names:
                self.report((*sp, "scope"), f"no API '{name}' in this service")
            for field, key in (("primaryKey", sub.primary_key), ("secondaryKey", sub.secondary_key)):
                if key is None:
                    continue
                if key in keys:
                    self.report((*sp, field), "this key is already another key of this service")
                keys.add(key)
            out.append(am.SubscriptionRecord(sub.name, sub.scope, sub.primary_key, sub.secondary_key,
                                             sub.allow_tracing, sub.state))
        return tuple(out)


def _is_private_key(text: str) -> bool:
    try:
        serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _walk(obj: Any) -> Iterator[Any]:
    """Every dataclass inside a statement (choose/when nest statements; validate-jwt nests keys)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        yield obj
        for f in dataclasses.fields(obj):
            yield from _walk(getattr(obj, f.name))
    elif isinstance(obj, tuple | list):
        for x in obj:
            yield from _walk(x)


def _path_of(text: am.PolicyText) -> Path_:
    return (text.yaml_path,)


def _format(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"'{url[:256]}' is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"'{url[:256]}' is not an http or https URL"
    if parts.query or parts.fragment:
        return "a backend URL has no query or fragment"
    return None
