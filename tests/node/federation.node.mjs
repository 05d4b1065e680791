// Real, unmodified @azure/identity (WorkloadIdentityCredential) against a live mockidp: tenant, client, token
// file and authority from the environment, as the AKS webhook or azure/login sets them; then a refusal as the
// client raises it. The one option is disableInstanceDiscovery: MSAL Node otherwise asks
// login.microsoftonline.com about an authority it does not know, and mockidp runs offline.
// Run by tests/federation/test_node_federation.py (not a *.test.mjs: the MSAL run does not pick it up).
import { test } from "node:test";
import assert from "node:assert/strict";
import { WorkloadIdentityCredential } from "@azure/identity";

const scope = process.env.FEDERATION_SCOPE;
const options = { disableInstanceDiscovery: true };

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
}

test("WorkloadIdentityCredential from the environment gets the app's token", async () => {
  const token = await new WorkloadIdentityCredential(options).getToken(scope);
  const c = claims(token.token);
  assert.equal(c.azp, process.env.AZURE_CLIENT_ID);
  assert.deepEqual(c.roles, ["Orders.ReadWrite"]);
  assert.ok(token.expiresOnTimestamp > Date.now() + 3000 * 1000);
});

test("a token for another subject is refused with AADSTS700213", async () => {
  process.env.AZURE_FEDERATED_TOKEN_FILE = process.env.FEDERATION_OTHER_TOKEN_FILE;  // the same setup, another token
  const credential = new WorkloadIdentityCredential(options);
  await assert.rejects(credential.getToken(scope), (err) => {
    // how @azure/identity 4 surfaces an invalid_client answer of the token endpoint for this credential
    assert.equal(err.name, "AuthenticationRequiredError");
    assert.match(err.message, /^invalid_client: Error\(s\): 700213 - /);
    assert.match(err.message, /AADSTS700213: No matching federated identity record found for presented assertion subject 'repo:fabrikam\/orders:ref:refs\/heads\/feature'\./);
    return true;
  });
});
