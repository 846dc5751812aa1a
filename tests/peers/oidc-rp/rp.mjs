// An OpenID Connect relying party written by other people (panva's openid-client), run against one
// of the gateway's issuers: discovery, authorization code + PKCE, ID token checked against the JWKS,
// userinfo, refresh, revocation. The browser part is the caller's: this prints
// {"authorization_url": ...} and reads the callback URL (where the gateway redirected) on stdin.
// Usage: node rp.mjs <issuer> <client_id> <redirect_uri> [extra authorize params as a JSON object]
// Prints one JSON object per line; the last one is the result.
import * as readline from 'node:readline/promises'
import * as client from 'openid-client'
import * as jose from 'jose'

const [issuer, clientId, redirectUri, extra = '{}'] = process.argv.slice(2)
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const failure = (err) => ({ name: err?.name, code: err?.code, error: err?.error, status: err?.status, message: err?.message })

async function main () {
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
    // Tests run the gateway on plain http://localhost; ID tokens from the token endpoint are
    // verified against the issuer's JWKS too, not only by their claims.
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  })
  const metadata = config.serverMetadata()

  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email profile',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...JSON.parse(extra),
  })
  out({ authorization_url: authorizationUrl.href })

  const rl = readline.createInterface({ input: process.stdin })
  const callbackUrl = (await rl[Symbol.asyncIterator]().next()).value
  rl.close()

  const tokens = await client.authorizationCodeGrant(config, new URL(callbackUrl), {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  })
  const idTokenClaims = tokens.claims()

  // The access token is a JWT too: check it against the same JWKS, as a resource server would.
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri))
  const access = await jose.jwtVerify(tokens.access_token, jwks, {
    issuer: metadata.issuer, audience: clientId, typ: 'at+jwt', algorithms: ['RS256'],
  })
  const idToken = await jose.jwtVerify(tokens.id_token, jwks, { issuer: metadata.issuer, audience: clientId })

  const userinfo = await client.fetchUserInfo(config, tokens.access_token, idTokenClaims.sub)

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  const refreshedClaims = refreshed.claims()

  const refusal = async (call) => {
    try {
      await call()
      return { refused: false }
    } catch (err) {
      return { refused: true, ...failure(err) }
    }
  }

  // Revoking the current refresh token ends this client's session: its access token dies with it.
  await client.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: 'refresh_token' })
  const userinfoAfterRevoke = await refusal(() => client.fetchUserInfo(config, refreshed.access_token, idTokenClaims.sub))
  const refreshAfterRevoke = await refusal(() => client.refreshTokenGrant(config, refreshed.refresh_token))
  // The first refresh token was spent by the rotation above: it must never work again.
  const replay = await refusal(() => client.refreshTokenGrant(config, tokens.refresh_token))

  out({
    ok: true,
    issuer: metadata.issuer,
    discovered: {
      authorization_endpoint: metadata.authorization_endpoint,
      token_endpoint: metadata.token_endpoint,
      userinfo_endpoint: metadata.userinfo_endpoint,
      revocation_endpoint: metadata.revocation_endpoint,
      end_session_endpoint: metadata.end_session_endpoint,
      jwks_uri: metadata.jwks_uri,
    },
    id_token: { header: idToken.protectedHeader, claims: idTokenClaims },
    access_token: { header: access.protectedHeader, claims: access.payload },
    userinfo,
    refreshed: {
      rotated: refreshed.refresh_token !== tokens.refresh_token,
      id_token_claims: refreshedClaims,
    },
    userinfo_after_revoke: userinfoAfterRevoke,
    refresh_after_revoke: refreshAfterRevoke,
    replayed_refresh_token: replay,
  })
}

main().catch((err) => {
  out({ ok: false, ...failure(err), cause: err?.cause?.message ?? String(err?.cause ?? '') })
  process.exit(1)
})
