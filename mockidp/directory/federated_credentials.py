"""Entra's rules for federatedIdentityCredentials, one function for every way they arrive: the seed (an
application's `federatedIdentityCredentials:`), a Graph write, and an owner other than an application (a
user-assigned managed identity holds them too, under the same limits: reference C.1).

Each problem is (path inside the owner's list, message); the messages of a write that Entra refuses are
Entra's where they are known (the ARM wording for managed identities), written once here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, NamedTuple, Protocol
from urllib.parse import urlsplit

from mockidp.directory.ids import derived_id
from mockidp.directory.model import FederatedCredentialRecord

DEFAULT_AUDIENCE = "api://AzureADTokenExchange"
MAX_PER_OWNER = 20  # Entra's limit per application or user-assigned identity
MAX_VALUE = 600  # issuer, subject, each audience and the description
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$")  # 3-120 URL-friendly characters

Owner = Literal["application", "managedIdentity"]


class Problem(NamedTuple):
    """One refused point: where in the owner's list, Entra's words, and which kind of refusal it is for a
    surface that tells them apart (Graph: 'name_taken' a 409, 'pair_taken' InvalidFederatedIdentityCredentialValue,
    'invalid' a plain 400)."""

    path: tuple[str | int, ...]
    message: str
    kind: str = "invalid"


Problems = list[Problem]

# Where the owner's kind shows in Entra's words ("... already exists for this Managed Identity.").
_OWNER_WORD = {"application": "application", "managedIdentity": "Managed Identity"}


class CredentialInput(Protocol):
    """What a seed entry or a Graph body gives (directory/schema.py FederatedIdentityCredential)."""

    @property
    def name(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def audiences(self) -> Sequence[str]: ...
    @property
    def description(self) -> str | None: ...


def _issuer_problem(issuer: str) -> str | None:
    if not issuer or len(issuer) > MAX_VALUE:
        return f"the issuer is required, at most {MAX_VALUE} characters"
    if issuer != issuer.strip() or any(c.isspace() for c in issuer):
        return "the issuer has no whitespace (Entra compares it with the token's iss exactly)"
    try:
        parts = urlsplit(issuer)
    except ValueError:
        return f"'{issuer[:100]}' is not a URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"'{issuer[:100]}' is not an https URL (the issuer of the external tokens, as their iss reads)"
    return None


def credential_problems(c: CredentialInput) -> Problems:
    """One credential on its own: name, issuer, subject, exactly one audience, lengths."""
    out: Problems = []
    if not _NAME.match(c.name):
        out.append(Problem(("name",), f"Federated Identity Credential name '{c.name[:130]}' is invalid. A name "
                                      "has 3 to 120 characters: letters, digits, '-' and '_', the first a letter or "
                                      "digit."))
    why = _issuer_problem(c.issuer)
    if why is not None:
        out.append(Problem(("issuer",), why))
    if not c.subject or len(c.subject) > MAX_VALUE:
        out.append(Problem(("subject",), f"the subject is required, at most {MAX_VALUE} characters "
                                  "(compared with the token's sub exactly, case-sensitive, no wildcards)"))
    if len(c.audiences) != 1:
        out.append(Problem(("audiences",), "Federated identity credentials must have exactly one audience."))
    for i, audience in enumerate(c.audiences):
        if not audience or len(audience) > MAX_VALUE:
            out.append(Problem(("audiences", i), f"an audience has 1 to {MAX_VALUE} characters"))
    if c.description is not None and len(c.description) > MAX_VALUE:
        out.append(Problem(("description",), f"the description has at most {MAX_VALUE} characters"))
    return out


def _pair_taken(owner: Owner, c: CredentialInput) -> str:
    if owner == "managedIdentity":  # ARM's words
        return "Issuer and subject combination already exists for this Managed Identity."
    # Graph's words (a captured 400 InvalidFederatedIdentityCredentialValue)
    return (f"The combination of issuer and subject must be unique for the application. Issuer {c.issuer[:600]} "
            f"and Subject: {c.subject[:600]} already exist. paramName: FederatedIdentityCredential.Subject, "
            f"paramValue: {c.subject[:600]}, objectType: Microsoft.Online.DirectoryServices.Application")


def resolve_credentials(owner_id: str, items: Sequence[CredentialInput], *, owner: Owner = "application",
                        ) -> tuple[tuple[FederatedCredentialRecord, ...], Problems]:
    """The records of one owner's credentials and every problem of the list (paths: index, then field).
    Ids are derived from the owner and the name, which is the credential's alternate key."""
    problems: Problems = []
    if len(items) > MAX_PER_OWNER:
        problems.append(Problem((), f"at most {MAX_PER_OWNER} federated identity credentials per "
                                    f"{_OWNER_WORD[owner]} ({len(items)} given)", "too_many"))
    names: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    records: list[FederatedCredentialRecord] = []
    for i, c in enumerate(items):
        problems += [p._replace(path=(i, *p.path)) for p in credential_problems(c)]
        if c.name.lower() in names:  # Graph's words (a captured 409)
            problems.append(Problem((i, "name"), f"FederatedIdentityCredential with name {c.name[:130]} already "
                                                 "exists.", "name_taken"))
        names.add(c.name.lower())
        if (c.issuer, c.subject) in pairs:
            problems.append(Problem((i, "subject"), _pair_taken(owner, c), "pair_taken"))
        pairs.add((c.issuer, c.subject))
        records.append(FederatedCredentialRecord(
            derived_id(owner_id, "federatedIdentityCredential", c.name.lower()), c.name, c.issuer, c.subject,
            tuple(c.audiences), c.description))
    return tuple(records), problems
