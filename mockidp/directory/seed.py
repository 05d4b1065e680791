"""Load seed YAML files, validate them as a whole, and resolve them into DirectoryContent.

Every problem is collected and reported with its file, line and YAML path; nothing is returned
unless the whole seed is valid. YAML is read with the safe loader only, aliases are refused (no
"billion laughs") and files are capped in size.
"""

from __future__ import annotations

import os
import re
import stat
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from mockidp.directory import model as m
from mockidp.directory import schema as s
from mockidp.directory.apim_model import ApimServiceRecord
from mockidp.directory.apim_seed import ServiceInput, resolve_services
from mockidp.directory.builtin import GRAPH_APP, GRAPH_APP_ID, GRAPH_URI, graph_service_principal
from mockidp.directory.certificates import parse_certificate
from mockidp.directory.federated_credentials import resolve_credentials
from mockidp.directory.ids import derived_id
from mockidp.directory.passwords import hash_password, secret_digest

MAX_SEED_BYTES = 1024 * 1024
MAX_KEY_FILE_BYTES = 64 * 1024
_DNS = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.I)
_LOCALHOSTS = {"localhost", "127.0.0.1"}

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '(document)'}: {self.message}"


class SeedError(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class _File:
    name: str
    lines: dict[Path_, int] = field(default_factory=dict)
    base_dir: Path = Path(".")
    text_lines: dict[Path_, int] = field(default_factory=dict)  # a scalar's first line of text (block: the next)

    def line(self, path: Path_) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def _walk(node: yaml.Node, path: Path_, f: _File, problems: list[Problem], nodes: dict[int, Path_]) -> None:
    f.lines.setdefault(path, node.start_mark.line + 1)
    nodes[id(node)] = path
    if isinstance(node, yaml.ScalarNode):
        f.text_lines[path] = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            if k in seen:
                problems.append(Problem(f.name, key.start_mark.line + 1, format_path((*path, k)),
                                        "duplicate key"))
            seen.add(k)
            f.lines[(*path, k)] = key.start_mark.line + 1
            _walk(value, (*path, k), f, problems, nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), f, problems, nodes)


class _NotRegular(OSError):
    """A path that is no regular file (FIFO, device, directory, socket)."""


class _TooLarge(OSError):
    """A regular file over the cap."""


def read_regular_file(path: Path, limit: int, *, follow_symlinks: bool = True) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, read without ever blocking (O_NONBLOCK: a
    FIFO opens at once and is refused) and without reading more than limit + 1 bytes (a file that grows
    meanwhile). Raises OSError: _NotRegular, _TooLarge, or the system's."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular("not a regular file")
        if info.st_size > limit:
            raise _TooLarge("too large")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise _TooLarge("too large")
        return data
    finally:
        os.close(fd)


def read_key_file(base_dir: Path, name: str, limit: int = MAX_KEY_FILE_BYTES) -> str | None:
    """The text of keyFile `name`, relative to the seed's folder, if it resolves (symlinks included) to a
    regular file inside that folder; None for every other case alike, so that a seed cannot probe which
    files exist elsewhere."""
    try:
        root = base_dir.resolve(strict=True)
        target = (root / name).resolve(strict=True)
        if not target.is_relative_to(root):
            return None
        # resolved already: a symlink here now was swapped in since, and is refused
        return read_regular_file(target, limit, follow_symlinks=False).decode("utf-8")
    except (OSError, ValueError, RuntimeError):  # ValueError: NUL in the name or not UTF-8; RuntimeError: loops
        return None


MAX_DEPTH = 64  # nesting levels of a seed (the demo needs 6): deeper is refused before the scanner's quadratic work
MAX_INT_CHARS = 4300  # Python's own limit on int() of a decimal string; sexagesimal ints are bounded too


class _BadScalar(yaml.YAMLError):
    """A scalar its tag's constructor refuses (ValueError and friends), with the node where it is."""

    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node, self.message = node, message


