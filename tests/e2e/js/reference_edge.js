// The edge's work for an authenticated `GET /api/profile`, written as a plain JavaScript
// worker. Benchmark reference only (bench/, docs/performance.md): it runs in the same workerd
// process as the Rust edge, so the table shows what this runtime costs for the same traffic.
//
// Per request, like the Rust edge: verify the Ed25519 access token with WebCrypto, check its
// claims, one `HGET` to the Upstash REST bridge, one fetch to the origin with identity headers,
// then the origin's body streamed back with the security headers and one access-log line.
// It does not sign its origin request, so the origin answers 401 without touching Redis:
// everything downstream does less work than for the real edge. Its own refusals are 403, so
// a benchmark can tell them from the origin's 401.

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
    const origin = await fetch(`${env.ORIGIN_URL}/api/profile`, {
      headers: {
        "x-edgeauth-user-id": claims.sub,
        "x-edgeauth-session-id": claims.sid,
        "x-edgeauth-request-id": requestId,
        "x-edgeauth-client-ip": request.headers.get("cf-connecting-ip") ?? "unknown",
      },
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
