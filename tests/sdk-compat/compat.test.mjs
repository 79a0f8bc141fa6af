// Wire compatibility of the REST bridge with the official @upstash/redis SDK.
// Needs UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (run.sh provides both).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { Redis } from "@upstash/redis";

const url = process.env.UPSTASH_REDIS_REST_URL;
const token = process.env.UPSTASH_REDIS_REST_TOKEN;
if (!url || !token) {
  throw new Error("set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (tests/sdk-compat/run.sh does)");
}

// Each mode exercises a different path through the bridge: the SDK's default
// auto-pipelining (POST /pipeline, base64), plain POST / with base64, and POST / without it.
const modes = {
  "default options (auto-pipelining, base64)": {},
  "single commands, base64": { enableAutoPipelining: false },
  "single commands, no base64": { enableAutoPipelining: false, responseEncoding: false },
};

const client = (options) => new Redis({ url, token, enableTelemetry: false, retry: false, ...options });
const key = (name) => `sdk-compat:${randomUUID()}:${name}`;

for (const [mode, options] of Object.entries(modes)) {
  describe(mode, () => {
    const redis = client(options);

    test("set/get with expiry, strings, numbers, JSON and nil", async () => {
      const k = key("str");
      assert.equal(await redis.set(k, "héllo ✓ wörld", { ex: 100 }), "OK");
      assert.equal(await redis.get(k), "héllo ✓ wörld");
      const ttl = await redis.ttl(k);
      assert.ok(ttl > 0 && ttl <= 100, `ttl ${ttl}`);

      const n = key("num");
      await redis.set(n, 41);
      assert.equal(await redis.incr(n), 42);
      assert.equal(await redis.get(n), 42);

      const j = key("json");
      const doc = { user: "ada", roles: ["admin", "ops"], nested: { ok: true, n: 1.5 }, quote: "\"OK\"" };
      await redis.set(j, doc);
      assert.deepEqual(await redis.get(j), doc);

      assert.equal(await redis.get(key("missing")), null);
      assert.deepEqual(await redis.mget(k, key("missing")), ["héllo ✓ wörld", null]);
      assert.equal(await redis.set(k, "OK"), "OK");
      assert.equal(await redis.get(k), "OK");
      assert.equal(await redis.exists(k, key("missing")), 1);
      assert.equal(await redis.del(k, n, j), 3);
    });

    test("hashes, lists, sets and sorted sets", async () => {
      const h = key("hash");
      assert.equal(await redis.hset(h, { name: "ada", visits: 3 }), 2);
      assert.deepEqual(await redis.hgetall(h), { name: "ada", visits: 3 });
      assert.equal(await redis.hget(h, "name"), "ada");

      const l = key("list");
      await redis.rpush(l, "a", "b", "c");
      assert.deepEqual(await redis.lrange(l, 0, -1), ["a", "b", "c"]);

      const s = key("set");
      await redis.sadd(s, "x", "y");
      assert.deepEqual((await redis.smembers(s)).sort(), ["x", "y"]);

      const z = key("zset");
      await redis.zadd(z, { score: 2, member: "two" }, { score: 1.5, member: "one" });
      assert.deepEqual(await redis.zrange(z, 0, -1, { withScores: true }), ["one", 1.5, "two", 2]);
      assert.equal(await redis.type(z), "zset");
      assert.equal(await redis.ping(), "PONG");
    });

    test("pipeline", async () => {
      const k = key("pipe");
      const p = redis.pipeline();
      p.set(k, 1);
      p.incr(k);
      p.get(k);
      p.get(key("missing"));
      assert.deepEqual(await p.exec(), ["OK", 2, 2, null]);

      const failing = redis.pipeline();
      failing.set(k, "text");
      failing.incr(k);
      failing.get(k);
      const results = await failing.exec({ keepErrors: true });
      assert.equal(results[0].result, "OK");
      assert.match(results[1].error, /ERR value is not an integer/);
      assert.equal(results[2].result, "text");

      const again = redis.pipeline();
      again.incr(k);
      await assert.rejects(again.exec(), /ERR value is not an integer/);
    });

    test("multi-exec transaction", async () => {
      const k = key("tx");
      const tx = redis.multi();
      tx.set(k, 10);
      tx.incrby(k, 5);
      tx.get(k);
      tx.expire(k, 100);
      assert.deepEqual(await tx.exec(), ["OK", 15, 15, 1]);

      const h = key("tx-hash");
      const objects = redis.multi();
      objects.hset(h, { a: "1" });
      objects.hgetall(h);
      assert.deepEqual(await objects.exec(), [1, { a: 1 }]);
    });

    test("eval", async () => {
      assert.equal(await redis.eval("return ARGV[1]", [], ["hello"]), "hello");
      assert.equal(await redis.eval("return tonumber(ARGV[1]) + 1", [], [41]), 42);
      const k = key("eval");
      assert.deepEqual(
        await redis.eval("redis.call('SET', KEYS[1], ARGV[1]) return {KEYS[1], redis.call('GET', KEYS[1]), 7}", [k], ["v"]),
        [k, "v", 7],
      );
      assert.equal(await redis.eval("return redis.status_reply('OK')", [], []), "OK");
      assert.equal(await redis.eval("return nil", [], []), null);
    });

    test("scriptLoad + evalsha, NOSCRIPT and the Script fallback", async () => {
      const source = `return redis.call('INCRBY', KEYS[1], ARGV[1]) -- ${randomUUID()}`;
      const sha = createHash("sha1").update(source).digest("hex");
      const k = key("script");

      await assert.rejects(redis.evalsha(sha, [k], [1]), /NOSCRIPT/);

      assert.equal(await redis.scriptLoad(source), sha);
      assert.deepEqual(await redis.scriptExists(sha), [1]);
      assert.equal(await redis.evalsha(sha, [k], [2]), 2);

      // createScript: EVALSHA first, EVAL on NOSCRIPT, then cached.
      const fresh = `return ARGV[1] .. ':' .. KEYS[1] -- ${randomUUID()}`;
      const script = redis.createScript(fresh);
      assert.equal(await script.exec([k], ["x"]), `x:${k}`);
      const freshSha = createHash("sha1").update(fresh).digest("hex");
      assert.deepEqual(await redis.scriptExists(freshSha), [1]);
      assert.equal(await script.exec([k], ["y"]), `y:${k}`);
    });

    test("redis errors come back with their text", async () => {
      const k = key("wrongtype");
      await redis.set(k, "v");
      await assert.rejects(redis.lpush(k, "x"), /WRONGTYPE/);
    });
  });
}

test("a wrong token is rejected with 401 Unauthorized", async () => {
  const wrong = new Redis({ url, token: "not-the-token", enableTelemetry: false, retry: false, enableAutoPipelining: false });
  await assert.rejects(wrong.get("anything"), /Unauthorized/);
});
