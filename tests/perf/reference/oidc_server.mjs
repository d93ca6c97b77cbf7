// The reference authorization server for scripts/bench-reference.sh: panva's
// oidc-provider (npm, devDependency) with its default in-memory adapter, one
// public client (PKCE S256 required, as ours), one fixed account, and a
// programmatic interaction instead of the development login pages, so a load
// client completes the authorization-code flow without a human:
//
//   GET /auth?…                       → 303 /interaction/<uid>
//   GET /interaction/<uid>            → 200 JSON {uid, prompt}   (the "page")
//   POST /interaction/<uid>/login     → 303 /auth/<uid>          (form: login=<account>)
//   GET /auth/<uid>                   → 303 /interaction/<uid2>  (consent prompt)
//   POST /interaction/<uid2>/consent  → 303 /auth/<uid2>
//   GET /auth/<uid2>                  → 303 <redirect_uri>?code=…&state=…&iss=…
//   POST /token (code + code_verifier), GET /me (userinfo, Bearer)
//
//   node tests/perf/reference/oidc_server.mjs [--port 0]
// Listens on 127.0.0.1 only and prints one line "LISTENING <port>".
import http from 'node:http';
import Provider from 'oidc-provider';

const args = process.argv.slice(2);
const portArg = args.indexOf('--port');
const wantedPort = portArg >= 0 ? Number(args[portArg + 1]) : 0;

export const CLIENT_ID = 'bench-app';
export const ACCOUNT = 'C0001';

async function main() {
  // Bind first: the issuer needs the port.
  const server = http.createServer();
  server.keepAliveTimeout = 5000;
  await new Promise((resolve) => server.listen(wantedPort, '127.0.0.1', resolve));
  const port = server.address().port;
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      token_endpoint_auth_method: 'none',
      redirect_uris: [`${issuer}/cb`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    pkce: { required: () => true },
    // One fixed account; its claims are what /me answers.
    findAccount: async (ctx, sub) => (sub === ACCOUNT ? {
      accountId: sub,
      claims: async () => ({ sub, name: 'ﾃﾞｰﾀ ｻﾄﾙ', email: 'load@example.jp' }),
    } : undefined),
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['renkei-bench-reference-cookie-key-not-secret'] },
    // Default TTLs; the in-memory adapter (the default) holds sessions, codes and tokens.
  });
  provider.on('server_error', (ctx, err) => { console.error('server_error', err); });

  const koa = provider.callback();
  const readForm = (req) => new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { body += c; if (body.length > 16384) req.destroy(); });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
  const sendJson = (res, status, obj) => {
    const text = JSON.stringify(obj);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  server.on('request', async (req, res) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login|\/consent)?$/.exec(req.url);
    if (!m) { koa(req, res); return; }
    try {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'GET' && !m[2]) {
        sendJson(res, 200, { uid: details.uid, prompt: details.prompt.name, client: details.params.client_id });
        return;
      }
      if (req.method === 'POST' && m[2] === '/login') {
        if (details.prompt.name !== 'login') { sendJson(res, 400, { error: 'not_login' }); return; }
        const form = await readForm(req);
        const accountId = form.get('login');
        if (accountId !== ACCOUNT) { sendJson(res, 400, { error: 'unknown_account' }); return; }
        await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
        return;
      }
      if (req.method === 'POST' && m[2] === '/consent') {
        if (details.prompt.name !== 'consent') { sendJson(res, 400, { error: 'not_consent' }); return; }
        await readForm(req);
        const { prompt: { details: missing }, params, session: { accountId } } = details;
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId, clientId: params.client_id });
        if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
        if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
        return;
      }
      sendJson(res, 405, { error: 'method_not_allowed' });
    } catch (err) {
      if (!res.headersSent) sendJson(res, err.statusCode || 500, { error: err.name, message: err.message });
    }
  });

  process.stdout.write(`LISTENING ${port}\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => { console.error(e); process.exit(1); });
