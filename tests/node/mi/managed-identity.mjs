// Real, unmodified @azure/identity ManagedIdentityCredential against a live mockidp (run by
// tests/identity/test_mi_node.py). The endpoint comes from the environment only, as on Azure:
// IDENTITY_ENDPOINT + IDENTITY_HEADER (App Service) or AZURE_POD_IDENTITY_AUTHORITY_HOST (IMDS).
// Prints one JSON line: {"token", "expiresOnTimestamp"} or {"error", "message"}.
import { ManagedIdentityCredential } from "@azure/identity";

const [scope, clientId] = process.argv.slice(2);
const credential = clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
try {
  const token = await credential.getToken(scope);
  console.log(JSON.stringify({ token: token.token, expiresOnTimestamp: token.expiresOnTimestamp }));
} catch (err) {
  console.log(JSON.stringify({ error: err.name, message: err.message }));
}
