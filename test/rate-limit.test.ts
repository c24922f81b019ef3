// Issue 3, promise 6: an optional per-API-key rate limit (`--rate-limit N`, burst B, default 2N)
// answers 429 {"error": "Too many requests"} with Retry-After and RateLimit-* headers; off by
// default. In-process with the movable clock, plus one real server started with the flags.
import { afterEach, describe, expect, test } from "bun:test";
import { apiKeyPrefix, hashApiKey, newApiKeySecret } from "../src/ids";
import { createWorld, type World } from "./helpers";
import { cleanEnv, ENTRY, randomApiKey, spawnProcess, startServerProcess, tempDir, withTimeout, type RunningProcess } from "./process-helpers";

const ENTRIES = "/api/v1/datastore/entries";
const TOO_MANY = { error: "Too many requests" };
const UNAUTHORIZED = { error: "Authentication required" };
const MIB = 1024 * 1024;

type Answer = Awaited<ReturnType<World["request"]>>;

const RATE_HEADERS = ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after"];
const rateHeaders = (response: Answer | { headers: Headers }) =>
  Object.fromEntries(RATE_HEADERS.filter((name) => response.headers.has(name)).map((name) => [name, response.headers.get(name)]));

/** A 429 of SPEC §4: the exact JSON body, JSON Content-Type, whole-second Retry-After ≥ 1, RateLimit-*. */
function expectTooMany(response: Answer, limit: number) {
  expect({ status: response.status, json: response.json }).toEqual({ status: 429, json: TOO_MANY });
  expect(response.headers.get("content-type")).toStartWith("application/json");
  const retryAfter = response.headers.get("retry-after");
  expect(retryAfter).toMatch(/^[1-9]\d*$/);
  expect(response.headers.get("ratelimit-limit")).toBe(String(limit));
  expect(response.headers.get("ratelimit-remaining")).toBe("0");
  expect(response.headers.get("ratelimit-reset")).toMatch(/^[1-9]\d*$/);
  return Number(retryAfter);
}

/** A second API key of an organization (straight into the store, so no request spends a token). */
async function addKey(world: World, organizationId: string) {
  const token = newApiKeySecret();
  const key = await world.store.createApiKey({ organizationId, name: "second", keyHash: hashApiKey(token), keyPrefix: apiKeyPrefix(token) }, world.clock.now());
  return { token, keyId: key.id };
}

/** Sends `count` list requests with `token` at the current instant; their statuses. */
async function burstOf(world: World, count: number, token = world.token): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push((await world.list("", { token })).status);
  return statuses;
}

/** How many of the next requests pass before the first 429 (bounded by `max`). */
async function passing(world: World, token = world.token, max = 1000): Promise<number> {
  for (let i = 0; i < max; i++) {
    const response = await world.list("", { token });
    if (response.status === 429) return i;
    expect(response.status).toBe(200);
  }
  return max;
}

const ok = (n: number) => Array<number>(n).fill(200);

describe("off by default", () => {
  test("hundreds of requests at one instant: never a 429, never a RateLimit header", async () => {
    const world = await createWorld();
    for (let i = 0; i < 300; i++) {
      const response = i % 3 === 0 ? await world.list() : i % 3 === 1 ? await world.get("missing") : await world.put({ key: `k${i}`, value: i });
      expect(response.status).not.toBe(429);
      expect(rateHeaders(response)).toEqual({});
    }
  });
});

describe("burst", () => {
  test.each([
    [1, 1],
    [5, 10],
    [3, 7],
    [100, 200],
  ])("--rate-limit %d with burst %d: exactly the burst passes at once, then 429", async (perSecond, burst) => {
    const world = await createWorld({ rateLimit: { perSecond, burst } });
    expect(await burstOf(world, burst)).toEqual(ok(burst));
    expectTooMany(await world.list(), burst);
    // Refused requests spend nothing, and keep being refused while the clock stands still.
    for (let i = 0; i < 20; i++) expectTooMany(await world.list(), burst);
  });

  test("successful answers carry RateLimit-Limit, a Remaining that counts down, and RateLimit-Reset", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 2, burst: 5 } });
    const seen: Record<string, string | null>[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await world.list();
      expect(response.status).toBe(200);
      seen.push(rateHeaders(response));
    }
    // Reset: whole seconds until the bucket is full again, at 2 tokens/s.
    expect(seen).toEqual([
      { "ratelimit-limit": "5", "ratelimit-remaining": "4", "ratelimit-reset": "1" },
      { "ratelimit-limit": "5", "ratelimit-remaining": "3", "ratelimit-reset": "1" },
      { "ratelimit-limit": "5", "ratelimit-remaining": "2", "ratelimit-reset": "2" },
      { "ratelimit-limit": "5", "ratelimit-remaining": "1", "ratelimit-reset": "2" },
      { "ratelimit-limit": "5", "ratelimit-remaining": "0", "ratelimit-reset": "3" },
    ]);
    const refused = await world.list();
    expectTooMany(refused, 5);
    expect(rateHeaders(refused)).toEqual({ "ratelimit-limit": "5", "ratelimit-remaining": "0", "ratelimit-reset": "3", "retry-after": "1" });
  });

  test("answers that are errors after the limiter (404, 422) carry the RateLimit headers and spend a token", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 1, burst: 3 } });
    const missing = await world.get("missing");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("ratelimit-remaining")).toBe("2");
    const invalid = await world.put({ key: "", value: 1 });
    expect(invalid.status).toBe(422);
    expect(invalid.headers.get("ratelimit-remaining")).toBe("1");
    expect((await world.list()).status).toBe(200);
    expectTooMany(await world.list(), 3);
  });
});

