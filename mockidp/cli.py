"""The `mockidp` command: serve, ca, seed check, health; clock, reset, fault, keys, forge, federation token drive a
running one."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockidp.directory.model import DirectoryContent
    from mockidp.settings import Settings

log = logging.getLogger("mockidp")

_WORKER_APP = "mockidp.app:create_worker_app"  # what `serve` runs in each worker
# What both the preparing child and the app need (SQLAlchemy, SQLModel and the tables; cryptography), imported
# once before the fork instead of in both: the child's half was the longer one by about 0.2 s (issue 11).
_IMPORTED_BEFORE_THE_FORK = ("mockidp.directory.store", "mockidp.tokens.keys")


def _settings(args: argparse.Namespace) -> Settings:
    """Flags win over MOCKIDP_* variables; a flag not given leaves the variable (or default) in place."""
    from mockidp.settings import Settings

    overrides: dict[str, Any] = {}
    for name in ("seed", "host", "port", "gateway_port", "tls", "data_dir", "database_url", "public_url", "hostnames",
                 "workers", "access_log", "traces", "log_level", "max_body_bytes", "device_code_interval",
                 "max_header_bytes", "max_headers", "header_timeout", "body_timeout", "keep_alive_timeout",
                 "tls_handshake_timeout", "federation_fetch_timeout"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    # Imports here, not at the top: each spawned worker imports this module again (the console script's
    # __main__). The preparation (keys, schema, the seed's YAML and schema) runs in a child while the app's
    # modules, which every worker is forked with, are imported here (forked_preparation, issue 11).
    import importlib

    from mockidp import forked_preparation, logs

    settings = _settings(args)
    logs.configure(settings.log_level)
    keys = forked_preparation.keys_ahead(settings)
    for shared in _IMPORTED_BEFORE_THE_FORK:
        importlib.import_module(shared)
    preparing = forked_preparation.start(settings, after=keys)
    try:
        importlib.import_module(_WORKER_APP.partition(":")[0])
    finally:
        status = preparing.wait()
    if status != forked_preparation.PREPARED:
        return status
    from mockidp.directory.store import Store, make_engine
    from mockidp.local_ca import ensure_server_certificate, server_names
    from mockidp.web.serving import Limits, serve

    store = Store(make_engine(settings.resolved_database_url))
    content = store.load_directory()
    store.engine.dispose()  # the workers are forked from this process: none of them inherits its connections
    os.environ.update(settings.to_env())
    scheme = "https" if settings.tls else "http"
    shown_host = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0") else settings.host
    origin = _origin(settings)
    print(f"mockidp: {len(content.tenants)} tenants, {len(content.applications)} applications, "
          f"{len(content.users)} users; serving {origin} with {settings.workers} worker(s)", file=sys.stderr)
    for tenant in content.tenants:
        print(f"  tenant {tenant.display_name}: {origin}/{tenant.id}/v2.0/.well-known/openid-configuration",
              file=sys.stderr)
    for line in _identity_lines(content, settings, origin):
        print(f"  {line}", file=sys.stderr)
    gateway = bool(settings.gateway_port and content.api_management)
    if gateway:
        gateway_host = f"{shown_host}:{settings.gateway_port}"
        for service in content.api_management:
            print(f"  API Management {service.name} (https://{service.name}.azure-api.net with --hostname):",
                  file=sys.stderr)
            for api in service.apis:
                suffix = f"/{api.path}" if api.path else ""
                print(f"    API {api.name}: {scheme}://{gateway_host}{suffix}"
                      + ("" if api.subscription_required else " (no subscription key)"), file=sys.stderr)
    tls: dict[str, Any] = {}
    if settings.tls:
        paths = ensure_server_certificate(settings.data_dir, server_names(settings))
        tls = {"ssl_certfile": str(paths.cert_path), "ssl_keyfile": str(paths.key_path)}
        print(f"  CA certificate (trust it in your clients): {paths.ca_path.resolve()}", file=sys.stderr)
    limits = Limits(max_header_bytes=settings.max_header_bytes, max_headers=settings.max_headers,
                    header_timeout=settings.header_timeout, body_timeout=settings.body_timeout,
                    keep_alive_timeout=settings.keep_alive_timeout,
                    tls_handshake_timeout=settings.tls_handshake_timeout)
    return serve(
        _WORKER_APP, limits=limits, host=settings.host, port=settings.port,
        extra_ports=(settings.gateway_port,) if gateway else (), workers=settings.workers,
        access_log=settings.access_log, log_level=settings.log_level.lower(),
        server_header=False, **tls,
    )


def _origin(settings: Settings) -> str:
    shown_host = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0") else settings.host
    return settings.public_url or f"{'https' if settings.tls else 'http'}://{shown_host}:{settings.port}"


def _identity_variables(content: DirectoryContent, settings: Settings, origin: str) -> dict[str, dict[str, str]]:
    """Per simulated Azure resource, the environment a workload on it sets to reach its managed identities:
    the App Service shape and the IMDS shape (docs/managed-identities.md)."""
    from mockidp.oauth.managed_identity import header_secret
    from mockidp.web.sealing import load_or_create_secret

    if not content.azure_resources:
        return {}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = load_or_create_secret(settings.data_dir)  # the server's own: the secrets are the ones it accepts
    return {r.name: {"IDENTITY_ENDPOINT": f"{origin}/msi/token", "IDENTITY_HEADER": header_secret(key, r.name),
                     "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"{origin}/_mockidp/imds/{r.name}"}
            for r in content.azure_resources}


def _identity_lines(content: DirectoryContent, settings: Settings, origin: str) -> list[str]:
    names = {sp.id: sp.display_name for sp in content.service_principals}
    every = _identity_variables(content, settings, origin)
    lines = []
    for resource in content.azure_resources:
        variables = every[resource.name]
        kinds = ([f"system-assigned {names.get(resource.system_identity, '?')}"] if resource.system_identity else []) \
            + [f"user-assigned {names.get(i, '?')}" for i in resource.user_identities]
        lines.append(f"managed identities of {resource.name} ({', '.join(kinds) or 'none'}):")
        lines.append(f"  App Service: IDENTITY_ENDPOINT={variables['IDENTITY_ENDPOINT']} "
                     f"IDENTITY_HEADER={variables['IDENTITY_HEADER']}")
        lines.append(f"  IMDS: AZURE_POD_IDENTITY_AUTHORITY_HOST={variables['AZURE_POD_IDENTITY_AUTHORITY_HOST']}")
    return lines


def _identities(args: argparse.Namespace) -> int:
    """The variables of each simulated resource (or, with --resource, of one, as NAME=value lines for
    `export $(...)`), from the seed given or else the directory the data dir's database holds."""
    from mockidp.directory.seed import SeedError, load_seed

    settings = _settings(args)
    if args.seed:
        try:
            content = load_seed(args.seed)
        except SeedError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            return 1
    else:
        from mockidp.directory.store import Store, make_engine

        store = Store(make_engine(settings.resolved_database_url))
        store.create_schema()
        content = store.load_directory()
    origin = args.url.rstrip("/") if args.url else _origin(settings)
    if args.resource is None:
        lines = _identity_lines(content, settings, origin)
        print("\n".join(lines) if lines else "no managed identities in this directory")
        return 0
    variables = _identity_variables(content, settings, origin).get(args.resource)
    if variables is None:
        print(f"mockidp: no resource '{args.resource[:64]}' has a managed identity", file=sys.stderr)
        return 1
    wanted = ("AZURE_POD_IDENTITY_AUTHORITY_HOST",) if args.shape == "imds" else ("IDENTITY_ENDPOINT",
                                                                                 "IDENTITY_HEADER")
    print("\n".join(f"{name}={variables[name]}" for name in wanted))
    return 0


