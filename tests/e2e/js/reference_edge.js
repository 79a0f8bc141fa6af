// The edge's work for an authenticated `GET /api/profile`, written as a plain JavaScript
// worker. Benchmark reference only (bench/, docs/performance.md): it runs in the same workerd
// process as the Rust edge, so the table shows what this runtime costs for the same traffic.
//
// Per request, like the Rust edge: verify the Ed25519 access token with WebCrypto, check its
// claims, one `HGET` to the Upstash REST bridge, one fetch to the origin with identity headers
// signed as the Rust edge signs them (HMAC-SHA256 with the edge secret over the canonical form
// of core/src/edge_signature.rs, WebCrypto both for the body's SHA-256 and the HMAC; fresh
// nonce and timestamp), then the origin's body streamed back with the security headers and one
// access-log line. The origin therefore does the same work for it as for the Rust edge and
// answers the same 200. Its own refusals are 403, so a benchmark can tell them from the
// origin's 401.

const SECURITY_HEADERS = {
  "strict-transport-security": "max-age=63072000; includeSubDomains",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "cache-control": "no-store",
};
const keys = new Map();
let edgeSecret = null;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

const base64url = (text) =>
  Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

function refuse(status, code) {
  const body = JSON.stringify({ error: { code, message: code } });
  return new Response(body, {
    status,
    headers: { ...SECURITY_HEADERS, "content-type": "application/json" },
  });
}

const hex = (bytes) =>
  Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");

// The edge secret as an HMAC key, imported once per isolate (base64, standard or URL-safe).
async function hmacKey(env) {
  if (!edgeSecret) {
    const raw = base64url(env.EDGEAUTH_EDGE_SECRET.trim().replace(/=+$/, ""));
    edgeSecret = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  }
  return edgeSecret;
}

// The x-edgeauth-* headers of a signed origin request (core/src/edge_signature.rs).
async function signedHeaders(env, method, pathAndQuery, identity, requestId, clientIp, body) {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = hex(crypto.getRandomValues(new Uint8Array(16)));
  const canonical = [
    "edgeauth-v1",
    timestamp,
    nonce,
    method,
    pathAndQuery,
    identity.user,
    identity.session,
    requestId,
    clientIp,
    hex(await crypto.subtle.digest("SHA-256", body)),
  ].join("\n");
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(env), encoder.encode(canonical));
  return {
    "x-edgeauth-request-id": requestId,
    "x-edgeauth-client-ip": clientIp,
    "x-edgeauth-timestamp": timestamp,
    "x-edgeauth-nonce": nonce,
    "x-edgeauth-user": identity.user,
    "x-edgeauth-session": identity.session,
    "x-edgeauth-signature": `v1=${hex(mac)}`,
  };
}

async function key(env, kid) {
  if (!keys.has(kid)) {
    const jwk = JSON.parse(env.EDGEAUTH_JWKS).keys.find((k) => k.kid === kid && k.crv === "Ed25519");
    if (!jwk) return null;
    keys.set(kid, await crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["verify"]));
  }
  return keys.get(kid);
}

export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === "/healthz") return new Response("ok");
    const token = (request.headers.get("authorization") ?? "").replace(/^Bearer /, "");
    const [head, body, signature] = token.split(".");
    if (!signature) return refuse(403, "invalid_token");
    const header = JSON.parse(decoder.decode(base64url(head)));
    const claims = JSON.parse(decoder.decode(base64url(body)));
    const now = Date.now() / 1000;
    const verifier = header.alg === "EdDSA" && header.typ === "at+jwt" && (await key(env, header.kid));
    if (
      !verifier ||
      claims.iss !== env.EDGEAUTH_ISSUER ||
      claims.aud !== env.EDGEAUTH_AUDIENCE ||
      !(claims.exp > now - 30 && claims.nbf <= now + 30) ||
      !(await crypto.subtle.verify("Ed25519", verifier, base64url(signature), encoder.encode(`${head}.${body}`)))
    ) {
      return refuse(403, "invalid_token");
    }

    const redis = await fetch(`${env.UPSTASH_REDIS_REST_URL}/`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(["HGET", `ea:s:${claims.sid}`, "uid"]),
      signal: AbortSignal.timeout(Number(env.REDIS_TIMEOUT_MS)),
    });
    const { result } = await redis.json();
    if (result !== claims.sub) return refuse(403, "session_revoked");

    const requestId = crypto.randomUUID();
    const clientIp = request.headers.get("cf-connecting-ip") ?? "unknown";
    const identity = { user: claims.sub, session: claims.sid };
    const headers = await signedHeaders(env, "GET", "/api/profile", identity, requestId, clientIp, new Uint8Array(0));
    const origin = await fetch(`${env.ORIGIN_URL}/api/profile`, {
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(Number(env.ORIGIN_TIMEOUT_MS)),
    });
    console.log(JSON.stringify({ msg: "request", request_id: requestId, status: origin.status }));
    return new Response(origin.body, {
      status: origin.status,
      headers: {
        ...SECURITY_HEADERS,
        "content-type": origin.headers.get("content-type") ?? "application/json",
        "x-request-id": requestId,
      },
    });
  },
};