describe("refill", () => {
  test("after 1 s exactly N more pass; after 200 ms at 5/s exactly one", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 5, burst: 10 } });
    expect(await passing(world)).toBe(10);
    world.clock.advance(1000);
    expect(await passing(world)).toBe(5);
    world.clock.advance(200);
    expect(await passing(world)).toBe(1);
    world.clock.advance(199);
    expectTooMany(await world.list(), 10);
  });

  test("fractions of a token add up: two 100 ms steps at 5/s give one request", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 5, burst: 5 } });
    expect(await passing(world)).toBe(5);
    world.clock.advance(100);
    expectTooMany(await world.list(), 5);
    world.clock.advance(100);
    expect(await passing(world)).toBe(1);
  });

  test("a long pause refills only up to the burst, never more", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 10, burst: 20 } });
    expect(await passing(world)).toBe(20);
    world.clock.advance(30_000);
    expect(await passing(world)).toBe(20);
  });

  test("Retry-After seconds later a request passes; RateLimit-Reset seconds later the whole burst does", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 2, burst: 6 } });
    expect(await passing(world)).toBe(6);
    const refused = await world.list();
    const retryAfter = expectTooMany(refused, 6);
    const reset = Number(refused.headers.get("ratelimit-reset"));
    expect(reset).toBe(3); // 6 tokens at 2/s
    world.clock.advance(retryAfter * 1000);
    expect((await world.list()).status).toBe(200);

    const again = await createWorld({ rateLimit: { perSecond: 2, burst: 6 } });
    expect(await passing(again)).toBe(6);
    again.clock.advance(reset * 1000);
    expect(await passing(again)).toBe(6);
  });

  test("a steady client at exactly the rate is never refused", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 4, burst: 1 } });
    for (let i = 0; i < 100; i++) {
      expect((await world.list()).status).toBe(200);
      world.clock.advance(250);
    }
  });

  // BUG (src/rate-limit.ts): buckets unseen for 60 s are forgotten on the assumption that they are
  // full again, which is false when burst / rate > 60 s. Here the key should regain 61 tokens in
  // 61 s, but its bucket is dropped and it gets the whole burst of 100.
  test("a bucket that needs more than 60 s to refill is not handed back full early", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 1, burst: 100 } });
    expect(await passing(world)).toBe(100);
    world.clock.advance(61_000);
    expect(await passing(world)).toBe(61);
  });

  // BUG (src/rate-limit.ts): the limiter runs on the wall clock (Date.now in the server) and a step
  // backwards (NTP, a VM resumed) makes `now - bucket.at` negative: the bucket goes deep below
  // zero, RateLimit-Remaining turns negative and the key is locked out for as long as the step.
  test("a wall clock that steps backwards neither locks a key out nor reports a negative Remaining", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 5, burst: 5 } });
    expect((await world.list()).status).toBe(200);
    world.clock.advance(-60_000);
    const response = await world.list();
    expect(Number(response.headers.get("ratelimit-remaining"))).toBeGreaterThanOrEqual(0);
    expect(response.status).toBe(200);
  });
});

describe("buckets are per API key", () => {
  test("two keys of one organization are limited separately", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 1, burst: 3 } });
    const second = await addKey(world, world.org.id);
    expect(await passing(world)).toBe(3);
    expectTooMany(await world.list(), 3);
    expect(await burstOf(world, 3, second.token)).toEqual(ok(3));
    expectTooMany(await world.list("", { token: second.token }), 3);
  });

  test("one organization's exhausted key leaves another organization untouched", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 1, burst: 4 } });
    const other = await world.addOrganization("other");
    expect(await passing(world)).toBe(4);
    const response = await world.list("", { token: other.token });
    expect(response.status).toBe(200);
    expect(response.headers.get("ratelimit-remaining")).toBe("3");
    expect(await passing(world, other.token)).toBe(3);
  });

  test("in dev mode each token has its own bucket", async () => {
    const world = await createWorld({ dev: true, rateLimit: { perSecond: 1, burst: 2 } });
    const [a, b] = [newApiKeySecret(), newApiKeySecret()];
    expect(await passing(world, a)).toBe(2);
    expect(await passing(world, b)).toBe(2);
  });
});

