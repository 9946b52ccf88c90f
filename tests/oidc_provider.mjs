// A real OpenID provider (the npm package oidc-provider) for Revflow's OIDC tests.
// Usage: node oidc_provider.mjs PACKAGE_DIR CONFIG_JSON: PACKAGE_DIR is where npm
// installed oidc-provider (ESM imports ignore NODE_PATH); CONFIG_JSON holds the client
// id, secret, redirect and post-logout URIs and the accounts. It listens on a free loopback port and prints one
// JSON line {"issuer": ...} when ready. Logins use the package's development
// interaction forms: any login name is accepted; its claims come from CONFIG.accounts.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const packageDir = path.join(process.argv[2], 'node_modules', 'oidc-provider');
const { default: Provider } = await import(pathToFileURL(path.join(packageDir, 'lib', 'index.js')));
const config = JSON.parse(process.argv[3]);
const accounts = config.accounts;

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: [config.redirect_uri],
      post_logout_redirect_uris: [config.post_logout_redirect_uri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'groups'],
    claims: { openid: ['sub'], email: ['email'], groups: ['groups'], roles: ['roles'] },
    cookies: { keys: ['revflow-test-only-cookie-key'] },
    ttl: { IdToken: config.id_token_ttl || 300, AccessToken: 300, Session: 3600, Grant: 3600 },
    async findAccount(ctx, id) {
      const claims = accounts[id] || {};
      return { accountId: id, async claims() { return { sub: id, ...claims }; } };
    },
  });
  provider.proxy = false;
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