def _ca(args: argparse.Namespace) -> int:
    from mockidp.local_ca import ensure_ca

    settings = _settings(args)
    print(ensure_ca(settings.data_dir).resolve())
    return 0


def _seed_check(args: argparse.Namespace) -> int:
    from mockidp.directory.seed import SeedError, load_seed

    try:
        content = load_seed(args.files)
    except SeedError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); the seed would not load", file=sys.stderr)
        return 1
    identities = sum(1 for sp in content.service_principals if sp.is_managed_identity)
    print(f"seed ok: {len(content.tenants)} tenants, {len(content.applications) - identities} applications, "
          f"{len(content.service_principals)} service principals, {len(content.users)} users, "
          f"{len(content.groups)} groups, {len(content.assignments)} app role assignments, "
          f"{len(content.grants)} permission grants"
          + (f", {identities} managed identities of {len(content.azure_resources)} resources" if identities else ""))
    return 0


def _health(args: argparse.Namespace) -> int:
    """For HEALTHCHECK without curl: GET /_mockidp/health on this container's own port."""
    settings = _settings(args)
    scheme = "https" if settings.tls else "http"
    context = None
    if settings.tls:
        context = ssl.create_default_context(cafile=str(settings.data_dir / "ca.pem"))
    try:
        with urllib.request.urlopen(f"{scheme}://localhost:{settings.port}/_mockidp/health", timeout=5,
                                    context=context) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