describe("what is not limited", () => {
  test("a bad key is always 401, never 429, and spends nobody's tokens", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 1, burst: 3 } });
    const bad = [newApiKeySecret(), "hklst_short", `${world.token.slice(0, -1)}${world.token.endsWith("A") ? "B" : "A"}`];
    for (let i = 0; i < 60; i++) {
      const response = await world.list("", { token: bad[i % bad.length]! });
      expect({ status: response.status, json: response.json }).toEqual({ status: 401, json: UNAUTHORIZED });
      expect(rateHeaders(response)).toEqual({});
    }
    for (let i = 0; i < 20; i++) expect((await world.list("", { token: null })).status).toBe(401);
    expect(await passing(world)).toBe(3);
  });

  test("a revoked key with an empty bucket gets 401, not 429", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 1, burst: 2 } });
    expect(await passing(world)).toBe(2);
    await world.store.revokeApiKey(world.keyId, world.clock.now());
    const response = await world.list();
    expect({ status: response.status, json: response.json }).toEqual({ status: 401, json: UNAUTHORIZED });
  });

  test("an exhausted key still gets 404 for unknown routes, 405 for wrong methods, and /healthz; none spends a token", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 1, burst: 2 } });
    const second = await addKey(world, world.org.id);
    expect(await passing(world)).toBe(2);
    for (let i = 0; i < 10; i++) {
      expect((await world.request("GET", "/api/v1/nope")).status).toBe(404);
      expect((await world.request("POST", ENTRIES, { body: { entry: { key: "k", value: 1 } } })).status).toBe(405);
      expect((await world.request("GET", "/healthz", { token: null })).status).toBe(200);
      // The same with a key that has tokens: they stay unspent.
      expect((await world.request("PATCH", "/api/v1/datastore", { token: second.token })).status).toBe(405);
      expect((await world.request("GET", "/api/v1/datastore/nope", { token: second.token })).status).toBe(404);
    }
    expect(await passing(world, second.token)).toBe(2);
  });
});

describe("429 on every endpoint", () => {
  const endpoints: [string, string, (world: World) => [string, string, unknown?]][] = [
    ["list", "GET", () => ["GET", "/api/v1/datastore?namespace=default&prefix=a"]],
    ["get", "GET", () => ["GET", `${ENTRIES}/a/b:c`]],
    ["put", "PUT", () => ["PUT", ENTRIES, { entry: { key: "k", value: 1 } }]],
    ["delete", "DELETE", () => ["DELETE", `${ENTRIES}/k`]],
    ["namespaces", "GET", () => ["GET", "/api/v1/datastore/namespaces"]],
    ["organizations", "GET", () => ["GET", "/api/v1/organizations"]],
    ["api-keys list", "GET", (world) => ["GET", `/api/v1/organizations/${world.org.id}/api-keys`]],
    ["api-keys create", "POST", (world) => ["POST", `/api/v1/organizations/${world.org.id}/api-keys`, { name: "x" }]],
    ["api-keys revoke", "DELETE", (world) => ["DELETE", `/api/v1/organizations/${world.org.id}/api-keys/${world.keyId}`]],
  ];

  test.each(endpoints)("%s (%s)", async (_, __, route) => {
    const world = await createWorld({ rateLimit: { perSecond: 3, burst: 3 } });
    expect(await passing(world)).toBe(3);
    const [method, path, body] = route(world);
    const response = await world.request(method, path, { body });
    expectTooMany(response, 3);
    expect(response.headers.get("retry-after")).toBe("1");
    expect(response.headers.get("ratelimit-reset")).toBe("1");
  });

  test("a refused PUT writes nothing and a refused DELETE deletes nothing", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 1, burst: 2 } });
    expect((await world.put({ key: "kept", value: "before" })).status).toBe(200);
    expect((await world.list()).status).toBe(200);
    expectTooMany(await world.put({ key: "kept", value: "after" }), 2);
    expectTooMany(await world.put({ key: "new", value: 1 }), 2);
    expectTooMany(await world.request("DELETE", `${ENTRIES}/kept`), 2);
    expectTooMany(await world.request("POST", `/api/v1/organizations/${world.org.id}/api-keys`, { body: { name: "refused" } }), 2);
    world.clock.advance(10_000);
    const list = await world.list();
    expect(list.json.data.map((entry: any) => [entry.key, entry.value])).toEqual([["kept", "before"]]);
    expect((await world.store.listApiKeys(world.org.id)).map((key) => key.name)).toEqual(["test"]);
  });

  test("429 comes before 403, 413, 415, 400 and 422 (the body is never looked at)", async () => {
    const world = await createWorld({ rateLimit: { perSecond: 1, burst: 1 } });
    const free = await world.addOrganization("free", "free");
    expect((await world.list("", { token: free.token })).status).toBe(403);
    expectTooMany(await world.list("", { token: free.token }), 1);

    expect(await passing(world)).toBe(1);
    const big = JSON.stringify({ entry: { key: "k", value: "x".repeat(MIB) } });
    expectTooMany(await world.request("PUT", ENTRIES, { body: big, headers: { "content-length": String(big.length) } }), 1);
    expectTooMany(await world.request("PUT", ENTRIES, { body: "hello", headers: { "content-type": "text/plain" } }), 1);
    expectTooMany(await world.request("PUT", ENTRIES, { body: "{not json" }), 1);
    expectTooMany(await world.put({ key: "", value: null }), 1);
  });
});

