// The benchmark's yardstick, not part of edgeauth: an auth server written the way the classic
// "JWT auth with Express and Redis" tutorial writes it, so `make bench` can put edgeauth's
// figures beside it in the same run on the same machine (docs/performance.md).
//
// - register / login: bcryptjs at cost 12, users as Redis hashes;
// - access tokens: jsonwebtoken HS256 (15 min), verified in the app on every request, after a
//   Redis GET of the token's blacklist key (the tutorial's logout);
// - refresh tokens: random, stored in Redis (7 days), rotated on every use;
// - logout: blacklists the access token until it expires, deletes the refresh token;
// - one Node process, one Redis connection.
//
// The same routes and JSON shapes as edgeauth's API (/api/register, /api/login, /api/refresh,
// /api/logout, /api/profile), so the benchmark drives both with the same requests.
//
// Environment: PORT, REDIS_URL, JWT_SECRET (any string; the bench passes a random one).

"use strict";

const crypto = require("node:crypto");
const express = require("express");
const jwt = require("jsonwebtoken");
const bcrypt = require("bcryptjs");
const { createClient } = require("redis");

const PORT = Number(process.env.PORT || 3000);
const JWT_SECRET = process.env.JWT_SECRET;
const ACCESS_TTL = 15 * 60;
const REFRESH_TTL = 7 * 24 * 3600;
const BCRYPT_COST = 12;

if (!JWT_SECRET) {
  console.error("JWT_SECRET is required");
  process.exit(2);
}

const redis = createClient({ url: process.env.REDIS_URL || "redis://127.0.0.1:6379" });
redis.on("error", (err) => console.error("redis:", err.message));

const app = express();
app.use(express.json());

const fail = (res, status, code) => res.status(status).json({ error: { code, message: code } });

function issueTokens(user) {
  const access = jwt.sign(
    { sub: user.id, email: user.email, username: user.username },
    JWT_SECRET,
    { algorithm: "HS256", expiresIn: ACCESS_TTL },
  );
  const refresh = crypto.randomBytes(32).toString("hex");
  return { access, refresh };
}

const publicUser = (user) => ({ id: user.id, email: user.email, username: user.username });

async function storeRefresh(token, userId) {
  await redis.set(`refresh:${token}`, userId, { EX: REFRESH_TTL });
}

// The tutorial's middleware: blacklist lookup, then jwt.verify.
async function authenticate(req, res, next) {
  const header = req.headers.authorization || "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : null;
  if (!token) return fail(res, 401, "invalid_token");
  try {
    if (await redis.get(`blacklist:${token}`)) return fail(res, 401, "invalid_token");
    req.user = jwt.verify(token, JWT_SECRET, { algorithms: ["HS256"] });
    req.token = token;
    next();
  } catch (err) {
    if (err instanceof jwt.JsonWebTokenError) return fail(res, 401, "invalid_token");
    next(err);
  }
}

app.post("/api/register", async (req, res, next) => {
  try {
    const { email, username, password } = req.body || {};
    if (typeof email !== "string" || typeof password !== "string" || password.length < 8) {
      return fail(res, 400, "invalid_request");
    }
    const key = `user:${email.toLowerCase()}`;
    if (await redis.exists(key)) return fail(res, 409, "email_taken");
    const user = {
      id: crypto.randomUUID(),
      email: email.toLowerCase(),
      username: typeof username === "string" ? username : email,
      password: await bcrypt.hash(password, BCRYPT_COST),
      created_at: String(Math.floor(Date.now() / 1000)),
    };
    await redis.hSet(key, user);
    res.status(201).json({ user: publicUser(user) });
  } catch (err) {
    next(err);
  }
});

app.post("/api/login", async (req, res, next) => {
  try {
    const { email, password } = req.body || {};
    if (typeof email !== "string" || typeof password !== "string") {
      return fail(res, 400, "invalid_request");
    }
    const user = await redis.hGetAll(`user:${email.toLowerCase()}`);
    if (!user.id || !(await bcrypt.compare(password, user.password))) {
      return fail(res, 401, "invalid_credentials");
    }
    const { access, refresh } = issueTokens(user);
    await storeRefresh(refresh, user.email);
    res.json({ access_token: access, refresh_token: refresh, token_type: "Bearer", user: publicUser(user) });
  } catch (err) {
    next(err);
  }
});

app.post("/api/refresh", async (req, res, next) => {
  try {
    const token = (req.body || {}).refresh_token;
    if (typeof token !== "string") return fail(res, 400, "invalid_request");
    const email = await redis.get(`refresh:${token}`);
    if (!email) return fail(res, 401, "invalid_token");
    await redis.del(`refresh:${token}`);
    const user = await redis.hGetAll(`user:${email}`);
    if (!user.id) return fail(res, 401, "invalid_token");
    const { access, refresh } = issueTokens(user);
    await storeRefresh(refresh, user.email);
    res.json({ access_token: access, refresh_token: refresh, token_type: "Bearer", user: publicUser(user) });
  } catch (err) {
    next(err);
  }
});

app.post("/api/logout", authenticate, async (req, res, next) => {
  try {
    const ttl = Math.max(1, req.user.exp - Math.floor(Date.now() / 1000));
    await redis.set(`blacklist:${req.token}`, "1", { EX: ttl });
    const refresh = (req.body || {}).refresh_token;
    if (typeof refresh === "string") await redis.del(`refresh:${refresh}`);
    res.status(204).end();
  } catch (err) {
    next(err);
  }
});

app.get("/api/profile", authenticate, (req, res) => {
  res.json({ user: { id: req.user.sub, email: req.user.email, username: req.user.username } });
});

app.get("/healthz", (_req, res) => res.send("ok"));

// eslint-disable-next-line no-unused-vars
app.use((err, _req, res, _next) => {
  console.error(err);
  fail(res, 500, "internal");
});

redis.connect().then(
  () => app.listen(PORT, "127.0.0.1", () => console.log(`baseline listening on ${PORT}`)),
  (err) => {
    console.error("cannot reach redis:", err.message);
    process.exit(1);
  },
);