def _revoke(args: argparse.Namespace) -> int:
    """Graph's revokeSignInSessions: the user's refresh tokens and sessions stop working (AADSTS50173)."""
    import time

    from mockidp.directory.artefacts import Artefacts
    from mockidp.directory.store import Store, make_engine

    settings = _settings(args)
    engine = make_engine(settings.resolved_database_url)
    store = Store(engine)
    store.create_schema()
    directory = store.load_directory()
    users = [u for u in directory.users if u.user_principal_name.lower() == args.user.lower()]
    if not users:
        print(f"no user {args.user} in the stored directory", file=sys.stderr)
        return 1
    for user in users:
        Artefacts(engine).revoke_sign_in_sessions(user.id, now=time.time())
        print(f"revoked the sign-in sessions of {user.user_principal_name} ({user.id})")
    return 0


def _explain(args: argparse.Namespace) -> int:
    if (args.trace_id is None) == (args.token is None):
        print("mockidp explain: give a trace ID, or --token JWT (not both)", file=sys.stderr)
        return 2
    return _explain_trace(args) if args.trace_id is not None else _explain_token(args)


def _explain_trace(args: argparse.Namespace) -> int:
    """`mockidp explain ID`: the stored trace, read from the database the server writes (a running server
    writes its traces within a fraction of a second, directory/traces.py)."""
    from mockidp.directory.store import make_engine
    from mockidp.directory.traces import TraceStore
    from mockidp.oauth.trace import as_text

    settings = _settings(args)
    if not settings.database_url and not (settings.data_dir / "mockidp.db").exists():
        print(f"mockidp explain: no database in {settings.data_dir} (use --data-dir or --database-url)",
              file=sys.stderr)
        return 1
    found = TraceStore(make_engine(settings.resolved_database_url)).get(args.trace_id.strip().lower()[:64])
    if found is None:
        print(f"mockidp explain: no trace {args.trace_id[:64]!r} (kept a day, the newest 10,000; "
              "not recorded with --no-traces)", file=sys.stderr)
        return 1
    sys.stdout.write(as_text(found))
    return 0


def _explain_token(args: argparse.Namespace) -> int:
    """`mockidp explain --token JWT` (or `-` for stdin, which keeps the token out of shell history and
    `ps`): the console decoder's explanation (tokens/explain.py) in a terminal. Offline: the signature
    is checked against the signing certificate in the data dir, names come from the stored directory."""
    import time

    from mockidp.tokens.explain import as_text, explain_token

    settings = _settings(args)
    token = sys.stdin.read() if args.token == "-" else args.token
    jwks = _published_keys(settings)
    scheme = "https" if settings.tls else "http"
    origin = args.origin or settings.public_url or f"{scheme}://localhost:{settings.port}"
    name_of = None
    db = settings.resolved_database_url
    if settings.database_url or (settings.data_dir / "mockidp.db").exists():
        from mockidp.directory.snapshot import Directory
        from mockidp.directory.store import Store, make_engine
        from mockidp.ui.console import Console

        try:
            content = Store(make_engine(db)).load_directory()
        except Exception as exc:  # names are a courtesy: the explanation stands without them
            print(f"(no names: the stored directory could not be read: {exc.__class__.__name__})", file=sys.stderr)
        else:
            name_of = Console(Directory.build(content), origin, time.time()).name_of
    explanation = explain_token(token, keys=jwks, now=time.time(), origin=origin, name_of=name_of)
    sys.stdout.write(as_text(explanation))
    if not jwks and not explanation.problem:
        print(f"(signature not checked: no mockidp signing certificate in {settings.data_dir})", file=sys.stderr)
    return 1 if explanation.problem else 0