class _SeedLoader(yaml.SafeLoader):
    """The safe loader, bounded: no anchors or aliases, at most MAX_DEPTH levels of flow collections and
    of block indentation (checked as the scanner opens them, so 500 KB of '[' fails at the 65th), and
    every constructor error becomes a problem at its node instead of a traceback."""

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        if self.indent < column and len(self.indents) >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        return bool(super().add_indent(column))

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(None, None, "YAML anchors and aliases are not allowed in a seed",
                                              event.start_mark)
        return super().compose_node(parent, index)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int" and len(
                node.value) > MAX_INT_CHARS:
            raise _BadScalar(node, f"an integer of {len(node.value)} characters is too long (at most {MAX_INT_CHARS})")
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, KeyError, IndexError, AttributeError, TypeError):
            kind = str(node.tag).rpartition(":")[2]
            value = node.value if isinstance(node.value, str) else ""
            raise _BadScalar(node, f"'{value[:40]}' is not a valid {kind}") from None


def _read(path: Path, problems: list[Problem]) -> tuple[_File, Any] | None:
    f = _File(str(path), base_dir=path.parent)
    try:
        raw = read_regular_file(path, MAX_SEED_BYTES)  # size known before reading: at most cap + 1 bytes
    except _NotRegular:
        problems.append(Problem(str(path), None, "", "not a regular file"))
        return None
    except _TooLarge:
        problems.append(Problem(str(path), None, "", f"larger than {MAX_SEED_BYTES} bytes"))
        return None
    except OSError as exc:
        problems.append(Problem(str(path), None, "", f"cannot read: {exc.strerror}"))
        return None
    try:
        loader = _SeedLoader(raw.decode("utf-8"))
        try:
            root = loader.get_single_node()
            if root is None:
                return f, {}
            before = len(problems)
            nodes: dict[int, Path_] = {}
            _walk(root, (), f, problems, nodes)
            if len(problems) > before:
                return None
            try:
                data = loader.construct_document(root)
            except _BadScalar as exc:
                problems.append(Problem(str(path), exc.node.start_mark.line + 1,
                                        format_path(nodes.get(id(exc.node), ())), exc.message))
                return None
        finally:
            loader.dispose()
    except UnicodeDecodeError:
        problems.append(Problem(str(path), None, "", "not UTF-8 text"))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problems.append(Problem(str(path), line, "", f"invalid YAML: {getattr(exc, 'problem', exc)}"))
        return None
    except RecursionError:  # not expected within MAX_DEPTH; a clear problem all the same
        problems.append(Problem(str(path), None, "", f"nested deeper than {MAX_DEPTH} levels"))
        return None
    return f, data if data is not None else {}


def seed_files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml") and x.is_file()))
        else:
            out.append(p)
    return out


def load_seed(paths: Iterable[str | Path]) -> m.DirectoryContent:
    """Read, validate and resolve every seed file; raise SeedError listing every problem."""
    problems: list[Problem] = []
    docs: list[tuple[_File, s.SeedDocument]] = []
    files = seed_files(paths)
    if not files:
        raise SeedError([Problem("(seed)", None, "", "no seed file given or found")])
    for path in files:
        read = _read(path, problems)
        if read is None:
            continue
        f, data = read
        try:
            docs.append((f, s.SeedDocument.model_validate(data)))
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
                problems.append(Problem(f.name, f.line(loc), format_path(loc), _message(err)))
    if problems:
        raise SeedError(problems)
    content = _Resolver(docs).resolve()
    return content


def resolve_application(data: dict[str, Any], tenant_id: str, *, where: str = "(request)") -> m.ApplicationRecord:
    """One application read and checked as a seed file's would be: a Graph write (mockidp/graph/) goes through
    the seed's own schema and rules. Raises SeedError."""
    f = _File(where)
    try:
        a = s.Application.model_validate(data)
    except ValidationError as exc:
        raise SeedError([Problem(where, None, format_path(tuple(x for x in err["loc"] if not (
            isinstance(x, str) and x.startswith("function-")))), _message(err)) for err in exc.errors()]) from None
    if any(kc.key_file is not None for kc in a.key_credentials):  # a file of the server's: never over the wire
        raise SeedError([Problem(where, None, "keyCredentials", "give the certificate as 'key'")])
    r = _Resolver([])
    record = r.application(f, (), a, tenant_id)
    if r.problems:
        raise SeedError(r.problems)
    return record


