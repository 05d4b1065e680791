// The bench's oidc-provider: one client-credentials client and one resource indicator, so it issues
// RS256 JWT access tokens (without a resource it issues opaque tokens: not a fair comparison).
// Usage: node oidc_provider.mjs PORT
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', use: 'sig', alg: 'RS256' };
const resource = 'api://bench';

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench-client', client_secret: 'bench-secret',
    grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
  }],
  jwks: { keys: [jwk] },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api.read', audience: resource, accessTokenTTL: 3600,
        accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider on ${issuer}`));