def _published_keys(settings: Settings) -> list[dict[str, Any]]:
    """The keys mockidp publishes, from its database (a rotation's keys too); the data dir's certificate
    when there is no database yet."""
    import time

    from mockidp.tokens.keys import SigningKey, load_public_jwk

    if settings.database_url or (settings.data_dir / "mockidp.db").exists():
        from mockidp.directory.signing_keys import SigningKeys
        from mockidp.directory.store import make_engine

        try:
            stored = SigningKeys(make_engine(settings.resolved_database_url)).load()
        except Exception:  # no keys table yet (a database from before keys moved there): the file below
            stored = []
        now = time.time()
        jwks = [SigningKey(b"", k.cert_der).public_jwk() for k in stored
                if k.published_until is None or now < k.published_until]
        if jwks:
            return jwks
    jwk = load_public_jwk(settings.data_dir)
    return [jwk] if jwk else []


def _control(args: argparse.Namespace, path: str, body: dict[str, object] | None, *, method: str | None = None,
             show: Callable[[dict[str, Any]], str] | None = None) -> int:
    """The control API of the server running on this machine's port (README, "Driving mockidp from tests").
    Prints the JSON answer (or what `show` makes of it) on stdout; a refusal's JSON on stderr, exit 1."""
    import json

    settings = _settings(args)
    scheme = "https" if settings.tls else "http"
    context = ssl.create_default_context(cafile=str(settings.data_dir / "ca.pem")) if settings.tls else None
    url = (args.url or f"{scheme}://localhost:{settings.port}").rstrip("/") + f"/_mockidp/control/{path}"
    headers = {"Content-Type": "application/json"}
    if settings.control_key is not None:
        headers["X-Mockidp-Control-Key"] = settings.control_key.get_secret_value()
    data = None if body is None else json.dumps(body).encode()
    verb = method or ("GET" if body is None else "POST")
    request = urllib.request.Request(url, data=data, headers=headers, method=verb)
    try:
        with urllib.request.urlopen(request, timeout=40, context=context) as response:  # a delay fault: 30 s
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        print(exc.read().decode(errors="replace"), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"no mockidp answered at {url}: {exc}", file=sys.stderr)
        return 1
    print(show(json.loads(text)) if show else text)
    return 0


def _clock(args: argparse.Namespace) -> int:
    action = args.action
    if action == "show":
        return _control(args, "clock", None)
    if action == "advance":
        if args.seconds is None:
            print("mockidp clock advance SECONDS", file=sys.stderr)
            return 2
        return _control(args, "clock", {"advance": args.seconds})
    if action == "freeze":
        return _control(args, "clock", {"freeze": True, **({"at": args.at} if args.at is not None else {})})
    return _control(args, "clock", {"real": True})


def _reset(args: argparse.Namespace) -> int:
    return _control(args, "reset", {})


def _name_values(items: Sequence[str] | None, flag: str) -> dict[str, str] | None:
    """Repeated NAME=VALUE flags as a dict (names stripped); None, said on stderr, when one has no '='."""
    pairs: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"{flag} is name=value, not {item!r}", file=sys.stderr)
            return None
        pairs[name.strip()] = value
    return pairs


def _fault(args: argparse.Namespace) -> int:
    """`mockidp fault [arm] --error 50196 --count 2`, `mockidp fault list`, `mockidp fault clear`: the body of
    POST /_mockidp/control/faults from flags of the same names; the server checks it (one rule, control.py)."""
    if args.action == "list":
        return _control(args, "faults", None)
    if args.action == "clear":
        return _control(args, "faults", None, method="DELETE")
    body: dict[str, object] = {}
    for name, value in (("endpoint", args.endpoint), ("clientId", args.client_id), ("grantType", args.grant_type),
                        ("count", args.count), ("error", args.error), ("status", args.status),
                        ("retryAfter", args.retry_after), ("delaySeconds", args.delay)):
        if value is not None:
            body[name] = value
    if args.drop:
        body["drop"] = True
    params = _name_values(args.params, "mockidp fault: --param")
    if params is None:
        return 2
    if params:
        body["params"] = params
    if not {"error", "status", "delaySeconds", "drop"} & set(body):
        print("mockidp fault arm: give one of --error CODE, --status 429|500|502|503|504, --delay SECONDS, --drop",
              file=sys.stderr)
        return 2
    return _control(args, "faults", body)


