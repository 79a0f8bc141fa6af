// The edge's work for an authenticated `GET /api/profile`, written as a plain JavaScript
// worker. Benchmark reference only (bench/, docs/performance.md): it runs in the same workerd
// process as the Rust edge, so the table shows what this runtime costs for the same traffic.
//
// Per request, like the Rust edge: verify the Ed25519 access token with WebCrypto, check its
// claims, one `HMGET` to the Upstash REST bridge, one fetch to the origin with identity headers
// signed as the Rust edge signs them (HMAC-SHA256 with the edge secret over the canonical form
// of core/src/edge_signature.rs, WebCrypto both for the body's SHA-256 and the HMAC; fresh
// nonce and timestamp), then the origin's body streamed back with the security headers and one
// access-log line. The origin therefore does the same work for it as for the Rust edge and
// answers the same 200. Its own refusals are 403, so a benchmark can tell them from the
// origin's 401.

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
// Parsed once per isolate, as the Rust edge parses its configuration once.
let assertionKeys = null;
let notesUpstream = null;
const b64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const b64json = (value) => b64url(encoder.encode(JSON.stringify(value)));

async function assertion(env, claims, roles, audience) {
  const cacheKey = `${claims.sid}|${audience}|${roles.join(" ")}`;
  const now = Math.floor(Date.now() / 1000);
  const cached = assertions.get(cacheKey);
  if (cached && now + 30 <= cached.exp) return cached.token;
  assertionKeys ??= JSON.parse(env.EDGEAUTH_ASSERTION_KEYS);
  const key = assertionKeys.keys.find((k) => k.kid === assertionKeys.current);
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
  notesUpstream ??= JSON.parse(env.EDGEAUTH_ROUTES).upstreams.find((u) => u.id === "notes");
  const upstream = notesUpstream;
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
