// An OpenID Provider for the gateway's tests: panva's oidc-provider (OpenID Certified), over HTTPS,
// with a small login form instead of its development interactions and consent granted at once.
//
//   node server.mjs --port 0 --cert server.crt --key server.key --clients clients.json --users users.json
//
// Prints one JSON line when ready: {"issuer": "https://127.0.0.1:<port>", "port": <port>}.
// clients.json: [{client_id, client_secret, redirect_uris, token_endpoint_auth_method?, id_token_signed_response_alg?}]
// users.json: [{username, password, sub?, email, email_verified?, given_name?, family_name?, ...claims}]
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    cert: { type: 'string' },
    key: { type: 'string' },
    clients: { type: 'string' },
    users: { type: 'string' },
    'id-token-claims': { type: 'boolean', default: false },
    'exit-on-stdin-close': { type: 'boolean', default: false },
  },
});

const clients = JSON.parse(readFileSync(args.clients, 'utf8'));
const users = JSON.parse(readFileSync(args.users, 'utf8'));
const userByName = new Map(users.map((user) => [user.username, user]));
const userBySub = new Map(users.map((user) => [user.sub || user.username, user]));

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `rsa-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`
    + `<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function loginForm(uid, error) {
  return page('Sign in to the test IdP', `${error ? `<p id="error">${escapeHtml(error)}</p>` : ''}`
    + `<form method="post" action="/interaction/${escapeHtml(uid)}/login">`
    + '<label>Username <input name="username" id="username" autocomplete="username"></label>'
    + '<label>Password <input name="password" id="password" type="password"></label>'
    + '<button type="submit" id="sign-in">Sign in</button></form>');
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

let handler = (_req, res) => { res.statusCode = 503; res.end(); };
const server = https.createServer({ cert: readFileSync(args.cert), key: readFileSync(args.key) }, (req, res) => handler(req, res));

server.listen(Number(args.port), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'locale'],
    },
    // By default the scope claims go to userinfo only (the gateway then reads userinfo); with
    // --id-token-claims they are in the ID token too.
    conformIdTokenClaims: !args['id-token-claims'],
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const user = userBySub.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          const { username: _u, password: _p, ...claims } = user;
          return { email_verified: true, ...claims, sub };
        },
      };
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error at the test IdP', `<pre id="error">${escapeHtml(JSON.stringify(out))}</pre>`);
    },
  });

  provider.use(async (ctx, next) => {
    const match = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (!match) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== match[1]) ctx.throw(400, 'interaction mismatch');
    const { prompt, params, session } = details;
    if (ctx.method === 'POST' && match[2]) {
      const form = await readForm(ctx.req);
      const user = userByName.get(form.username);
      if (!user || user.password !== form.password) {
        ctx.type = 'html';
        ctx.body = loginForm(details.uid, 'Wrong username or password.');
        return undefined;
      }
      const returnTo = await provider.interactionResult(ctx.req, ctx.res, {
        login: { accountId: user.sub || user.username },
      }, { mergeWithLastSubmission: false });
      ctx.status = 303;
      return ctx.redirect(returnTo);
    }
    if (ctx.method !== 'GET') ctx.throw(405);
    if (prompt.name === 'login') {
      ctx.type = 'html';
      ctx.body = loginForm(details.uid);
      return undefined;
    }
    // Consent: this IdP's users trust the gateway; grant what was asked.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } });
    ctx.status = 303;
    return ctx.redirect(returnTo);
  });

  handler = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});

if (args['exit-on-stdin-close']) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}