def _keys(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _control(args, "keys", None)
    body: dict[str, object] = {"announce": args.announce}
    if args.overlap is not None:
        body["overlapSeconds"] = args.overlap
    return _control(args, "keys/rotate", body)


def _forge(args: argparse.Namespace) -> int:
    """`mockidp forge --client-id ID --resource api://... [--role R] [--expired] ...`: prints the token alone,
    so that `TOKEN=$(mockidp forge ...)` works; the server checks the request (control.py)."""
    body: dict[str, object] = {"clientId": args.client_id, "resource": args.resource,
                               "roles": args.roles or [], "scopes": args.scopes or []}
    for name, value in (("tenant", args.tenant), ("user", args.user), ("version", args.version),
                        ("lifetimeSeconds", args.lifetime), ("audience", args.audience), ("issuer", args.issuer)):
        if value is not None:
            body[name] = value
    for name, flag in (("expired", args.expired), ("notYetValid", args.not_yet_valid),
                       ("foreignKey", args.foreign_key)):
        if flag:
            body[name] = True
    return _control(args, "tokens", body, show=lambda answer: str(answer["access_token"]))


def _federation_token(args: argparse.Namespace) -> int:
    """`mockidp federation token --issuer github --subject repo:org/app:ref:refs/heads/main --out FILE`."""
    body: dict[str, object] = {"issuer": args.issuer, "subject": args.subject}
    for name, value in (("audience", args.audience), ("lifetimeSeconds", args.lifetime)):
        if value is not None:
            body[name] = value

    def show(answer: dict[str, Any]) -> str:
        if args.out is None:
            return str(answer["token"])
        args.out.write_text(str(answer["token"]))
        return f"wrote a token of {answer['issuer']} for {answer['subject']} to {args.out}"

    return _control(args, "federation/tokens", body, show=show)


def _policy_check(args: argparse.Namespace) -> int:
    """`mockidp policy check POLICY.xml --token JWT` (or `-`): the inbound section offline against the token,
    each check printed with its fix; mockidp's own openid-config is read from the data dir and the stored
    directory. `--trace ID`: the checks of a request the gateway recorded. Exit 0 only when it passes."""
    if (args.trace_id is None) == (args.token is None):
        print("mockidp policy check: give --token JWT (or -), or --trace ID (not both)", file=sys.stderr)
        return 2
    if args.trace_id is not None:
        return _policy_trace(args)
    if args.policy is None:
        print("mockidp policy check: give the policy file (POLICY.xml --token JWT)", file=sys.stderr)
        return 2
    import time

    from mockidp.apim.policy import PolicyError
    from mockidp.directory.seed import read_regular_file
    from mockidp.directory.snapshot import Directory
    from mockidp.directory.store import Store, make_engine
    from mockidp.web.gateway.check import check_policy
    from mockidp.web.gateway.discovery import GatewayDiscovery

    settings = _settings(args)
    try:
        text = read_regular_file(args.policy, 256 * 1024).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"mockidp policy check: cannot read {args.policy}: {exc}", file=sys.stderr)
        return 2
    named = _name_values(args.named_values, "mockidp policy check: --named-value")
    if named is None:
        return 2
    token = (sys.stdin.read() if args.token == "-" else args.token).strip()
    discovery = None
    jwks = _published_keys(settings)  # the stored keys, a rotation's too
    db = settings.database_url or (settings.data_dir / "mockidp.db").exists()
    if jwks and db:
        scheme = "https" if settings.tls else "http"
        origin = args.origin or settings.public_url or f"{scheme}://localhost:{settings.port}"
        directory = Directory.build(Store(make_engine(settings.resolved_database_url)).load_directory())
        ca = settings.data_dir / "ca.pem"
        verify = ssl.create_default_context(cafile=str(ca)) if ca.exists() else True
        discovery = GatewayDiscovery(directory, lambda: jwks, own_origins={origin}, entra_origin=origin,
                                     verify=verify)
    try:
        result = check_policy(text, token, now=time.time(), discovery=discovery, named_values=named,
                              source=str(args.policy), header=args.header)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s): the policy would not load", file=sys.stderr)
        return 2
    for step in result.steps:
        mark = {"passed": "ok  ", "failed": "FAIL", "applied": "ok  "}.get(step.outcome, "n/a ")
        print(f"{mark} {step.policy} (line {step.line}, {step.section}): {step.detail}")
        if step.outcome == "failed" and step.fix:
            print(f"     Fix: {step.fix}")
    if discovery is None:
        print(f"(no mockidp data in {settings.data_dir}: openid-config of mockidp could not be read)", file=sys.stderr)
    verdict = "passes" if result.passed else f"fails: HTTP {result.status} {result.body.decode('utf-8', 'replace')}"
    print(f"The inbound section {verdict}")
    return 0 if result.passed else 1


