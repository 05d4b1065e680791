// Real, unmodified @azure/msal-node against a live mockidp over TLS.
//
// Run by tests/clients/test_node_clients.py, which starts the server and passes MOCKIDP_* below.
// The mock's CA is trusted only through NODE_EXTRA_CA_CERTS (read at process start).
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { ConfidentialClientApplication, PublicClientApplication } from "@azure/msal-node";

function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through tests/clients/test_node_clients.py`);
  }
  return value;
}

const ORIGIN = env("MOCKIDP_ORIGIN"); // https://localhost:PORT
const TENANT = env("MOCKIDP_TENANT");
const CLIENT = env("MOCKIDP_CLIENT");
const CLIENT_SECRET = env("MOCKIDP_CLIENT_SECRET");
const BACKEND2 = env("MOCKIDP_BACKEND2");
const REPORTING = env("MOCKIDP_REPORTING");
const REPORTING_SECRET = env("MOCKIDP_REPORTING_SECRET");
const USERNAME = env("MOCKIDP_USERNAME");
const PASSWORD = env("MOCKIDP_PASSWORD");

const AUTH = {
  authority: `${ORIGIN}/${TENANT}`,
  knownAuthorities: [new URL(ORIGIN).host], // host:port ("localhost" alone does not match)
};

function claims(jwt) {
  const parts = jwt.split(".");
  assert.equal(parts.length, 3, "a JWS in compact form");
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}

// What a page says, for failure messages: its alert, else its heading.
function gist(html) {
  const found = html.match(/role="alert">([^<]*)</) ?? html.match(/<h1>([^<]*)</);
  return found ? found[1] : html.slice(0, 500);
}

function hidden(html, name) {
  const match = html.match(new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`));
  assert.ok(match, `no hidden input ${name} on the page: ${gist(html)}`);
  return match[1].replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

async function post(url, fields, cookie) {
  const response = await fetch(url, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie },
    body: new URLSearchParams(fields),
  });
  const html = await response.text();
  assert.equal(response.status, 200, `POST ${url} -> ${response.status}: ${gist(html)}`);
  return html;
}

// What the person does on another device: open /device, enter the code, sign in.
async function approve(verificationUri, userCode) {
  const page = await fetch(verificationUri, { redirect: "manual" });
  const pageHtml = await page.text();
  assert.equal(page.status, 200, `GET ${verificationUri} -> ${page.status}: ${gist(pageHtml)}`);
  const csrfCookie = page.headers.getSetCookie().map((c) => c.split(";")[0])
    .find((c) => c.startsWith("mockidp_csrf="));
  assert.ok(csrfCookie, `mockidp_csrf cookie in ${page.headers.getSetCookie()}`);
  const csrf = hidden(pageHtml, "csrf");
  assert.equal(csrfCookie, `mockidp_csrf=${csrf}`, "the form token is the cookie's");

  const signIn = await post(verificationUri, { csrf, otc: userCode }, csrfCookie);
  const done = await post(new URL("/_mockidp/login", ORIGIN), {
    ctx: hidden(signIn, "ctx"),
    csrf: hidden(signIn, "csrf"),
    username: USERNAME,
    password: PASSWORD,
  }, csrfCookie);
  assert.match(gist(done), /^You have signed in to .* on your device\.$/);
}

test("client credentials: app token for testBackend2 with its app roles", async () => {
  const app = new ConfidentialClientApplication({ auth: { ...AUTH, clientId: CLIENT, clientSecret: CLIENT_SECRET } });
  const result = await app.acquireTokenByClientCredential({ scopes: [`api://${BACKEND2}/.default`] });
  assert.ok(result, "a result");
  assert.equal(result.tokenType, "Bearer");
  const c = claims(result.accessToken);
  assert.equal(c.aud, BACKEND2);
  assert.equal(c.azp, CLIENT);
  assert.equal(c.tid, TENANT);
  assert.equal(c.iss, `${ORIGIN}/${TENANT}/v2.0`);
  assert.equal(c.ver, "2.0");
  assert.deepEqual(c.roles, ["Provisioning.ReadWrite", "Data.Read"]);
  assert.equal(c.scp, undefined);
  assert.ok(result.expiresOn > new Date(), "not yet expired");

  const again = await app.acquireTokenByClientCredential({ scopes: [`api://${BACKEND2}/.default`] });
  assert.equal(again.accessToken, result.accessToken, "second call served from MSAL's cache");
});

test("client credentials: an unassigned client is refused with AADSTS501051", async () => {
  const app = new ConfidentialClientApplication({
    auth: { ...AUTH, clientId: REPORTING, clientSecret: REPORTING_SECRET },
  });
  await assert.rejects(
    app.acquireTokenByClientCredential({ scopes: [`api://${BACKEND2}/.default`] }),
    (err) => {
      assert.equal(err.errorCode, "invalid_grant", String(err));
      assert.match(err.errorMessage, /AADSTS501051/);
      assert.equal(err.errorNo, 501051); // error_codes[0], an int as in Entra
      return true;
    },
  );
});

test("device code: alice approves on /device, the CLI gets a delegated token", async () => {
  const app = new PublicClientApplication({ auth: { ...AUTH, clientId: CLIENT } });
  let seen;
  let approval;
  const request = {
    scopes: [`api://${BACKEND2}/access_as_user`],
    timeout: 60, // seconds; a failed approval also cancels the polling below
    deviceCodeCallback: (response) => {
      seen = response;
      // Approve only after MSAL's first poll, so it also goes through authorization_pending.
      approval = sleep(1500).then(() => approve(response.verificationUri, response.userCode)).catch((err) => {
        request.cancel = true;
        throw err;
      });
      approval.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    },
  };
  const result = await app.acquireTokenByDeviceCode(request).catch(async (err) => {
    await approval; // the approval's own error explains a cancelled poll best
    throw err;
  });
  await approval;

  assert.equal(seen.verificationUri, `${ORIGIN}/device`);
  assert.equal(seen.interval, 1, "the server's device_code_interval");
  assert.match(seen.message, new RegExp(seen.userCode));
  assert.ok(result, "a result");
  assert.equal(result.account.username, USERNAME);
  assert.equal(result.account.tenantId, TENANT);
  assert.ok(result.idToken, "an id_token (openid was asked for)");
  const c = claims(result.accessToken);
  assert.equal(c.aud, BACKEND2);
  assert.equal(c.azp, CLIENT);
  assert.equal(c.scp, "access_as_user");
  assert.equal(c.preferred_username, USERNAME);
  assert.equal(c.ver, "2.0");
  assert.deepEqual(c.roles, ["Reader"], "alice's app role assignment on testBackend2");

  const accounts = await app.getTokenCache().getAllAccounts();
  assert.deepEqual(accounts.map((a) => a.username), [USERNAME]);
});
