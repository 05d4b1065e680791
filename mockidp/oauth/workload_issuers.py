"""The external issuers mockidp plays itself, so that federation can be tested with nothing else running: a
GitHub Actions-like and a Kubernetes-like OIDC issuer, each with its discovery document and JWKS under
/_mockidp/issuers/{name}/, signed with a key of their own (not Entra's signing key).

Their tokens carry the real issuers' ids (a choice, docs/federation.md): `iss` is
https://token.actions.githubusercontent.com or https://kubernetes.default.svc.cluster.local, so a federated
identity credential written for the real issuer matches unchanged. mockidp never fetches those URLs: it
answers their keys in-process (tokens/remote_metadata.IssuerKeys' builtin), since it runs offline.
The claims follow the real tokens' shapes (reference C.4).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mockidp.clock import Clock
from mockidp.tokens.signer import Signer

DEFAULT_AUDIENCE = "api://AzureADTokenExchange"
MIN_LIFETIME, MAX_LIFETIME = 60, 24 * 3600


@dataclass(frozen=True, slots=True)
class BuiltinIssuer:
    name: str
    issuer: str
    claims: Callable[[str], dict[str, Any]]  # subject -> the issuer's own claims beside iss/sub/aud/times
    default_lifetime: int


def _github_claims(subject: str) -> dict[str, Any]:
    """GitHub's claims as far as the subject says them: repo:<owner>/<repo>:<context>."""
    repo, _, context = subject.removeprefix("repo:").partition(":")
    owner = repo.partition("/")[0]
    out: dict[str, Any] = {"repository": repo, "repository_owner": owner, "actor": owner, "event_name": "push",
                           "workflow": "deploy", "runner_environment": "github-hosted"}
    if context.startswith("ref:"):
        ref = context.removeprefix("ref:")
        out |= {"ref": ref, "ref_type": "tag" if ref.startswith("refs/tags/") else "branch"}
    elif context.startswith("environment:"):
        out["environment"] = context.removeprefix("environment:")
    elif context == "pull_request":
        out["event_name"] = "pull_request"
    out["job_workflow_ref"] = f"{repo}/.github/workflows/deploy.yml@{out.get('ref', 'refs/heads/main')}"
    return out


def _kubernetes_claims(subject: str) -> dict[str, Any]:
    """A projected service-account token: system:serviceaccount:<namespace>:<name>."""
    parts = subject.split(":")
    namespace, account = (parts[2], parts[3]) if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"] \
        else ("default", "default")
    return {"kubernetes.io": {"namespace": namespace,
                              "serviceaccount": {"name": account, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, subject))}}}


ISSUERS = {
    "github": BuiltinIssuer("github", "https://token.actions.githubusercontent.com", _github_claims, 300),
    "kubernetes": BuiltinIssuer("kubernetes", "https://kubernetes.default.svc.cluster.local", _kubernetes_claims,
                                3600),
}


class UnknownIssuer(ValueError):
    """Not one of ISSUERS' names."""


class WorkloadIssuers:
    def __init__(self, signer: Signer, jwk: dict[str, Any], clock: Clock) -> None:
        self.signer, self.clock = signer, clock
        self._jwks = {"keys": [jwk]}

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def keys_by_issuer(self) -> dict[str, Callable[[], dict[str, Any]]]:
        """What IssuerKeys answers in-process: every built-in issuer's id -> its JWKS."""
        return {i.issuer: self.jwks for i in ISSUERS.values()}

    @staticmethod
    def issuer(name: str) -> BuiltinIssuer:
        found = ISSUERS.get(name)
        if found is None:
            raise UnknownIssuer(f"'{name[:40]}' is not a built-in issuer: {', '.join(ISSUERS)}")
        return found

    def discovery(self, name: str, origin: str) -> dict[str, Any]:
        """The discovery document, served at {origin}/_mockidp/issuers/{name}/.well-known/openid-configuration."""
        i = self.issuer(name)
        return {"issuer": i.issuer, "jwks_uri": f"{origin}/_mockidp/issuers/{name}/keys",
                "subject_types_supported": ["public"], "response_types_supported": ["id_token"],
                "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf"],
                "id_token_signing_alg_values_supported": ["RS256"], "scopes_supported": ["openid"]}

    def mint(self, name: str, subject: str, *, audience: str = DEFAULT_AUDIENCE, lifetime: int | None = None,
             ) -> tuple[str, dict[str, Any]]:
        """A signed token of the issuer `name` and its claims; ValueError for what no issuer would sign."""
        i = self.issuer(name)
        seconds = i.default_lifetime if lifetime is None else lifetime
        if not MIN_LIFETIME <= seconds <= MAX_LIFETIME:
            raise ValueError(f"the lifetime is {MIN_LIFETIME} to {MAX_LIFETIME} seconds")
        if not subject or len(subject) > 600 or not audience or len(audience) > 600:
            raise ValueError("the subject and the audience have 1 to 600 characters")
        now = int(self.clock.now())
        claims = {"jti": str(uuid.uuid4()), "sub": subject, "aud": audience, **i.claims(subject), "iss": i.issuer,
                  "nbf": now, "iat": now, "exp": now + seconds}
        header = {"typ": "JWT", "alg": "RS256", "kid": self.signer.kid} if name == "github" else \
            {"alg": "RS256", "kid": self.signer.kid}  # Kubernetes' headers carry no typ
        return self.signer.sign(header, claims), claims