def _policy_trace(args: argparse.Namespace) -> int:
    from mockidp.directory.store import make_engine
    from mockidp.directory.traces import TraceStore
    from mockidp.oauth.trace import as_text

    settings = _settings(args)
    if not settings.database_url and not (settings.data_dir / "mockidp.db").exists():
        print(f"mockidp policy check: no database in {settings.data_dir}", file=sys.stderr)
        return 2
    found = TraceStore(make_engine(settings.resolved_database_url)).get(args.trace_id.strip().lower()[:64])
    if found is None or "apim" not in found:
        print(f"mockidp policy check: no gateway trace {args.trace_id[:64]!r}", file=sys.stderr)
        return 1
    sys.stdout.write(as_text(found))
    return 0 if found.get("outcome") == "success" else 1


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", dest="data_dir", type=Path, help="CA, signing key and database (default ./.mockidp)")
    p.add_argument("--port", type=int, help="port (default 8443)")
    p.add_argument("--tls", action=argparse.BooleanOptionalAction, default=None, help="HTTPS (default on)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mockidp", description="An offline stand-in for Entra ID.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the seeded directory")
    serve.add_argument("--seed", action="append", type=Path, help="seed file or folder (repeatable)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    _common(serve)
    serve.add_argument("--database-url", dest="database_url", help="SQLAlchemy URL (default SQLite in the data dir)")
    serve.add_argument("--public-url", dest="public_url", help="origin clients use, e.g. https://idp.test:8443")
    serve.add_argument("--hostname", dest="hostnames", action="append", help="extra name for the certificate")
    serve.add_argument("--gateway-port", dest="gateway_port", type=int,
                       help="port of the API Management gateway, when the seed has apiManagement (default 8444)")
    serve.add_argument("--no-gateway", dest="gateway_port", action="store_const", const=0,
                       help="serve no gateway (as --gateway-port 0)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--access-log", dest="access_log", action=argparse.BooleanOptionalAction, default=None)
    serve.add_argument("--traces", dest="traces", action=argparse.BooleanOptionalAction, default=None,
                       help="record decision traces (default on; /_mockidp/traces, mockidp explain ID)")
    serve.add_argument("--log-level", dest="log_level")
    serve.add_argument("--max-body-bytes", dest="max_body_bytes", type=int)
    serve.add_argument("--device-code-interval", dest="device_code_interval", type=int,
                       help="polling interval the devicecode endpoint asks for (default 5 s)")
    serve.add_argument("--max-header-bytes", dest="max_header_bytes", type=int,
                       help="largest request line and headers (default 32768)")
    serve.add_argument("--max-headers", dest="max_headers", type=int, help="most header fields (default 100)")
    for flag, default in (("header-timeout", 10), ("body-timeout", 10), ("keep-alive-timeout", 5),
                          ("tls-handshake-timeout", 5), ("federation-fetch-timeout", 5)):
        serve.add_argument(f"--{flag}", dest=flag.replace("-", "_"), type=float, help=f"seconds (default {default})")
    serve.set_defaults(run=_serve)
    ca = sub.add_parser("ca", help="print the path of the local CA certificate (creating it if needed)")
    ca.add_argument("--data-dir", dest="data_dir", type=Path)
    ca.set_defaults(run=_ca)
    seed = sub.add_parser("seed", help="seed tools")
    seed_sub = seed.add_subparsers(dest="seed_command", required=True)
    check = seed_sub.add_parser("check", help="validate seed files without serving")
    check.add_argument("files", nargs="+", type=Path)
    check.set_defaults(run=_seed_check)
    revoke = sub.add_parser("revoke", help="revoke a user's sign-in sessions and refresh tokens")
    revoke.add_argument("user", help="userPrincipalName")
    revoke.add_argument("--data-dir", dest="data_dir", type=Path)
    revoke.add_argument("--database-url", dest="database_url")
    revoke.set_defaults(run=_revoke)
    explain = sub.add_parser("explain", help="print a request's decision trace (ID), or explain a token (--token)")
    explain.add_argument("trace_id", nargs="?", metavar="ID",
                         help="a trace id: the x-ms-request-id of a response, or the Trace ID of an error")
    explain.add_argument("--token", help="the JWT, or - to read it from stdin")
    explain.add_argument("--data-dir", dest="data_dir", type=Path, help="where the signing certificate is")
    explain.add_argument("--database-url", dest="database_url")
    explain.add_argument("--origin", help="mockidp's origin, for discovery URLs (default https://localhost:PORT)")
    explain.add_argument("--port", type=int)
    explain.set_defaults(run=_explain)
    clock = sub.add_parser("clock", help="show, freeze, advance or return to real time the clock of a running mockidp")
    clock.add_argument("action", choices=("show", "freeze", "advance", "real"))
    clock.add_argument("seconds", nargs="?", type=float, help="for advance: seconds (negative moves back)")
    clock.add_argument("--at", type=float, help="for freeze: the time to stand at, in seconds since 1970")
    clock.add_argument("--url", help="mockidp's origin (default https://localhost:PORT)")
    _common(clock)
    clock.set_defaults(run=_clock)
    reset = sub.add_parser("reset", help="a running mockidp back to its seed: clock, codes, sessions, traces")
    reset.add_argument("--url", help="mockidp's origin (default https://localhost:PORT)")
    _common(reset)
    reset.set_defaults(run=_reset)
    fault = sub.add_parser("fault", help="arm, list or clear the faults of a running mockidp (the next N matching "
                                         "requests fail as chosen)")
    fault.add_argument("action", nargs="?", choices=("arm", "list", "clear"), default="arm")
    fault.add_argument("--endpoint", help="token (default), devicecode or authorize")
    fault.add_argument("--client-id", dest="client_id", help="only requests of this application (client) ID")
    fault.add_argument("--grant-type", dest="grant_type", help="only requests of this grant_type")
    fault.add_argument("--count", type=int, help="how many requests (default 1)")
    fault.add_argument("--error", type=int, metavar="AADSTS", help="answer this catalogue error, e.g. 50196")
    fault.add_argument("--param", dest="params", action="append", metavar="NAME=VALUE",
                       help="a placeholder of the error's message (repeatable)")
    fault.add_argument("--status", type=int, help="answer 429, 500, 502, 503 or 504 (AADSTS90033)")
    fault.add_argument("--retry-after", dest="retry_after", type=int, help="with --status: Retry-After seconds")
    fault.add_argument("--delay", type=float, metavar="SECONDS", help="wait, then answer as usual (at most 30)")
    fault.add_argument("--drop", action="store_true", help="close the connection with no answer")
    fault.add_argument("--url", help="mockidp's origin (default https://localhost:PORT)")
    _common(fault)
    fault.set_defaults(run=_fault)
    keys = sub.add_parser("keys", help="list or rotate the signing keys of a running mockidp")
    keys.add_argument("action", choices=("list", "rotate"))
    keys.add_argument("--overlap", type=int, metavar="SECONDS",
                      help="for rotate: how long the old key stays published (default a day)")
    keys.add_argument("--announce", action="store_true",
                      help="for rotate: publish the next key first, without signing with it (as Entra does)")
    keys.add_argument("--url", help="mockidp's origin (default https://localhost:PORT)")
    _common(keys)
    keys.set_defaults(run=_keys)
    forge_cmd = sub.add_parser("forge", help="print a token forged by a running mockidp, as a test needs it")
    forge_cmd.add_argument("--client-id", dest="client_id", required=True, help="the token's client (azp/appid)")
    forge_cmd.add_argument("--resource", required=True, help="the resource: App ID URI or appId")
    forge_cmd.add_argument("--tenant", help="tenant ID (default: the client's)")
    forge_cmd.add_argument("--role", dest="roles", action="append", help="a roles value (repeatable)")
    forge_cmd.add_argument("--scope", dest="scopes", action="append", help="an scp value (repeatable; with --user)")
    forge_cmd.add_argument("--user", help="a user's UPN: a delegated token")
    forge_cmd.add_argument("--version", type=int, choices=(1, 2), help="token version (default: the resource's)")
    forge_cmd.add_argument("--lifetime", type=int, metavar="SECONDS", help="60 to 604800 (default 3600)")
    forge_cmd.add_argument("--expired", action="store_true", help="already expired")
    forge_cmd.add_argument("--not-yet-valid", dest="not_yet_valid", action="store_true", help="nbf in the future")
    forge_cmd.add_argument("--audience", help="a wrong aud")
    forge_cmd.add_argument("--issuer", help="a wrong iss")
    forge_cmd.add_argument("--foreign-key", dest="foreign_key", action="store_true",
                           help="signed by a key no JWKS of mockidp holds")
    forge_cmd.add_argument("--url", help="mockidp's origin (default https://localhost:PORT)")
    _common(forge_cmd)
    forge_cmd.set_defaults(run=_forge)
    federation = sub.add_parser("federation", help="workload identity federation: the built-in issuers' tokens")
    federation_sub = federation.add_subparsers(dest="federation_command", required=True)
    ftoken = federation_sub.add_parser("token", help="a token of a built-in issuer, as a CI runner or kubelet "
                                       "hands it to the workload (for AZURE_FEDERATED_TOKEN_FILE)")
    ftoken.add_argument("--issuer", required=True, choices=("github", "kubernetes"))
    ftoken.add_argument("--subject", required=True, help="e.g. repo:org/app:ref:refs/heads/main")
    ftoken.add_argument("--audience", help="default api://AzureADTokenExchange")
    ftoken.add_argument("--lifetime", type=int, metavar="SECONDS", help="60 to 86400 (default: the issuer's)")
    ftoken.add_argument("--out", type=Path, metavar="FILE", help="write the token to FILE (else print it)")
    ftoken.add_argument("--url", help="mockidp's origin (default https://localhost:PORT)")
    _common(ftoken)
    ftoken.set_defaults(run=_federation_token)
    policy = sub.add_parser("policy", help="API Management policy tools")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    pcheck = policy_sub.add_parser("check", help="run a policy's inbound section against a token, offline")
    pcheck.add_argument("policy", type=Path, nargs="?", help="the policy XML, as APIM exports it")
    pcheck.add_argument("--token", help="the JWT, or - to read it from stdin")
    pcheck.add_argument("--trace", dest="trace_id", metavar="ID", help="a gateway request's trace id instead")
    pcheck.add_argument("--header", default="Authorization", help="where the token is sent (default Authorization)")
    pcheck.add_argument("--named-value", dest="named_values", action="append", metavar="NAME=VALUE",
                        help="a {{named value}} of the policy (repeatable)")
    pcheck.add_argument("--data-dir", dest="data_dir", type=Path, help="mockidp's data dir (keys, directory)")
    pcheck.add_argument("--database-url", dest="database_url")
    pcheck.add_argument("--origin", help="mockidp's origin as the token's issuer names it (default "
                                         "https://localhost:PORT)")
    pcheck.add_argument("--port", type=int)
    pcheck.set_defaults(run=_policy_check)
    identities = sub.add_parser("identities", help="print the environment each simulated Azure resource needs "
                                "to reach its managed identities (IDENTITY_ENDPOINT/IDENTITY_HEADER or "
                                "AZURE_POD_IDENTITY_AUTHORITY_HOST)")
    identities.add_argument("--seed", action="append", type=Path, help="seed file or folder (default: the "
                            "directory stored in the data dir)")
    _common(identities)
    identities.add_argument("--database-url", dest="database_url")
    identities.add_argument("--public-url", dest="public_url")
    identities.add_argument("--url", help="origin the workload reaches mockidp at (default https://localhost:PORT)")
    identities.add_argument("--resource", help="one resource: its variables alone, NAME=value per line")
    identities.add_argument("--shape", choices=("app-service", "imds"), default="app-service",
                            help="with --resource: App Service (default) or IMDS variables")
    identities.set_defaults(run=_identities)
    health = sub.add_parser("health", help="exit 0 when the local server answers /_mockidp/health")
    _common(health)
    health.set_defaults(run=_health)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.run is _serve:
        # Start-up makes some 120,000 objects that live as long as the server; collecting while they are made
        # is a sixth of the start to healthy (issue 11). serving.serve freezes them and turns the collector
        # back on before the workers fork, as the gc module's documentation advises for a forking server.
        gc.disable()
    from pydantic import ValidationError  # here, with the rest of pydantic, not before the collector is off

    try:
        return int(args.run(args))
    except ValidationError as exc:
        print(f"mockidp: invalid settings: {exc}", file=sys.stderr)
        return 2
    finally:
        gc.enable()
