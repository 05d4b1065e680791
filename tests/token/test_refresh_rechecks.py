"""A refresh is an issuance like any other: the pipeline decides the user's assignment (50105) and
consent (65001) again (catalogue USER_NOT_ASSIGNED and CONSENT_REQUIRED record the choice). A directory
that changed since the sign-in (here: the same data dir started again with another seed) refuses the
refresh token that the earlier directory issued."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mockidp.testing.entra import assert_entra_error
from tests.conftest import BACKEND1_URI, BACKEND2, CLIENT, CLIENT_SECRET, DEMO_SEED, Harness
from tests.ui.test_traces import _authorize

ALICE = ("alice@contoso.onmicrosoft.com", "alice-password-1")
HR_PORTAL = "5a7c3e9b-2d4f-4b6a-8c1e-0f9d8b7a6c5e"
HR_SECRET = "hrPortal-secret-value-1"
HR_ASSIGNMENT = "      - {principal: Provisioning Admins, resource: hrPortal}\n"
CLIENT_GRANT = ("      - {client: testClient, resource: testBackend2, scope: access_as_user, "
                "consentType: AllPrincipals}\n")


def _seed_without(tmp: Path, line: str) -> Path:
    text = DEMO_SEED.read_text()
    assert line in text, "the demo seed changed: update this test"
    folder = tmp / "changed"
    shutil.copytree(DEMO_SEED.parent / "certs", folder / "certs")
    seed = folder / "demo.yaml"
    seed.write_text(text.replace(line, ""))
    return seed


def _restarted(h: Harness, seed: Path) -> Harness:
    """The same data dir served again with another seed. Its sequential ids start past the first
    harness's, so that a refresh token it mints is never one the first one stored."""
    later = Harness(h.settings.data_dir, [seed])
    for _ in range(10_000):
        later.ids.guid()
    return later


def _refresh(h: Harness, client: str, refresh_token: str, **extra: str):  # type: ignore[no-untyped-def]
    return h.token({"grant_type": "refresh_token", "client_id": client, "refresh_token": refresh_token, **extra})


def test_a_refresh_after_the_users_assignment_went_is_50105(harness: Harness, tmp_path: Path) -> None:
    signed_in = harness.token({"grant_type": "password", "client_id": HR_PORTAL, "client_secret": HR_SECRET,
                               "username": ALICE[0], "password": ALICE[1], "scope": "openid offline_access"})
    assert signed_in.status_code == 200, signed_in.text
    refresh_token = signed_in.json()["refresh_token"]
    assert _refresh(harness, HR_PORTAL, refresh_token, client_secret=HR_SECRET).status_code == 200  # still assigned
    later = _restarted(harness, _seed_without(tmp_path, HR_ASSIGNMENT))
    r = _refresh(later, HR_PORTAL, refresh_token, client_secret=HR_SECRET)
    assert_entra_error(r, 50105, status=400, error="invalid_grant")
    t = later.client.get(f"/_mockidp/traces/{r.headers['x-ms-request-id']}").json()
    assert [s["rule"] for s in t["steps"]][-2:] == ["refresh token", "USER_NOT_ASSIGNED"]


def test_a_refresh_after_consent_was_revoked_is_65001(harness: Harness, tmp_path: Path) -> None:
    signed_in = harness.token({"grant_type": "password", "client_id": CLIENT, "username": ALICE[0],
                               "password": ALICE[1], "scope": f"api://{BACKEND2}/access_as_user offline_access"})
    assert signed_in.status_code == 200, signed_in.text
    later = _restarted(harness, _seed_without(tmp_path, CLIENT_GRANT))
    r = _refresh(later, CLIENT, signed_in.json()["refresh_token"])
    assert_entra_error(r, 65001, status=400, error="invalid_grant", suberror="consent_required")


def test_a_refused_redemption_leaves_the_code_usable(harness: Harness, tmp_path: Path) -> None:
    """The pipeline redeems a code only after every rule passed: a 65001 does not burn it."""
    page = _authorize(harness, scope=f"api://{BACKEND2}/access_as_user")
    ctx = re.search(r'name="ctx" value="([^"]+)"', page.text)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert ctx and csrf
    done = harness.client.post("/_mockidp/login", data={"ctx": ctx.group(1), "csrf": csrf.group(1),
                                                         "username": ALICE[0], "password": ALICE[1]},
                               follow_redirects=False)
    assert done.status_code == 302, done.text[:300]
    code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
    redeem = {"grant_type": "authorization_code", "client_id": CLIENT, "client_secret": CLIENT_SECRET,
              "code": code, "redirect_uri": "http://localhost:5000/callback"}
    refused = harness.token({**redeem, "scope": f"{BACKEND1_URI}/.default"})  # nothing consented there
    assert_entra_error(refused, 65001, status=400, error="invalid_grant", suberror="consent_required")
    ok = harness.token({**redeem, "scope": f"api://{BACKEND2}/access_as_user"})
    assert ok.status_code == 200, ok.text
    assert_entra_error(harness.token({**redeem, "scope": f"api://{BACKEND2}/access_as_user"}), 54005)