def read_federated_credential(data: dict[str, Any], *, where: str = "(request)") -> s.FederatedIdentityCredential:
    """One federatedIdentityCredential read as a seed file's entry is (its schema and defaults); Entra's rules
    over the owner's whole list are federated_credentials.resolve_credentials. Raises SeedError."""
    try:
        return s.FederatedIdentityCredential.model_validate(data)
    except ValidationError as exc:
        raise SeedError([Problem(where, None, format_path(tuple(x for x in err["loc"] if not (
            isinstance(x, str) and x.startswith("function-")))), _message(err)) for err in exc.errors()]) from None


def _message(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown key"
    return msg.removeprefix("Value error, ")


def _timestamp(value: str | None) -> float | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class _Resolver:
    """Cross-reference checks and id resolution over all files at once."""

    def __init__(self, docs: list[tuple[_File, s.SeedDocument]]) -> None:
        self.docs = docs
        self.problems: list[Problem] = []

    def problem(self, f: _File, path: Path_, message: str) -> None:
        self.problems.append(Problem(f.name, f.line(path), format_path(path), message))

    def resolve(self) -> m.DirectoryContent:
        tenants: list[m.TenantRecord] = []
        apps: dict[str, m.ApplicationRecord] = {}
        app_where: dict[str, tuple[_File, Path_]] = {}
        seen_domains: dict[str, str] = {}
        # Pass 1: tenants and applications (apps are global: a foreign SP may name any of them).
        plan: list[tuple[_File, Path_, s.Tenant, str]] = []
        for f, doc in self.docs:
            for ti, t in enumerate(doc.tenants):
                tp: Path_ = ("tenants", ti)
                tid = t.tenant_id or derived_id("tenant", t.display_name)
                if any(x.id == tid for x in tenants):
                    self.problem(f, (*tp, "tenantId"), f"tenant {tid} is defined twice")
                for di, domain in enumerate(t.domains):
                    if not _DNS.match(domain):
                        self.problem(f, (*tp, "domains", di), f"'{domain}' is not a DNS name")
                    elif domain.lower() in seen_domains:
                        self.problem(f, (*tp, "domains", di), f"domain '{domain}' already belongs to a tenant")
                    seen_domains[domain.lower()] = tid
                tenants.append(m.TenantRecord(tid, t.display_name, tuple(d.lower() for d in t.domains), t.region))
                plan.append((f, tp, t, tid))
                names: set[str] = set()
                for ai, a in enumerate(t.applications):
                    ap: Path_ = (*tp, "applications", ai)
                    record = self.application(f, ap, a, tid)
                    if record.app_id in apps:
                        self.problem(f, (*ap, "appId"), f"appId {record.app_id} is registered twice")
                    if a.display_name in names:
                        self.problem(f, (*ap, "displayName"), "two applications of this tenant share this name")
                    names.add(a.display_name)
                    apps[record.app_id] = record
                    app_where[record.app_id] = (f, ap)
                for mi_index, mi in enumerate(t.managed_identities):
                    mp: Path_ = (*tp, "managedIdentities", mi_index)
                    record = managed_identity_application(tid, mi)
                    federated, fic_problems = resolve_credentials(record.app_id, mi.federated_identity_credentials,
                                                                  owner="managedIdentity")
                    for fp in fic_problems:
                        self.problem(f, (*mp, "federatedIdentityCredentials", *fp.path), fp.message)
                    record = replace(record, federated_credentials=federated)
                    if record.display_name in names:
                        self.problem(f, (*mp, "name" if mi.name else "resource"),
                                     "an application or managed identity of this tenant has this name")
                    elif record.app_id in apps:
                        self.problem(f, (*mp, "clientId"), f"clientId {record.app_id} is registered twice")
                    names.add(record.display_name)
                    apps[record.app_id] = record
        # Pass 2: everything that lives in one tenant and refers to apps, users and groups.
        content = m.DirectoryContent(tenants=tuple(tenants), applications=tuple(apps.values()))
        sps: list[m.ServicePrincipalRecord] = []
        users: list[m.UserRecord] = []
        groups: list[m.GroupRecord] = []
        assignments: list[m.AssignmentRecord] = []
        grants: list[m.GrantRecord] = []
        resources: dict[str, m.AzureResourceRecord] = {}
        for f, tp, t, tid in plan:
            scope = _TenantScope(self, f, tp, t, tid, apps)
            sps += scope.service_principals()
            groups += scope.groups()
            users += scope.users()
            assignments += scope.assignments()
            grants += scope.grants()
            for res in scope.azure_resources():
                if res.name in resources:  # the IMDS path and the identity header name it alone
                    scope.problem(("managedIdentities",), f"resource name '{res.name}' is used in two tenants")
                resources[res.name] = res
        services = self.api_management()
        if self.problems:
            raise SeedError(self.problems)
        return m.DirectoryContent(
            tenants=content.tenants, applications=content.applications, service_principals=tuple(sps),
            users=tuple(users), groups=tuple(groups), assignments=tuple(assignments), grants=tuple(grants),
            api_management=services, azure_resources=tuple(resources.values()),
        )

    def _text_line(self, f: _File) -> Callable[[Path_], int]:
        return lambda path: f.text_lines.get(path) or f.line(path) or 1

    def _reporter(self, f: _File) -> Callable[[Path_, str], None]:
        return lambda path, message: self.problem(f, path, message)

    def api_management(self) -> tuple[ApimServiceRecord, ...]:
        """The apiManagement services of every file (apim_seed.py), problems in this resolver's list."""
        files = {f.name: f for f, _ in self.docs}
        inputs = [ServiceInput(("apiManagement", i), svc, f.name, self._text_line(f), self._reporter(f))
                  for f, doc in self.docs for i, svc in enumerate(doc.api_management)]
        return resolve_services(
            inputs, lambda path, message, file, line: self.problems.append(
                Problem(file, line, format_path(path), message)),
            lambda seed, name, limit: read_key_file(files[seed].base_dir, name, limit))

    def application(self, f: _File, ap: Path_, a: s.Application, tid: str) -> m.ApplicationRecord:
        app_id = a.app_id or derived_id(tid, "app", a.display_name)
        for field_name, uris, public in (
            ("web", a.web.redirect_uris, False),
            ("spa", a.spa.redirect_uris, False),
            ("publicClient", a.public_client.redirect_uris, True),
        ):
            for i, uri in enumerate(uris):
                why = redirect_uri_problem(uri, public=public, personal=a.sign_in_audience in (
                    "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount"))
                if why:
                    self.problem(f, (*ap, field_name, "redirectUris", i), why)
        seen_uris: set[str] = set()
        for i, uri in enumerate(a.identifier_uris):
            if not uri or len(uri) > 256 or any(c.isspace() for c in uri) or "*" in uri or "#" in uri:
                self.problem(f, (*ap, "identifierUris", i), f"'{uri}' is not a valid App ID URI")
            if uri in seen_uris:
                self.problem(f, (*ap, "identifierUris", i), "listed twice")
            seen_uris.add(uri)
        secrets: list[m.SecretRecord] = []
        for i, pc in enumerate(a.password_credentials):
            try:
                secrets.append(m.SecretRecord(
                    pc.key_id or derived_id(app_id, "secret", str(i)), secret_digest(pc.secret_text),
                    _timestamp(pc.start_date_time), _timestamp(pc.end_date_time)))
            except ValueError:
                self.problem(f, (*ap, "passwordCredentials", i), "startDateTime/endDateTime must be ISO 8601")
        certs: list[m.CertificateRecord] = []
        for i, kc in enumerate(a.key_credentials):
            kp: Path_ = (*ap, "keyCredentials", i)
            text = kc.key
            if kc.key_file is not None:
                text = read_key_file(f.base_dir, kc.key_file)
                if text is None:
                    self.problem(f, (*kp, "keyFile"), f"cannot read {kc.key_file[:256]!r}: keyFile names a regular "
                                 f"file of at most {MAX_KEY_FILE_BYTES} bytes inside the seed's folder")
                    continue
            try:
                cert = parse_certificate(text or "")
                start = _timestamp(kc.start_date_time) or cert.not_before
                end = _timestamp(kc.end_date_time) or cert.not_after
            except ValueError as exc:
                self.problem(f, (*kp, "keyFile" if kc.key_file else "key"), str(exc))
                continue
            certs.append(m.CertificateRecord(
                kc.key_id or derived_id(app_id, "cert", cert.sha1), cert.sha1, cert.sha256,
                cert.public_key_pem, start, end))
        federated, fic_problems = resolve_credentials(app_id, a.federated_identity_credentials)
        for fp in fic_problems:
            self.problem(f, (*ap, "federatedIdentityCredentials", *fp.path), fp.message)
        values: set[str] = set()
        roles = []
        for i, r in enumerate(a.app_roles):
            if r.value in values:
                self.problem(f, (*ap, "appRoles", i, "value"), "two roles or scopes share this value")
            values.add(r.value)
            roles.append(m.AppRoleRecord(r.id or derived_id(app_id, "role", r.value), r.value,
                                         tuple(r.allowed_member_types), r.display_name or r.value, r.is_enabled))
        scopes = []
        scope_values: set[str] = set()
        for i, sc in enumerate(a.api.oauth2_permission_scopes):
            if sc.value in scope_values:
                self.problem(f, (*ap, "api", "oauth2PermissionScopes", i, "value"), "listed twice")
            scope_values.add(sc.value)
            scopes.append(m.ScopeRecord(
                sc.id or derived_id(app_id, "scope", sc.value), sc.value, sc.type,
                sc.admin_consent_display_name or sc.value, sc.user_consent_display_name or sc.value,
                sc.is_enabled))
        return m.ApplicationRecord(
            app_id=app_id, object_id=derived_id(tid, "application", app_id), tenant_id=tid,
            display_name=a.display_name, identifier_uris=tuple(a.identifier_uris),
            sign_in_audience=a.sign_in_audience,
            access_token_version=a.api.requested_access_token_version or 1,
            scopes=tuple(scopes), app_roles=tuple(roles), group_membership_claims=a.group_membership_claims,
            secrets=tuple(secrets), certificates=tuple(certs),
            web_redirect_uris=tuple(a.web.redirect_uris), spa_redirect_uris=tuple(a.spa.redirect_uris),
            public_redirect_uris=tuple(a.public_client.redirect_uris),
            implicit_id_token=a.web.implicit_grant_settings.enable_id_token_issuance,
            implicit_access_token=a.web.implicit_grant_settings.enable_access_token_issuance,
            is_fallback_public_client=a.is_fallback_public_client,
            pre_authorized=tuple((p.app_id, tuple(p.delegated_permission_ids))
                                 for p in a.api.pre_authorized_applications),
            logout_url=a.web.logout_url, federated_credentials=federated,
            access_token_claims=tuple(dict.fromkeys(c.name for c in a.optional_claims.access_token)),
            required_resource_access=tuple((str(x.resource_app_id), tuple((ra.id, ra.type) for ra in x.resource_access))
                                           for x in a.required_resource_access),
        )


def default_resource_id(tid: str, kind: str, name: str) -> str:
    """The ARM id of a resource the seed names without one: a subscription derived from the tenant, resource
    group 'mockidp', lowercase 'resourcegroups' as in the ids Entra puts in tokens."""
    return f"/subscriptions/{derived_id(tid, 'subscription')}/resourcegroups/mockidp/providers/{kind}/{name}"


def managed_identity_application(tid: str, mi: s.ManagedIdentity) -> m.ApplicationRecord:
    """The application object behind a managed identity's service principal (Entra hides it): its clientId as
    appId, no credential, no API of its own; it exists so that lookups by client id find it as they find apps."""
    name = mi.name or mi.resource or ""
    app_id = mi.client_id or derived_id(tid, "mi-client", mi.type, name)
    return m.ApplicationRecord(
        app_id=app_id, object_id=derived_id(tid, "application", app_id), tenant_id=tid, display_name=name,
        identifier_uris=(), sign_in_audience="AzureADMyOrg", access_token_version=1, scopes=(), app_roles=(),
        group_membership_claims=None, secrets=(), certificates=(), web_redirect_uris=(), spa_redirect_uris=(),
        public_redirect_uris=(), implicit_id_token=False, implicit_access_token=False,
        is_fallback_public_client=False, pre_authorized=(), logout_url=None,
    )


def managed_identity_principal(tid: str, mi: s.ManagedIdentity) -> m.ServicePrincipalRecord:
    """A managed identity's service principal: type ManagedIdentity, Graph's alternativeNames (the kind, the ARM
    id: system-assigned, the resource's own; user-assigned, the identity's)."""
    name = mi.name or mi.resource or ""
    app_id = mi.client_id or derived_id(tid, "mi-client", mi.type, name)
    user = mi.type == "UserAssigned"
    resource_id = mi.resource_id or default_resource_id(
        tid, "Microsoft.ManagedIdentity/userAssignedIdentities" if user else "Microsoft.Web/sites", name)
    return m.ServicePrincipalRecord(
        mi.principal_id or derived_id(tid, "sp", app_id), tid, app_id, name, False, mi.account_enabled,
        service_principal_type="ManagedIdentity",
        alternative_names=(f"isExplicit={user}", resource_id))


def grant_scope_problems(resource: m.ApplicationRecord, scopes: Iterable[str]) -> list[str]:
    """A consent grant names only the delegated scopes its resource defines (the seed and Graph's
    oauth2PermissionGrants both check it here)."""
    known = {sc.value for sc in resource.scopes}
    return [f"{resource.display_name} has no scope '{sc}'" for sc in scopes if sc not in known]


def redirect_uri_problem(uri: str, *, public: bool, personal: bool = False) -> str | None:
    """Entra's reply-URL rules (docs/entra-behaviour.md#redirect-uris): at most 256 characters, no
    fragment, no wildcard, https except for localhost; public clients may also use custom schemes;
    query strings only for apps of work and school accounts."""
    if len(uri) > 256:
        return "a redirect URI has at most 256 characters"
    if "#" in uri:
        return "a redirect URI cannot contain a fragment"
    if "*" in uri:
        return "wildcard redirect URIs are not supported"
    if any(c <= " " or c in "\x7f\\" for c in uri) or "@" in re.split(r"[/?]", uri.partition("://")[2])[0]:
        # A browser would read these otherwise than a string comparison does (mockidp/oauth/redirects.py).
        return "a redirect URI cannot contain userinfo, a backslash, whitespace or control characters"
    try:
        parts = urlsplit(uri)
    except ValueError:  # an unclosed or invalid IPv6 bracket, a host that changes under NFKC
        return f"'{uri}' is not a valid URI"
    if personal and parts.query:
        return "query strings in redirect URIs are only allowed for work or school account apps"
    if not parts.scheme:
        return f"'{uri}' is not an absolute URI"
    if parts.scheme == "http" and (parts.hostname or "") not in _LOCALHOSTS:
        return "http is only allowed for localhost; use https"
    if parts.scheme not in ("http", "https") and not public:
        return f"scheme '{parts.scheme}' is only allowed for publicClient redirect URIs"
    if parts.scheme in ("http", "https") and not parts.hostname:
        return f"'{uri}' has no host"
    return None


class _TenantScope:
    """Resolution of the names used inside one tenant (principals, resources, roles)."""

    def __init__(self, r: _Resolver, f: _File, tp: Path_, t: s.Tenant, tid: str,
                 apps: dict[str, m.ApplicationRecord]) -> None:
        self.r, self.f, self.tp, self.t, self.tid, self.apps = r, f, tp, t, tid, apps
        self.sp_by_app: dict[str, m.ServicePrincipalRecord] = {}
        self.groups_by_name: dict[str, m.GroupRecord] = {}
        self.users_by_upn: dict[str, m.UserRecord] = {}

    def problem(self, path: Path_, message: str) -> None:
        self.r.problem(self.f, (*self.tp, *path), message)

    def service_principals(self) -> list[m.ServicePrincipalRecord]:
        for a in self.t.applications:
            app_id = a.app_id or derived_id(self.tid, "app", a.display_name)
            spc = a.service_principal
            self.sp_by_app[app_id] = m.ServicePrincipalRecord(
                spc.id or derived_id(self.tid, "sp", app_id), self.tid, app_id, spc.display_name or a.display_name,
                spc.app_role_assignment_required, spc.account_enabled)
        for i, fsp in enumerate(self.t.service_principals):
            app = self.apps.get(fsp.app_id)
            if app is None:
                self.problem(("servicePrincipals", i, "appId"), f"no application {fsp.app_id} is registered")
                continue
            if app.tenant_id == self.tid:
                self.problem(("servicePrincipals", i, "appId"),
                             "this app is registered in this tenant; set its servicePrincipal block instead")
                continue
            if not app.is_multi_tenant:
                self.problem(("servicePrincipals", i, "appId"),
                             f"{app.display_name} is single-tenant (signInAudience AzureADMyOrg)")
                continue
            if fsp.app_id in self.sp_by_app:
                self.problem(("servicePrincipals", i, "appId"), "listed twice")
            self.sp_by_app[fsp.app_id] = m.ServicePrincipalRecord(
                fsp.id or derived_id(self.tid, "sp", fsp.app_id), self.tid, fsp.app_id,
                fsp.display_name or app.display_name, fsp.app_role_assignment_required, fsp.account_enabled)
        for mi in self.t.managed_identities:
            sp = managed_identity_principal(self.tid, mi)
            self.sp_by_app[sp.app_id] = sp
        # identifierUris are unique among the resources of one tenant
        owner: dict[str, str] = {}
        for app_id in self.sp_by_app:
            for uri in self.apps[app_id].identifier_uris:
                if uri in owner and owner[uri] != app_id:
                    self.problem((), f"identifierUri '{uri}' is used by two applications in this tenant")
                owner[uri] = app_id
        return list(self.sp_by_app.values())

    def groups(self) -> list[m.GroupRecord]:
        for i, g in enumerate(self.t.groups):
            if g.display_name in self.groups_by_name:
                self.problem(("groups", i, "displayName"), "two groups share this name")
            self.groups_by_name[g.display_name] = m.GroupRecord(
                g.id or derived_id(self.tid, "group", g.display_name), self.tid, g.display_name, g.security_enabled)
        return list(self.groups_by_name.values())

    def users(self) -> list[m.UserRecord]:
        domains = {d.lower() for d in self.t.domains}
        for i, u in enumerate(self.t.users):
            up: Path_ = ("users", i)
            upn = u.user_principal_name
            if upn.lower() in self.users_by_upn:
                self.problem((*up, "userPrincipalName"), "two users share this userPrincipalName")
            if domains and upn.split("@")[1].lower() not in domains:
                self.problem((*up, "userPrincipalName"), f"the domain of '{upn}' is not a domain of this tenant")
            group_ids = []
            for gi, name in enumerate(u.member_of):
                g = self.groups_by_name.get(name)
                if g is None:
                    self.problem((*up, "memberOf", gi), f"no group named '{name}' in this tenant")
                else:
                    group_ids.append(g.id)
            roles = []
            for ri, role in enumerate(u.directory_roles):
                try:
                    roles.append(str(uuid.UUID(role)))
                except ValueError:
                    self.problem((*up, "directoryRoles", ri), "give the role template id (a GUID)")
            self.users_by_upn[upn.lower()] = m.UserRecord(
                u.id or derived_id(self.tid, "user", upn.lower()), self.tid, upn, u.display_name or upn.split("@")[0],
                u.given_name, u.surname, u.mail, hash_password(u.password) if u.password is not None else None,
                u.account_enabled, tuple(group_ids), tuple(roles))
        return list(self.users_by_upn.values())

    def app_sp(self, ref: str) -> m.ServicePrincipalRecord | None:
        """An app of this tenant by displayName, appId or identifierUri; Microsoft Graph (present in every
        tenant, directory/builtin.py) as the resource of its ReadWrite permissions."""
        for app_id, sp in self.sp_by_app.items():
            app = self.apps[app_id]
            if ref in (app.display_name, app_id, sp.display_name) or ref in app.identifier_uris:
                return sp
        if GRAPH_APP_ID not in self.apps and ref in (GRAPH_APP.display_name, GRAPH_APP_ID, GRAPH_URI):
            return graph_service_principal(self.tid, derived_id(self.tid, "sp", GRAPH_APP_ID))
        return None

    def app(self, app_id: str) -> m.ApplicationRecord:
        return self.apps.get(app_id) or GRAPH_APP

    def assignments(self) -> list[m.AssignmentRecord]:
        out = []
        for i, a in enumerate(self.t.app_role_assignments):
            ap: Path_ = ("appRoleAssignments", i)
            resource = self.app_sp(a.resource)
            if resource is None or resource.is_managed_identity:
                self.problem((*ap, "resource"), f"no application '{a.resource}' with a service principal here")
                continue
            principal_type, principal_id = self.principal(a.principal)
            if principal_id is None:
                self.problem((*ap, "principal"), f"'{a.principal}' is no app, user or group of this tenant")
                continue
            role_id = m.DEFAULT_ACCESS_ROLE_ID
            if a.app_role is not None:
                app = self.app(resource.app_id)
                role = next((x for x in app.app_roles if a.app_role in (x.value, x.id)), None)
                member = "Application" if principal_type == "ServicePrincipal" else "User"
                if role is None:
                    self.problem((*ap, "appRole"), f"{app.display_name} defines no app role '{a.app_role}'")
                    continue
                if member not in role.allowed_member_types:
                    self.problem((*ap, "appRole"), f"role '{role.value}' does not allow member type {member}")
                    continue
                role_id = role.id
            out.append(m.AssignmentRecord(
                derived_id(self.tid, "assignment", principal_id, resource.id, role_id), self.tid, principal_id,
                principal_type, resource.id, role_id))
        return out

    def principal(self, ref: str) -> tuple[str, str | None]:
        user = self.users_by_upn.get(ref.lower())
        if user is not None:
            return "User", user.id
        group = self.groups_by_name.get(ref)
        if group is not None:
            return "Group", group.id
        sp = self.app_sp(ref)
        if sp is not None:
            return "ServicePrincipal", sp.id
        return "", None

    def azure_resources(self) -> list[m.AzureResourceRecord]:
        """The resources calling the managed-identity endpoints: each SystemAssigned identity's resource and
        every resource a UserAssigned identity is assigned to."""
        system: dict[str, tuple[str, str]] = {}  # resource name -> (its ARM id, its identity's SP id)
        users: dict[str, list[str]] = {}
        for i, mi in enumerate(self.t.managed_identities):
            sp = managed_identity_principal(self.tid, mi)
            if mi.type == "SystemAssigned":
                name = mi.resource or ""
                if name in system:
                    self.problem(("managedIdentities", i, "resource"), "this resource has one system-assigned "
                                 "identity already")
                system[name] = (sp.mi_resource_id, sp.id)
                users.setdefault(name, [])
            for ri, name in enumerate(mi.assigned_to):
                if sp.id in users.setdefault(name, []):
                    self.problem(("managedIdentities", i, "assignedTo", ri), "listed twice")
                users[name].append(sp.id)
        out = []
        for name, attached in users.items():
            if not re.fullmatch(s._RESOURCE_NAME, name):
                self.problem(("managedIdentities",), f"'{name[:64]}' is not a resource name (letters, digits, "
                             "'.', '-', '_')")
                continue
            resource_id, identity = system.get(name, (default_resource_id(self.tid, "Microsoft.Web/sites", name),
                                                      None))
            out.append(m.AzureResourceRecord(name, self.tid, resource_id, identity, tuple(attached)))
        return out

    def grants(self) -> list[m.GrantRecord]:
        out = []
        for i, g in enumerate(self.t.oauth2_permission_grants):
            gp: Path_ = ("oauth2PermissionGrants", i)
            client = self.app_sp(g.client)
            resource = self.app_sp(g.resource)
            if client is None:
                self.problem((*gp, "client"), f"no application '{g.client}' with a service principal here")
            if resource is None:
                self.problem((*gp, "resource"), f"no application '{g.resource}' with a service principal here")
            if client is None or resource is None:
                continue
            for why in grant_scope_problems(self.app(resource.app_id), g.scopes):
                self.problem((*gp, "scope"), why)
            principal_id = None
            if g.principal is not None:
                user = self.users_by_upn.get(g.principal.lower())
                if user is None:
                    self.problem((*gp, "principal"), f"no user '{g.principal}' in this tenant")
                    continue
                principal_id = user.id
            out.append(m.GrantRecord(
                derived_id(self.tid, "grant", client.id, resource.id, principal_id or ""), self.tid, client.id,
                resource.id, g.consent_type, principal_id, tuple(g.scopes)))
        return out
