// The edge's work for an authenticated `GET /api/profile`, written as a plain JavaScript
// worker. Benchmark reference only (bench/, docs/performance.md): it runs in the same workerd
// process as the Rust edge, so the table shows what this runtime costs for the same traffic.
//
// Per request, like the Rust edge: verify the Ed25519 access token with WebCrypto, check its
// claims, one `HMGET` to the Upstash REST bridge, one fetch to the origin with identity headers,
// then the origin's body streamed back with the security headers and one access-log line.
// It does not sign its origin request, so the origin answers 401 without touching Redis:
// everything downstream does less work than for the real edge. Its own refusals are 403, so
// a benchmark can tell them from the origin's 401.

// For app paths (`/notes/...`, the route table's `notes` upstream) it does what the Rust edge
// does for an app rule requiring the role `admin`: the same token and session checks, the
// roles from the same HMGET, the identity assertion (Ed25519 with WebCrypto, reused per
// session, upstream and roles for 30 of its 60 s), the client's headers filtered, the app's
// response streamed back with the gateway's security headers.

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

const HOP_BY_HOP = new Set([
  "connection", "content-length", "host", "keep-alive", "proxy-authenticate", "proxy-authorization",
  "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
]);
const APP_ALWAYS = {
  "strict-transport-security": "max-age=63072000; includeSubDomains",
  "x-content-type-options": "nosniff",
};
const APP_UNLESS_SET = {
  "content-security-policy": "frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
};
const assertions = new Map();
let signer = null;
const b64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const b64json = (value) => b64url(encoder.encode(JSON.stringify(value)));

async function assertion(env, claims, roles, audience) {
  const cacheKey = `${claims.sid}|${audience}|${roles.join(" ")}`;
  const now = Math.floor(Date.now() / 1000);
  const cached = assertions.get(cacheKey);
  if (cached && now + 30 <= cached.exp) return cached.token;
  const keys = JSON.parse(env.EDGEAUTH_ASSERTION_KEYS);
  const key = keys.keys.find((k) => k.kid === keys.current);
  signer ??= await crypto.subtle.importKey(
    "jwk", { kty: "OKP", crv: "Ed25519", d: key.d, x: key.x }, { name: "Ed25519" }, false, ["sign"]);
  const input = `${b64json({ alg: "EdDSA", typ: "edgeauth-assertion+jwt", kid: key.kid })}.${b64json({
    iss: env.EDGEAUTH_ISSUER, aud: audience, sub: claims.sub, sid: claims.sid, roles, iat: now, exp: now + 60,
  })}`;
  const signature = await crypto.subtle.sign("Ed25519", signer, encoder.encode(input));
  const token = `${input}.${b64url(signature)}`;
  if (assertions.size >= 1024) assertions.clear();
  assertions.set(cacheKey, { token, exp: now + 60 });
  return token;
}

async function toApp(request, env, url, claims, roles) {
  const upstream = JSON.parse(env.EDGEAUTH_ROUTES).upstreams.find((u) => u.id === "notes");
  const headers = new Headers();
  for (const [name, value] of request.headers) {
    if (HOP_BY_HOP.has(name) || name.startsWith("cf-") || name.startsWith("edgeauth-") ||
        name.startsWith("x-edgeauth-") || name.startsWith("x-forwarded-") || name === "authorization") continue;
    if (name === "cookie") {
      const kept = value.split(";").map((c) => c.trim()).filter((c) => !c.toLowerCase().startsWith("__host-edgeauth"));
      if (kept.length) headers.set("cookie", kept.join("; "));
      continue;
    }
    headers.append(name, value);
  }
  headers.set("x-forwarded-for", request.headers.get("cf-connecting-ip") ?? "unknown");
  headers.set("x-forwarded-host", url.host);
  headers.set("x-forwarded-proto", url.protocol.replace(":", ""));
  headers.set("edgeauth-assertion", await assertion(env, claims, roles, upstream.id));
  const app = await fetch(`${upstream.url}${url.pathname}${url.search}`, {
    method: request.method, headers, body: request.body, redirect: "manual",
    signal: AbortSignal.timeout(upstream.timeout_ms ?? 30000),
  });
  const out = new Headers();
  for (const [name, value] of app.headers) {
    if (!HOP_BY_HOP.has(name) && name !== "server" && name !== "x-powered-by" && !name.startsWith("access-control-")) {
      out.append(name, value);
    }
  }
  for (const [name, value] of Object.entries(APP_UNLESS_SET)) if (!out.has(name)) out.set(name, value);
  for (const [name, value] of Object.entries(APP_ALWAYS)) out.set(name, value);
  const requestId = crypto.randomUUID();
  out.set("x-request-id", requestId);
  console.log(JSON.stringify({ msg: "request", request_id: requestId, status: app.status }));
  return new Response(app.body, { status: app.status, headers: out });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return new Response("ok");
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
      body: JSON.stringify(["HMGET", `ea:s:${claims.sid}`, "uid", "roles"]),
      signal: AbortSignal.timeout(Number(env.REDIS_TIMEOUT_MS)),
    });
    const { result } = await redis.json();
    if (!Array.isArray(result) || result[0] !== claims.sub) return refuse(403, "session_revoked");
    if (url.pathname.startsWith("/notes/")) {
      const roles = [...new Set((result[1] ?? "").split(" ").filter(Boolean))].sort();
      if (!roles.includes("admin")) return refuse(403, "forbidden");
      return toApp(request, env, url, claims, roles);
    }

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
