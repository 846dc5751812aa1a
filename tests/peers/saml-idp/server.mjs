#!/usr/bin/env node
// An independent SAML 2.0 identity provider for the gateway's tests, browser test and demo.
//
// Built on the npm package `samlify` (request parsing, redirect/POST signature checks, XML signing, metadata),
// with the schema validator `@authenio/samlify-node-xmllint` (libxml2 compiled to asm.js: no Java, no native build).
//
//   node tests/peers/saml-idp/server.mjs --port 0 --sp-metadata-url <url> [--sp-metadata-file <path>]
//        [--users <json>] [--entity-id <id>] [--key <pem> --cert <pem>] [--sign-response]
//        [--want-authn-requests-signed] [--session-minutes 60] [--exit-on-stdin-close]
//
// When listening it prints ONE JSON line on stdout: {"port", "base_url", "metadata_url", "entity_id"}.
// Everything else goes to stderr. Assertions are never logged.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import v8 from 'node:v8';

import forge from 'node-forge';
import samlify from 'samlify';

// node-xmllint is libxml2 compiled to asm.js (4 MB). V8's asm.js validation compiles all of it up front: 5-10 s of CPU
// at the first validation on a busy test machine. As plain lazily-compiled JS the first validation takes about 1 s and
// each later one well under a second, which suits a short-lived test peer. The flag must be set before the load.
v8.setFlagsFromString('--no-validate-asm');
const { default: xmllintValidator } = await import('@authenio/samlify-node-xmllint');

const HERE = path.dirname(fileURLToPath(import.meta.url));

// --- stdout discipline -------------------------------------------------------------------------------------------
// The wasm xmllint prints stray blank lines on stdout. Only the one JSON line may go there: everything else to stderr.
const realStdoutWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, encoding, cb) => {
  if (String(chunk).trim() === '') {
    if (typeof encoding === 'function') encoding();
    else if (typeof cb === 'function') cb();
    return true;
  }
  return process.stderr.write(chunk, encoding, cb);
};
const stderrConsole = console.error.bind(console);
const quietConsole = (...args) => {
  if (args.every((a) => String(a).trim() === '')) return; // the wasm xmllint's empty lines
  stderrConsole(...args);
};
console.log = quietConsole;
console.info = quietConsole;
console.warn = quietConsole;

function log(...parts) {
  process.stderr.write(`[saml-idp] ${parts.join(' ')}\n`);
}

// --- options -----------------------------------------------------------------------------------------------------
const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'sp-metadata-url': { type: 'string' },
    'sp-metadata-file': { type: 'string' },
    users: { type: 'string', default: path.join(HERE, 'users.json') },
    'entity-id': { type: 'string' },
    key: { type: 'string' },
    cert: { type: 'string' },
    'sign-response': { type: 'boolean', default: false },
    'want-authn-requests-signed': { type: 'boolean', default: false },
    'session-minutes': { type: 'string', default: '60' },
    'exit-on-stdin-close': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

if (opts.help) {
  process.stderr.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 12).join('\n') + '\n');
  process.exit(0);
}
if (!opts['sp-metadata-url'] && !opts['sp-metadata-file']) {
  log('error: give --sp-metadata-url <url> or --sp-metadata-file <path>');
  process.exit(2);
}
if (Boolean(opts.key) !== Boolean(opts.cert)) {
  log('error: --key and --cert go together');
  process.exit(2);
}
if (opts.host !== '127.0.0.1' && opts.host !== 'localhost' && opts.host !== '::1') {
  log('error: this test peer listens on the loopback interface only');
  process.exit(2);
}

const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
  emailAddress: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  bearer: 'urn:oasis:names:tc:SAML:2.0:cm:bearer',
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  password: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
  attrBasic: 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
  attrUri: 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri',
  rsaSha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
};
const MAX_BODY = 512 * 1024; // a SAML message over this is refused before parsing
const PENDING_TTL_MS = 10 * 60 * 1000;
const ASSERTION_LIFETIME_MS = 5 * 60 * 1000;
const SESSION_LIFETIME_MS = Number(opts['session-minutes']) * 60 * 1000;

samlify.setSchemaValidator(xmllintValidator);

// Check the schema validator really tells valid from invalid before saying we are ready (and warm it up).
async function selfCheckValidator() {
  const head = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_check" Version="2.0"`;
  const good = `${head} IssueInstant="2020-01-01T00:00:00Z"><saml:Issuer>x</saml:Issuer></samlp:AuthnRequest>`;
  const bad = `${head}><saml:Issuer>x</saml:Issuer><samlp:Bogus/></samlp:AuthnRequest>`;
  await samlify.SamlLib.isValidXml(good);
  const errorLog = console.error;
  console.error = () => {}; // the validator reports the (expected) errors of `bad` on the console
  try {
    await samlify.SamlLib.isValidXml(bad);
  } catch {
    return;
  } finally {
    console.error = errorLog;
  }
  throw new Error('the XML schema validator accepted an invalid AuthnRequest');
}

