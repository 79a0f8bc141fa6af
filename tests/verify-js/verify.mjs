// Verifies an edgeauth identity assertion with jose, the way a Node app behind the edge would
// (docs/gateway.md, "Verifying the assertion in JavaScript"), and prints its claims as JSON.
//
// Usage:
//   node verify.mjs --jwks <url-or-file> --issuer <iss> --audience <aud> [--header-typ <typ>] <token>
// Each option also reads an environment variable: EDGEAUTH_JWKS, EDGEAUTH_ISSUER,
// EDGEAUTH_AUDIENCE, EDGEAUTH_ASSERTION (the token). Exit 0 and the claims on stdout when the
// assertion is valid; exit 1 and the reason on stderr when it is not; exit 2 on bad usage.

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';

export const ASSERTION_TYPE = 'edgeauth-assertion+jwt';
export const MAX_LIFETIME_SECONDS = 60;

/** The recipe: the same checks edgeauth-verify makes in Rust. */
export async function verifyAssertion(token, keySet, { issuer, audience }) {
  const { payload } = await jwtVerify(token, keySet, {
    algorithms: ['EdDSA'], // never "none", never HS256 with the public key
    typ: ASSERTION_TYPE,
    issuer,
    audience,
    clockTolerance: 5,
    maxTokenAge: MAX_LIFETIME_SECONDS + 5,
    requiredClaims: ['sub', 'sid', 'roles', 'iat', 'exp'],
  });
  if (typeof payload.aud !== 'string') throw new Error('aud must be one string');
  if (payload.exp - payload.iat > MAX_LIFETIME_SECONDS) throw new Error('lifetime over 60 s');
  if (typeof payload.sid !== 'string' || payload.sid === '') throw new Error('sid missing');
  if (!Array.isArray(payload.roles) || !payload.roles.every((r) => typeof r === 'string')) {
    throw new Error('roles must be an array of strings');
  }
  return payload;
}

/** A JWKS from a URL (fetched and cached by jose) or from a file. */
export async function keySetFrom(source) {
  if (/^https?:\/\//.test(source)) return createRemoteJWKSet(new URL(source));
  return createLocalJWKSet(JSON.parse(await readFile(source, 'utf8')));
}

async function main() {
  const { values, positionals } = parseArgs({
    options: {
      jwks: { type: 'string', default: process.env.EDGEAUTH_JWKS },
      issuer: { type: 'string', default: process.env.EDGEAUTH_ISSUER },
      audience: { type: 'string', default: process.env.EDGEAUTH_AUDIENCE },
    },
    allowPositionals: true,
  });
  const token = positionals[0] ?? process.env.EDGEAUTH_ASSERTION;
  if (!values.jwks || !values.issuer || !values.audience || !token) {
    console.error('usage: node verify.mjs --jwks <url-or-file> --issuer <iss> --audience <aud> <token>');
    process.exit(2);
  }
  try {
    const keySet = await keySetFrom(values.jwks);
    const claims = await verifyAssertion(token, keySet, values);
    console.log(JSON.stringify(claims));
  } catch (error) {
    console.error(`invalid assertion: ${error.code ?? error.name}: ${error.message}`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