describe("the real server", () => {
  const TIMEOUT = 30_000;
  let children: RunningProcess[] = [];
  let cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const child of children) child.kill();
    for (const cleanup of cleanups) cleanup();
    children = [];
    cleanups = [];
  });

  async function serve(args: string[]) {
    const { dir, cleanup } = tempDir("datastore-rate-");
    cleanups.push(cleanup);
    const key = randomApiKey();
    const server = await startServerProcess(["serve", "--port", "0", "--db", `${dir}/datastore.db`, ...args], { env: cleanEnv({ DATASTORE_BOOTSTRAP_KEY: key }) });
    children.push(server);
    const list = async () => {
      const response = await withTimeout(fetch(`${server.url}/api/v1/datastore`, { headers: { authorization: `Bearer ${key}` } }), 5_000, "GET /api/v1/datastore");
      return { status: response.status, headers: response.headers, text: await response.text() };
    };
    return { server, list };
  }

  test(
    "serve --rate-limit 5 --rate-limit-burst 5 answers 429 on the 6th quick request",
    async () => {
      const { list } = await serve(["--rate-limit", "5", "--rate-limit-burst", "5"]);
      // Six requests at once. At 5 tokens/s a round that takes 200 ms or more would have earned
      // the 6th a token, so a round slower than 150 ms (a loaded machine) is retried once the
      // bucket has refilled, rather than judged.
      let judged = false;
      for (let round = 0; round < 4 && !judged; round++) {
        if (round > 0) await Bun.sleep(1_200);
        const start = performance.now();
        const answers = await Promise.all(Array.from({ length: 6 }, list));
        const elapsed = performance.now() - start;
        if (elapsed > 150) continue;
        judged = true;
        expect(answers.map((answer) => answer.status).sort()).toEqual([200, 200, 200, 200, 200, 429]);
        const refused = answers.find((answer) => answer.status === 429)!;
        expect(JSON.parse(refused.text)).toEqual(TOO_MANY);
        expect(refused.headers.get("content-type")).toStartWith("application/json");
        expect(rateHeaders(refused)).toEqual({ "ratelimit-limit": "5", "ratelimit-remaining": "0", "ratelimit-reset": "1", "retry-after": "1" });
        for (const answer of answers.filter((answer) => answer.status === 200)) expect(answer.headers.get("ratelimit-limit")).toBe("5");
      }
      expect(judged).toBe(true);
      // After Retry-After (1 s) the key works again.
      await Bun.sleep(1_100);
      expect((await list()).status).toBe(200);
    },
    TIMEOUT,
  );

  test(
    "without --rate-limit the real server sends 100 quick requests through, with no RateLimit headers",
    async () => {
      const { list } = await serve([]);
      const answers = await Promise.all(Array.from({ length: 100 }, list));
      expect(new Set(answers.map((answer) => answer.status))).toEqual(new Set([200]));
      for (const answer of answers) expect(rateHeaders(answer)).toEqual({});
    },
    TIMEOUT,
  );

  test(
    "serve --help lists --rate-limit and --rate-limit-burst",
    async () => {
      const child = spawnProcess([process.execPath, ENTRY, "serve", "--help"], { env: cleanEnv() });
      children.push(child);
      expect(await child.exited(15_000)).toBe(0);
      expect(child.stdout()).toMatch(/--rate-limit <n>\s+requests per second per API key/);
      expect(child.stdout()).toMatch(/--rate-limit-burst <n>\s+requests a key may send at once/);
    },
    TIMEOUT,
  );
});