// --- users -------------------------------------------------------------------------------------------------------
function loadUsers(file) {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  const list = Array.isArray(raw) ? raw : raw.users;
  if (!Array.isArray(list) || list.length === 0) throw new Error(`${file}: expected a list of users (or {"users": [...]})`);
  const byName = new Map();
  for (const u of list) {
    if (!u || typeof u.username !== 'string' || typeof u.password !== 'string' || typeof u.email !== 'string') {
      throw new Error(`${file}: every user needs string username, password and email`);
    }
    byName.set(u.username, { ...u, attributes: u.attributes || {} });
  }
  return byName;
}
const users = loadUsers(opts.users);

function checkPassword(username, password) {
  const user = users.get(username);
  if (!user) {
    crypto.timingSafeEqual(Buffer.alloc(32), Buffer.alloc(32));
    return null;
  }
  const a = crypto.createHash('sha256').update(String(password)).digest();
  const b = crypto.createHash('sha256').update(user.password).digest();
  return crypto.timingSafeEqual(a, b) ? user : null;
}

// --- key and certificate -----------------------------------------------------------------------------------------
function pemBody(pem) {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

function makeSelfSigned(commonName) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }));
  cert.serialNumber = '01' + crypto.randomBytes(15).toString('hex');
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now.getTime() + 10 * 365 * 24 * 60 * 60 * 1000);
  const attrs = [{ name: 'commonName', value: commonName.slice(0, 64) }, { name: 'organizationName', value: 'SAML IdP test peer' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { keyPem, certPem: forge.pki.certificateToPem(cert) };
}

// --- small helpers -----------------------------------------------------------------------------------------------
function xmlEscape(value) {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
const htmlEscape = xmlEscape;

function newId() {
  return '_' + crypto.randomBytes(20).toString('hex');
}

function isoNow(offsetMs = 0) {
  return new Date(Date.now() + offsetMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function urlPath(value) {
  try {
    return new URL(value, baseUrl).pathname;
  } catch {
    return null;
  }
}

function rawQueryParam(rawQuery, name) {
  for (const part of rawQuery.split('&')) {
    const eq = part.indexOf('=');
    const key = eq === -1 ? part : part.slice(0, eq);
    if (key === name) return eq === -1 ? '' : part.slice(eq + 1);
  }
  return undefined;
}

function page(title, body, status = 200) {
  return {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    },
    body: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${htmlEscape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin-top:1rem}input{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1.2rem;padding:.5rem 1.2rem}.error{color:#a00}</style></head>
<body>${body}</body></html>
`,
  };
}

function errorPage(status, message) {
  return page('SAML IdP test peer: error', `<h1>Error</h1><p class="error" id="error" role="alert">${htmlEscape(message)}</p>`, status);
}

function postForm(action, fields, title) {
  const inputs = Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `<input type="hidden" name="${htmlEscape(k)}" value="${htmlEscape(v)}">`)
    .join('\n');
  return page(
    title,
    `<form id="saml-post" method="post" action="${htmlEscape(action)}">
${inputs}
<p>Sending you back to the application&hellip;</p>
<button type="submit" id="continue">Continue</button>
</form>
<script>document.getElementById('saml-post').submit();</script>`,
  );
}

// --- state (in memory: this is a test peer) ----------------------------------------------------------------------
const pending = new Map(); // opaque id -> { kind, request?, relayState, created }
const sessions = new Map(); // SessionIndex -> { username, nameId, created }

function sweep() {
  const now = Date.now();
  for (const [k, v] of pending) if (now - v.created > PENDING_TTL_MS) pending.delete(k);
  for (const [k, v] of logoutRequests) if (now - v.created > PENDING_TTL_MS) logoutRequests.delete(k);
  for (const [k, v] of sessions) if (now - v.created > SESSION_LIFETIME_MS) sessions.delete(k);
}
const sweeper = setInterval(sweep, 60 * 1000);
sweeper.unref();

// --- the SP, fetched lazily --------------------------------------------------------------------------------------
let spCache = null;

async function loadSpMetadataXml() {
  if (opts['sp-metadata-file']) return fs.readFileSync(opts['sp-metadata-file'], 'utf8');
  const url = opts['sp-metadata-url'];
  const res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(10000) });
  if (!res.ok) throw new Error(`SP metadata ${url}: HTTP ${res.status}`);
  const text = await res.text();
  if (text.length > 1024 * 1024) throw new Error(`SP metadata ${url}: too large`);
  return text;
}

async function getSp({ refresh = false } = {}) {
  if (spCache && !refresh) return spCache;
  let xml;
  try {
    xml = await loadSpMetadataXml();
  } catch (err) {
    // Not cached: the next request tries again (the SP may start after the IdP).
    const why = err.cause?.code ? `${err.message} (${err.cause.code})` : err.message;
    throw Object.assign(new Error(`SP metadata unavailable: ${why}`), { status: 502 });
  }
  let sp;
  try {
    sp = samlify.ServiceProvider({ metadata: xml, wantLogoutResponseSigned: true, wantLogoutRequestSigned: true });
  } catch (err) {
    throw Object.assign(new Error(`SP metadata unreadable: ${err?.message || err}`), { status: 502 });
  }
  const posts = acsList(sp).filter((a) => a.binding === NS.post);
  if (posts.length === 0) {
    throw Object.assign(new Error('SP metadata has no HTTP-POST AssertionConsumerService'), { status: 502 });
  }
  spCache = sp;
  log(`SP metadata loaded: entityID=${sp.entityMeta.getEntityID()} ACS(POST)=${posts.map((a) => a.location).join(',')}`);
  return sp;
}

function acsList(sp) {
  const all = sp.entityMeta.getAssertionConsumerService();
  return (Array.isArray(all) ? all : all ? [all] : []).map((a) => ({
    binding: a.binding,
    location: a.location,
    index: a.index,
    isDefault: a.isDefault === 'true',
  }));
}

// The ACS a response goes to: the one the request names (it must be in the SP metadata), else the default one.
function chooseAcs(sp, requestFields) {
  const posts = acsList(sp).filter((a) => a.binding === NS.post);
  if (requestFields?.acsUrl) {
    const found = posts.find((a) => a.location === requestFields.acsUrl);
    if (!found) throw new Error(`AssertionConsumerServiceURL ${requestFields.acsUrl} is not an HTTP-POST ACS of the SP metadata`);
    return found.location;
  }
  if (requestFields?.acsIndex !== undefined && requestFields.acsIndex !== '') {
    const found = posts.find((a) => String(a.index) === String(requestFields.acsIndex));
    if (!found) throw new Error(`AssertionConsumerServiceIndex ${requestFields.acsIndex} is not an HTTP-POST ACS of the SP metadata`);
    return found.location;
  }
  return (posts.find((a) => a.isDefault) || posts[0]).location;
}

// --- the IdP -----------------------------------------------------------------------------------------------------
let idp; // samlify IdentityProvider, built once the port is known
let keyPem;
let certPem;
let baseUrl;
let entityId;

function buildIdp() {
  return samlify.IdentityProvider({
    entityID: entityId,
    privateKey: keyPem,
    signingCert: certPem,
    wantAuthnRequestsSigned: opts['want-authn-requests-signed'],
    requestSignatureAlgorithm: NS.rsaSha256,
    nameIDFormat: [NS.emailAddress],
    singleSignOnService: [
      { Binding: NS.redirect, Location: `${baseUrl}/sso` },
      { Binding: NS.post, Location: `${baseUrl}/sso` },
    ],
    singleLogoutService: [
      { Binding: NS.redirect, Location: `${baseUrl}/slo` },
      { Binding: NS.post, Location: `${baseUrl}/slo` },
    ],
  });
}

const REQUEST_EXTRA_FIELDS = [
  { key: 'req', localPath: ['AuthnRequest'], attributes: ['ID', 'Destination', 'AssertionConsumerServiceURL', 'AssertionConsumerServiceIndex', 'ProtocolBinding', 'ForceAuthn', 'IsPassive'] },
  { key: 'issuer', localPath: ['AuthnRequest', 'Issuer'], attributes: [] },
];


// Parse and check an incoming SAML request (AuthnRequest or LogoutRequest) with samlify.
// `kind` is 'login' or 'logout'. Returns { parsed, samlContent }.
async function parseIncoming(kind, binding, httpReq) {
  let sp = await getSp();
  const encoded = binding === 'redirect' ? httpReq.query.SAMLRequest : httpReq.body.SAMLRequest;
  if (!encoded) throw Object.assign(new Error('no SAMLRequest'), { status: 400 });
  // Which SP sent it? Refuse another SP's request before anything else (this peer serves one SP).
  let rawXml;
  try {
    rawXml = binding === 'redirect'
      ? samlify.Utility.inflateString(encoded)
      : Buffer.from(encoded, 'base64').toString('utf8');
  } catch {
    throw Object.assign(new Error('SAMLRequest is not valid base64/deflate'), { status: 400 });
  }
  if (rawXml.length > MAX_BODY) throw Object.assign(new Error('SAMLRequest too large'), { status: 413 });
  const root = kind === 'login' ? 'AuthnRequest' : 'LogoutRequest';
  let claimedIssuer;
  try {
    claimedIssuer = samlify.Extractor.extract(rawXml, [{ key: 'issuer', localPath: [root, 'Issuer'], attributes: [] }]).issuer;
  } catch (err) {
    throw Object.assign(new Error(`SAMLRequest is not a readable ${root}: ${err?.message || err}`), { status: 400 });
  }
  if (claimedIssuer !== sp.entityMeta.getEntityID()) {
    throw Object.assign(new Error(`${root} Issuer ${claimedIssuer} is not the SP entityID ${sp.entityMeta.getEntityID()}`), { status: 400 });
  }
  const signedByQuery = binding === 'redirect' && Boolean(httpReq.query.Signature);
  // A POST-binding message carries its signature as a ds:Signature child of the root element.
  const signedInXml = binding === 'post'
    && Boolean(samlify.Extractor.extract(rawXml, [{ key: 'sig', localPath: [root, 'Signature'], attributes: [], context: true }]).sig);
  const spSigns = kind === 'login' ? sp.entityMeta.isAuthnRequestSigned() : false;
  const mustCheck = signedByQuery || signedInXml || spSigns || (kind === 'login' && opts['want-authn-requests-signed']);
  const run = async (theSp) => {
    const certs = theSp.entityMeta.getX509Certificate('signing');
    if (!(mustCheck && binding === 'redirect' && Array.isArray(certs))) {
      return parseWith(theSp, kind, binding, httpReq, mustCheck);
    }
    // samlify checks a Redirect-binding signature against one certificate: during an SP key rollover its metadata
    // lists several, so try each (the POST binding already picks the certificate named in the signature).
    let lastError;
    for (const cert of certs) {
      try {
        return await parseWith(withSigningCert(theSp, cert), kind, binding, httpReq, mustCheck);
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  };
  try {
    return await run(sp);
  } catch (err) {
    if (mustCheck && opts['sp-metadata-url'] && /SIGNATURE|SIG_ALG/i.test(String(err?.message || err))) {
      // The SP may have rotated its key since we fetched its metadata: fetch once more and retry.
      sp = await getSp({ refresh: true });
      return await run(sp);
    }
    throw err;
  }
}

function withSigningCert(sp, cert) {
  const meta = Object.create(sp.entityMeta);
  meta.getX509Certificate = (use) => (use === 'signing' ? cert : sp.entityMeta.getX509Certificate(use));
  return Object.assign(Object.create(Object.getPrototypeOf(sp)), sp, { entityMeta: meta });
}

async function parseWith(sp, kind, binding, httpReq, checkSignature) {
  // A per-call IdP entity whose only difference is whether it demands a signature, so a signed message from an SP
  // that does not advertise AuthnRequestsSigned is still checked, and an unsigned one is accepted unless required.
  const checker = samlify.IdentityProvider({
    ...idp.entitySetting,
    metadata: idp.entityMeta.getMetadata().replace(
      /WantAuthnRequestsSigned="(true|false)"/,
      `WantAuthnRequestsSigned="${checkSignature ? 'true' : 'false'}"`,
    ),
    wantLogoutRequestSigned: checkSignature,
  });
  const parsed = kind === 'login'
    ? await checker.parseLoginRequest(sp, binding, httpReq)
    : await checker.parseLogoutRequest(sp, binding, httpReq);
  const fields = kind === 'login' ? REQUEST_EXTRA_FIELDS : [];
  const extra = fields.length ? samlify.Extractor.extract(parsed.samlContent, fields) : {};
  const issuer = kind === 'login' ? extra.issuer : parsed.extract.issuer;
  if (issuer !== sp.entityMeta.getEntityID()) {
    throw Object.assign(new Error(`request Issuer ${issuer} is not the SP entityID ${sp.entityMeta.getEntityID()}`), { status: 400 });
  }
  return { sp, parsed, extra, signatureChecked: checkSignature };
}

// --- building the response ---------------------------------------------------------------------------------------
function attributeXml(name, value) {
  const values = Array.isArray(value) ? value : [value];
  const nameFormat = name.includes(':') ? NS.attrUri : NS.attrBasic;
  return `<saml:Attribute Name="${xmlEscape(name)}" NameFormat="${nameFormat}">${values
    .map((v) => `<saml:AttributeValue xsi:type="xs:string">${xmlEscape(v)}</saml:AttributeValue>`)
    .join('')}</saml:Attribute>`;
}

async function buildLoginResponse({ sp, user, inResponseTo, acsUrl }) {
  const now = isoNow();
  const later = isoNow(ASSERTION_LIFETIME_MS);
  const sessionIndex = newId();
  const responseId = newId();
  const assertionId = newId();
  const audience = sp.entityMeta.getEntityID();
  const irt = inResponseTo ? ` InResponseTo="${xmlEscape(inResponseTo)}"` : '';
  const attributes = Object.entries(user.attributes || {}).map(([k, v]) => attributeXml(k, v)).join('');
  const xml = `<samlp:Response xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${responseId}" Version="2.0" IssueInstant="${now}" Destination="${xmlEscape(acsUrl)}"${irt}>`
    + `<saml:Issuer>${xmlEscape(entityId)}</saml:Issuer>`
    + `<samlp:Status><samlp:StatusCode Value="${NS.success}"/></samlp:Status>`
    + `<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="${assertionId}" Version="2.0" IssueInstant="${now}">`
    + `<saml:Issuer>${xmlEscape(entityId)}</saml:Issuer>`
    + `<saml:Subject><saml:NameID Format="${NS.emailAddress}">${xmlEscape(user.email)}</saml:NameID>`
    + `<saml:SubjectConfirmation Method="${NS.bearer}"><saml:SubjectConfirmationData NotOnOrAfter="${later}" Recipient="${xmlEscape(acsUrl)}"${irt}/></saml:SubjectConfirmation></saml:Subject>`
    + `<saml:Conditions NotBefore="${now}" NotOnOrAfter="${later}"><saml:AudienceRestriction><saml:Audience>${xmlEscape(audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>`
    + `<saml:AuthnStatement AuthnInstant="${now}" SessionIndex="${sessionIndex}" SessionNotOnOrAfter="${isoNow(SESSION_LIFETIME_MS)}"><saml:AuthnContext><saml:AuthnContextClassRef>${NS.password}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`
    + (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '')
    + '</saml:Assertion></samlp:Response>';

  // Our own output must be schema-valid too (catches a bad users.json value, for instance).
  await samlify.SamlLib.isValidXml(xml);

  const signingCert = idp.entityMeta.getX509Certificate('signing');
  const common = { privateKey: keyPem, signatureAlgorithm: NS.rsaSha256, signingCert, isBase64Output: false };
  // Assertion first (enveloped, rsa-sha256, sha256 digest, exclusive c14n), placed after the assertion's Issuer.
  let signed = samlify.SamlLib.constructSAMLSignature({
    ...common,
    rawSamlMessage: xml,
    referenceTagXPath: "/*[local-name(.)='Response']/*[local-name(.)='Assertion']",
    signatureConfig: {
      prefix: 'ds',
      location: { reference: "/*[local-name(.)='Response']/*[local-name(.)='Assertion']/*[local-name(.)='Issuer']", action: 'after' },
    },
  });
  if (opts['sign-response']) {
    signed = samlify.SamlLib.constructSAMLSignature({
      ...common,
      rawSamlMessage: signed,
      isMessageSigned: true,
      signatureConfig: {
        prefix: 'ds',
        location: { reference: "/*[local-name(.)='Response']/*[local-name(.)='Issuer']", action: 'after' },
      },
    });
  }
  sessions.set(sessionIndex, { username: user.username, nameId: user.email, created: Date.now() });
  return { samlResponse: Buffer.from(signed, 'utf8').toString('base64'), responseId, sessionIndex };
}

// --- pages -------------------------------------------------------------------------------------------------------
function loginPage(pendingId, { error, username } = {}) {
  const err = error ? `<p class="error" id="error" role="alert">${htmlEscape(error)}</p>` : '';
  return page(
    'Sign in: SAML IdP test peer',
    `<h1>Sign in</h1>
<p>SAML identity provider (test peer) <code>${htmlEscape(entityId)}</code></p>
${err}
<form method="post" action="/login" id="login-form">
<input type="hidden" name="pending" value="${htmlEscape(pendingId)}">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" required autofocus value="${htmlEscape(username || '')}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="login">Sign in</button>
</form>`,
    error ? 401 : 200,
  );
}

function newPending(entry) {
  const id = crypto.randomBytes(24).toString('base64url');
  pending.set(id, { ...entry, created: Date.now() });
  return id;
}

// --- handlers ----------------------------------------------------------------------------------------------------
async function handleSso(req) {
  const binding = req.method === 'GET' ? 'redirect' : 'post';
  const relayState = binding === 'redirect' ? req.query.RelayState : req.body.RelayState;
  let result;
  try {
    result = await parseIncoming('login', binding, req);
  } catch (err) {
    log(`AuthnRequest refused (${binding}): ${err?.message || err}`);
    return errorPage(err?.status || 400, `AuthnRequest refused: ${err?.message || err}`);
  }
  const { sp, parsed, extra, signatureChecked } = result;
  const fields = {
    id: parsed.extract.request?.id,
    acsUrl: extra.req?.assertionConsumerServiceUrl,
    acsIndex: extra.req?.assertionConsumerServiceIndex,
    protocolBinding: extra.req?.protocolBinding,
    destination: extra.req?.destination,
  };
  if (fields.protocolBinding && fields.protocolBinding !== NS.post) {
    return errorPage(400, `AuthnRequest refused: ProtocolBinding ${fields.protocolBinding} is not supported (HTTP-POST only)`);
  }
  if (fields.destination && urlPath(fields.destination) !== '/sso') {
    return errorPage(400, `AuthnRequest refused: Destination ${fields.destination} is not this IdP's SSO endpoint`);
  }
  let acsUrl;
  try {
    acsUrl = chooseAcs(sp, fields);
  } catch (err) {
    return errorPage(400, `AuthnRequest refused: ${err.message}`);
  }
  if (String(extra.req?.isPassive) === 'true') {
    // No session reuse in this peer: a passive request cannot be satisfied.
    return errorPage(400, 'IsPassive requests are not supported by this test peer');
  }
  log(`AuthnRequest ${fields.id} from ${sp.entityMeta.getEntityID()} (${binding}, signature ${signatureChecked ? 'verified' : 'absent'})`);
  const pendingId = newPending({ kind: 'sp', requestId: fields.id, acsUrl, relayState });
  return loginPage(pendingId);
}

async function handleIdpInitiated(req) {
  try {
    await getSp();
  } catch (err) {
    log(err.message);
    return errorPage(err.status || 502, err.message);
  }
  const pendingId = newPending({ kind: 'idp', requestId: null, acsUrl: null, relayState: req.query.RelayState });
  return loginPage(pendingId);
}

async function handleLogin(req) {
  const pendingId = req.body.pending;
  const entry = pendingId ? pending.get(pendingId) : undefined;
  if (!entry || Date.now() - entry.created > PENDING_TTL_MS) {
    return errorPage(400, 'This sign-in has expired or is unknown: start again from the application.');
  }
  const user = checkPassword(req.body.username || '', req.body.password || '');
  if (!user) {
    log(`failed login for ${JSON.stringify(String(req.body.username || '').slice(0, 64))}`);
    return loginPage(pendingId, { error: 'Wrong username or password.', username: req.body.username });
  }
  pending.delete(pendingId); // one response per pending request
  const sp = await getSp();
  const acsUrl = entry.acsUrl || chooseAcs(sp, null);
  const { samlResponse, sessionIndex } = await buildLoginResponse({ sp, user, inResponseTo: entry.requestId, acsUrl });
  log(`login ${user.username}: ${entry.kind === 'sp' ? `response to ${entry.requestId}` : 'unsolicited response'} -> ${acsUrl} (session ${sessionIndex.slice(0, 9)}...)`);
  return postForm(acsUrl, { SAMLResponse: samlResponse, RelayState: entry.relayState }, 'Signing you in');
}

async function handleSlo(req) {
  const binding = req.method === 'GET' ? 'redirect' : 'post';
  const relayState = binding === 'redirect' ? req.query.RelayState : req.body.RelayState;
  if (binding === 'redirect' ? req.query.SAMLResponse : req.body.SAMLResponse) {
    return handleLogoutResponse(req, binding, relayState);
  }
  if (!(binding === 'redirect' ? req.query.SAMLRequest : req.body.SAMLRequest)) {
    return errorPage(400, 'No SAMLRequest or SAMLResponse.');
  }
  let result;
  try {
    result = await parseIncoming('logout', binding, req);
  } catch (err) {
    log(`LogoutRequest refused (${binding}): ${err?.message || err}`);
    return errorPage(err?.status || 400, `LogoutRequest refused: ${err?.message || err}`);
  }
  const { sp, parsed } = result;
  const ex = parsed.extract;
  const indexes = ex.sessionIndex ? [].concat(ex.sessionIndex) : [];
  let ended = 0;
  for (const [k, v] of sessions) {
    if (indexes.length ? indexes.includes(k) : v.nameId === ex.nameID) {
      sessions.delete(k);
      ended += 1;
    }
  }
  log(`LogoutRequest ${ex.request?.id} for ${ex.nameID ? 'a subject' : 'no subject'}: ${ended} session(s) ended`);
  // Answer on the binding the SP used when its metadata has an SLO endpoint for it, else the other one.
  const sloRedirect = sp.entityMeta.getSingleLogoutService('redirect');
  const sloPost = sp.entityMeta.getSingleLogoutService('post');
  const hasRedirect = typeof sloRedirect === 'string';
  const hasPost = typeof sloPost === 'string';
  const useRedirect = hasRedirect && (binding === 'redirect' || !hasPost);
  if (useRedirect) {
    const { context } = idp.createLogoutResponse(sp, parsed, 'redirect', { relayState: relayState || '' });
    return { status: 302, headers: { location: context, 'cache-control': 'no-store' }, body: '' };
  }
  if (hasPost) {
    const out = idp.createLogoutResponse(sp, parsed, 'post', { relayState: relayState || '' });
    return postForm(out.entityEndpoint, { SAMLResponse: out.context, RelayState: relayState }, 'Signing you out');
  }
  return page('Signed out', '<h1>Signed out</h1><p>The SP metadata has no SingleLogoutService endpoint to answer to.</p>');
}

// --- IdP-initiated single logout ---------------------------------------------------------------------------------
// GET /idp-logout?username=alice[&binding=redirect|post][&relay_state=...]: the user signs out at the IdP, which sends
// the SP a signed LogoutRequest (NameID + SessionIndex of the user's latest session) on the chosen binding (default:
// redirect when the SP offers it). The SP's LogoutResponse comes back to /slo, is verified (signature, Issuer,
// InResponseTo of a request sent here) and the result page says so (#slo-result: "Success" or the refusal).
const logoutRequests = new Map(); // LogoutRequest ID -> { username, sessionIndex, created }

async function handleIdpLogout(req) {
  let sp;
  try {
    sp = await getSp();
  } catch (err) {
    return errorPage(err.status || 502, err.message);
  }
  const username = req.query.username || '';
  const mine = [...sessions.entries()].filter(([, v]) => v.username === username);
  if (mine.length === 0) return errorPage(400, `No session at this IdP for ${JSON.stringify(username.slice(0, 64))}.`);
  const [sessionIndex, session] = mine[mine.length - 1];
  const hasRedirect = typeof sp.entityMeta.getSingleLogoutService('redirect') === 'string';
  const hasPost = typeof sp.entityMeta.getSingleLogoutService('post') === 'string';
  const binding = req.query.binding || (hasRedirect ? 'redirect' : 'post');
  if ((binding === 'redirect' && !hasRedirect) || (binding === 'post' && !hasPost) || !['redirect', 'post'].includes(binding)) {
    return errorPage(400, `The SP metadata has no ${binding} SingleLogoutService.`);
  }
  const relayState = req.query.relay_state || '';
  const user = { logoutNameID: session.nameId, sessionIndex };
  const out = idp.createLogoutRequest(sp, binding, user, { relayState });
  logoutRequests.set(out.id, { username, sessionIndex, created: Date.now() });
  log(`IdP-initiated logout of ${username}: LogoutRequest ${out.id} (${binding})`);
  if (binding === 'redirect') {
    return { status: 302, headers: { location: out.context, 'cache-control': 'no-store' }, body: '' };
  }
  return postForm(out.entityEndpoint, { SAMLRequest: out.context, RelayState: relayState }, 'Signing you out');
}

async function handleLogoutResponse(req, binding, relayState) {
  const sp = await getSp();
  // A LogoutResponse must be signed (query signature or XML signature), by the SP's metadata key.
  const checker = samlify.IdentityProvider({ ...idp.entitySetting, metadata: idp.entityMeta.getMetadata(), wantLogoutResponseSigned: true });
  let parsed;
  try {
    parsed = await checker.parseLogoutResponse(sp, binding, req);
  } catch (err) {
    log(`LogoutResponse refused (${binding}): ${err?.message || err}`);
    return errorPage(400, `LogoutResponse refused: ${err?.message || err}`);
  }
  const inResponseTo = parsed.extract.response?.inResponseTo;
  const sent = inResponseTo ? logoutRequests.get(inResponseTo) : undefined;
  if (!sent) return errorPage(400, 'LogoutResponse refused: InResponseTo is not a LogoutRequest sent by this IdP.');
  logoutRequests.delete(inResponseTo);
  const status = samlify.Extractor.extract(parsed.samlContent, [
    { key: 'code', localPath: ['LogoutResponse', 'Status', 'StatusCode'], attributes: ['Value'] },
  ]).code;
  const ok = status === NS.success;
  if (ok) {
    for (const [k, v] of sessions) if (v.username === sent.username) sessions.delete(k);
  }
  log(`LogoutResponse to ${inResponseTo}: ${status}`);
  return page('Signed out', `<h1>${ok ? 'Signed out' : 'Sign-out incomplete'}</h1>
<p id="slo-result">${ok ? 'Success' : htmlEscape(String(status))}</p>
<p id="slo-relay-state">${htmlEscape(relayState || '')}</p>`);
}

// --- HTTP --------------------------------------------------------------------------------------------------------
async function route(req) {
  const url = new URL(req.url, baseUrl);
  const rawQuery = url.search.startsWith('?') ? url.search.slice(1) : '';
  req.query = Object.fromEntries(url.searchParams);
  req.body = {};
  if (req.method === 'POST') {
    const text = await readBody(req);
    req.body = Object.fromEntries(new URLSearchParams(text));
  }
  if (req.method === 'GET' && (req.query.SAMLRequest !== undefined || req.query.SAMLResponse !== undefined)) {
    // What samlify verifies for the HTTP-Redirect binding: the query parameters as sent, in the order of the spec.
    const field = req.query.SAMLRequest !== undefined ? 'SAMLRequest' : 'SAMLResponse';
    const parts = [field, 'RelayState', 'SigAlg']
      .map((k) => [k, rawQueryParam(rawQuery, k)])
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`);
    req.octetString = parts.join('&');
  }
  const key = `${req.method} ${url.pathname}`;
  switch (key) {
    case 'GET /metadata':
      return { status: 200, headers: { 'content-type': 'application/samlmetadata+xml; charset=utf-8' }, body: idp.getMetadata() };
    case 'GET /sso':
    case 'POST /sso':
      return handleSso(req);
    case 'GET /idp-initiated':
      return handleIdpInitiated(req);
    case 'POST /login':
      return handleLogin(req);
    case 'GET /slo':
    case 'POST /slo':
      return handleSlo(req);
    case 'GET /idp-logout':
      return handleIdpLogout(req);
    case 'GET /health':
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: true }) };
    case 'GET /':
      return page('SAML IdP test peer', `<h1>SAML IdP test peer</h1><ul>
<li><a href="/metadata">metadata</a></li><li><a href="/idp-initiated">IdP-initiated sign-in</a></li></ul>`);
    default:
      return errorPage(404, 'Not found');
  }
}

const server = http.createServer((req, res) => {
  route(req)
    .catch((err) => {
      log(`error on ${req.method} ${req.url?.split('?')[0]}: ${err?.stack || err}`);
      return errorPage(err?.status || 500, err?.status ? err.message : 'Internal error (see the IdP peer stderr)');
    })
    .then((out) => {
      if (res.headersSent) return;
      res.writeHead(out.status, out.headers);
      res.end(out.body);
    });
});
server.headersTimeout = 20000;
server.requestTimeout = 30000;

async function start() {
  await selfCheckValidator();
  if (opts.key) {
    keyPem = fs.readFileSync(opts.key, 'utf8');
    certPem = fs.readFileSync(opts.cert, 'utf8');
  }
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(opts.port), opts.host, resolve);
  });
  const { port } = server.address();
  const hostInUrl = opts.host === '::1' ? '[::1]' : opts.host;
  baseUrl = `http://${hostInUrl}:${port}`;
  entityId = opts['entity-id'] || `${baseUrl}/metadata`;
  if (!keyPem) ({ keyPem, certPem } = makeSelfSigned(new URL(baseUrl).hostname));
  certPem = `-----BEGIN CERTIFICATE-----\n${pemBody(certPem).match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
  idp = buildIdp();
  realStdoutWrite(JSON.stringify({ port, base_url: baseUrl, metadata_url: `${baseUrl}/metadata`, entity_id: entityId }) + '\n');
  log(`listening on ${baseUrl} (entityID ${entityId}, ${users.size} users, sign-response=${opts['sign-response']})`);
}

function shutdown(signal) {
  log(`${signal}: shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
if (opts['exit-on-stdin-close']) {
  // The parent (a test run) holds our stdin open: when it goes away without stopping us, stop anyway.
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}
process.on('SIGINT', () => shutdown('SIGINT'));

start().catch((err) => {
  log(`failed to start: ${err?.stack || err}`);
  process.exit(1);
});
