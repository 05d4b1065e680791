// The bench's oauth2-mock-server with one RS256 key. Usage: node oauth2_mock_server.mjs PORT
import { OAuth2Server } from 'oauth2-mock-server';

const port = Number(process.argv[2]);
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(port, '127.0.0.1');
console.log(`oauth2-mock-server on ${server.issuer.url}`);
