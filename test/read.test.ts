import { describe, expect, test } from "bun:test";
import { createWorld, type World } from "./helpers";

const STAMP = "2026-03-15T10:00:00Z";
const NOT_FOUND = { error: "Entry not found" };

/** The whole API shape of an entry written at the world's start, with the given fields. */
function entry(fields: { key: string; namespace?: string; value?: unknown; description?: string | null; expires_at?: string | null }) {
  return {
    id: expect.stringMatching(/^ds_[a-z0-9]{20}$/),
    key: fields.key,
    namespace: fields.namespace ?? "default",
    value: fields.value ?? 1,
    description: fields.description ?? null,
    expires_at: fields.expires_at ?? null,
    created_at: STAMP,
    updated_at: STAMP,
  };
}

/** Writes entries one after another (value 1 unless given), failing loudly if one is refused. */
async function putAll(world: World, entries: Record<string, unknown>[], token?: string) {
  for (const fields of entries) {
    const response = await world.put({ value: 1, ...fields }, token === undefined ? {} : { token });
    if (response.status !== 200) throw new Error(`PUT ${JSON.stringify(fields)} answered ${response.status}: ${response.text}`);
  }
}

const page = (data: unknown[], counts: { page?: number; page_size?: number; total_count: number; total_pages: number }) => ({
  data,
  page: counts.page ?? 1,
  page_size: counts.page_size ?? 50,
  total_count: counts.total_count,
  total_pages: counts.total_pages,
});

const keysOf = (body: { data: { namespace: string; key: string }[] }) => body.data.map((e) => `${e.namespace}|${e.key}`);

const badQuery = (name: string) => ({
  error: expect.stringMatching(new RegExp(`\\b${name}\\b`)),
  errors: { [name]: [expect.any(String)] },
});

describe("GET /api/v1/datastore/entries/:key", () => {
  test("returns the entry in the default namespace", async () => {
    const world = await createWorld();
    await world.put({ key: "config:api:timeout", value: 30, description: "API timeout in seconds" });

    const response = await world.get("config:api:timeout");

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entry({ key: "config:api:timeout", value: 30, description: "API timeout in seconds" }) });
  });

  test("answers with the entry's fields in the order of the spec", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: { b: 1, a: [true, "x"] } });

    const response = await world.get("k");

    expect(Object.keys(response.json.data)).toEqual(["id", "key", "namespace", "value", "description", "expires_at", "created_at", "updated_at"]);
    expect(response.json.data.value).toEqual({ b: 1, a: [true, "x"] });
  });

  test("returns the same entry that the PUT answered with", async () => {
    const world = await createWorld();
    const written = await world.put({ key: "k", value: "v" });

    const response = await world.get("k");

    expect(response.status).toBe(200);
    expect(response.json).toEqual(written.json);
  });

  test("reads from the namespace given in ?namespace=", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "k", namespace: "production", value: "prod" },
      { key: "k", value: "default" },
    ]);

    const response = await world.get("k", "?namespace=production");

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entry({ key: "k", namespace: "production", value: "prod" }) });
  });

  test("treats an empty ?namespace= as the default namespace", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: "default" });

    const response = await world.get("k", "?namespace=");

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entry({ key: "k", value: "default" }) });
  });

  test("returns 404 when the key exists only in another namespace", async () => {
    const world = await createWorld();
    await world.put({ key: "k", namespace: "production", value: 1 });

    const response = await world.get("k");

    expect(response.status).toBe(404);
    expect(response.json).toEqual(NOT_FOUND);
  });

  test("returns 404 for a key that was never written", async () => {
    const world = await createWorld();

    const response = await world.get("missing");

    expect(response.status).toBe(404);
    expect(response.json).toEqual(NOT_FOUND);
  });

  test("reads a key with raw slashes, encoded slashes or both as the same entry", async () => {
    const world = await createWorld();
    await world.put({ key: "a/b/c", value: "abc" });
    const expected = { data: entry({ key: "a/b/c", value: "abc" }) };

    for (const path of ["a/b/c", "a%2Fb%2Fc", "a%2fb%2fc", "a/b%2Fc", "a%2Fb/c"]) {
      const response = await world.get(path);
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
      expect(response.json).toEqual(expected);
    }
  });

  test("reads keys that start or end with a slash", async () => {
    const world = await createWorld();
    await putAll(world, [{ key: "/a", value: "lead" }, { key: "a/", value: "trail" }]);

    expect((await world.get("/a")).json).toEqual({ data: entry({ key: "/a", value: "lead" }) });
    expect((await world.get("%2Fa")).json).toEqual({ data: entry({ key: "/a", value: "lead" }) });
    expect((await world.get("a/")).json).toEqual({ data: entry({ key: "a/", value: "trail" }) });
    expect((await world.get("a%2F")).json).toEqual({ data: entry({ key: "a/", value: "trail" }) });
  });

  test("reads a key with colons, raw or percent-encoded", async () => {
    const world = await createWorld();
    await world.put({ key: "config:api:timeout", value: 30 });

    for (const path of ["config:api:timeout", "config%3Aapi%3Atimeout"]) {
      const response = await world.get(path);
      expect(response.status).toBe(200);
      expect(response.json).toEqual({ data: entry({ key: "config:api:timeout", value: 30 }) });
    }
  });

  test("reads keys with every character of the key alphabet", async () => {
    const world = await createWorld();
    const key = "AZaz09_.-:/x";
    await world.put({ key, value: "all" });

    const response = await world.get(key);

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entry({ key, value: "all" }) });
  });

  test("decodes the key only once: %252F is the literal key a%2Fb, which cannot exist", async () => {
    const world = await createWorld();
    await world.put({ key: "a/b", value: 1 });

    const response = await world.get("a%252Fb");

    expect(response.status).toBe(404);
    expect(response.json).toEqual(NOT_FOUND);
  });

  test("returns 404 for a key with a bad percent sequence", async () => {
    const world = await createWorld();
    await world.put({ key: "a", value: 1 });

    for (const path of ["a%ZZ", "a%", "a%2", "%E0%A4%A"]) {
      const response = await world.get(path);
      expect({ path, status: response.status, body: response.json }).toEqual({ path, status: 404, body: NOT_FOUND });
    }
  });

  test("returns 404 for a key with characters outside the key alphabet", async () => {
    const world = await createWorld();
    await world.put({ key: "ab", value: 1 });

    for (const path of ["a%20b", "a+b", "caf%C3%A9", "a%00b", "a*b", "a%25b"]) {
      const response = await world.get(path);
      expect({ path, status: response.status, body: response.json }).toEqual({ path, status: 404, body: NOT_FOUND });
    }
  });

  test("reads a key of 255 characters and answers 404 for one of 256", async () => {
    const world = await createWorld();
    const longest = "k".repeat(255);
    await world.put({ key: longest, value: 1 });

    const ok = await world.get(longest);
    const tooLong = await world.get(`${longest}k`);

    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ data: entry({ key: longest }) });
    expect(tooLong.status).toBe(404);
    expect(tooLong.json).toEqual(NOT_FOUND);
  });

  test("returns 404 for a namespace with characters outside the key alphabet", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: 1 });

    for (const query of ["?namespace=a%20b", "?namespace=def%2Bault", "?namespace=%C3%A9"]) {
      const response = await world.get("k", query);
      expect({ query, status: response.status, body: response.json }).toEqual({ query, status: 404, body: NOT_FOUND });
    }
  });

  test("returns 404 for a namespace over 255 characters", async () => {
    const world = await createWorld();
    const longest = "n".repeat(255);
    await world.put({ key: "k", namespace: longest, value: 1 });

    const ok = await world.get("k", `?namespace=${longest}`);
    const tooLong = await world.get("k", `?namespace=${longest}n`);

    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ data: entry({ key: "k", namespace: longest }) });
    expect(tooLong.status).toBe(404);
    expect(tooLong.json).toEqual(NOT_FOUND);
  });

  test("treats keys as case-sensitive", async () => {
    const world = await createWorld();
    await putAll(world, [{ key: "Key", value: "upper" }, { key: "key", value: "lower" }]);

    expect((await world.get("Key")).json).toEqual({ data: entry({ key: "Key", value: "upper" }) });
    expect((await world.get("key")).json).toEqual({ data: entry({ key: "key", value: "lower" }) });
    const missing = await world.get("KEY");
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual(NOT_FOUND);
  });

  test("treats namespaces as case-sensitive", async () => {
    const world = await createWorld();
    await world.put({ key: "k", namespace: "Prod", value: 1 });

    const response = await world.get("k", "?namespace=prod");

    expect(response.status).toBe(404);
    expect(response.json).toEqual(NOT_FOUND);
  });
});

describe("expiry", () => {
  test("shows expires_at as the write time plus ttl_seconds", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: 1, ttl_seconds: 60 });

    const response = await world.get("k");

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entry({ key: "k", expires_at: "2026-03-15T10:01:00Z" }) });
  });

  test("returns the entry until the clock reaches expires_at", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: 1, ttl_seconds: 60 });

    world.clock.advance(59_999);
    const response = await world.get("k");

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entry({ key: "k", expires_at: "2026-03-15T10:01:00Z" }) });
  });

  test("returns 404 for an expired entry from the exact moment of expires_at", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: 1, ttl_seconds: 60 });

    world.clock.advance(60_000);
    const response = await world.get("k");

    expect(response.status).toBe(404);
    expect(response.json).toEqual(NOT_FOUND);
  });

  test("keeps an entry written mid-second live until its rounded-up expires_at, and no longer", async () => {
    const world = await createWorld();
    world.clock.advance(400);
    const written = await world.put({ key: "k", value: 1, ttl_seconds: 1 });
    expect(written.json.data.expires_at).toBe("2026-03-15T10:00:02Z");

    world.clock.set(Date.parse("2026-03-15T10:00:02Z") - 1);
    expect((await world.get("k")).status).toBe(200);
    world.clock.advance(1);
    const response = await world.get("k");

    expect(response.status).toBe(404);
    expect(response.json).toEqual(NOT_FOUND);
  });

  test("returns 404 when deleting an expired entry", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: 1, ttl_seconds: 60 });

    world.clock.advance(60_000);
    const response = await world.request("DELETE", "/api/v1/datastore/entries/k");

    expect(response.status).toBe(404);
    expect(response.json).toEqual(NOT_FOUND);
  });

  test("leaves an expired entry out of the listing and its total_count", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "gone", ttl_seconds: 10 },
      { key: "kept", ttl_seconds: 20 },
      { key: "forever" },
    ]);

    world.clock.advance(10_000);
    const response = await world.list();

    expect(response.status).toBe(200);
    expect(response.json).toEqual(
      page([entry({ key: "forever" }), entry({ key: "kept", expires_at: "2026-03-15T10:00:20Z" })], { total_count: 2, total_pages: 1 }),
    );
  });

  test("leaves a namespace whose only entry expired out of the namespaces list", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "k", namespace: "temp", ttl_seconds: 10 },
      { key: "k", namespace: "kept" },
    ]);

    world.clock.advance(10_000);
    const response = await world.request("GET", "/api/v1/datastore/namespaces");

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: ["kept"] });
  });

  test("lists a namespace while at least one of its entries is live", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "a", namespace: "mixed", ttl_seconds: 10 },
      { key: "b", namespace: "mixed", ttl_seconds: 30 },
    ]);

    world.clock.advance(10_000);
    const response = await world.request("GET", "/api/v1/datastore/namespaces");

    expect(response.json).toEqual({ data: ["mixed"] });
  });
});

describe("DELETE /api/v1/datastore/entries/:key", () => {
  test("answers with the entry as it was", async () => {
    const world = await createWorld();
    const written = await world.put({ key: "k", value: { a: 1 }, description: "d", ttl_seconds: 3600 });

    const response = await world.request("DELETE", "/api/v1/datastore/entries/k");

    expect(response.status).toBe(200);
    expect(response.json).toEqual(written.json);
    expect(response.json).toEqual({ data: entry({ key: "k", value: { a: 1 }, description: "d", expires_at: "2026-03-15T11:00:00Z" }) });
  });

  test("makes the entry 404 on the next get and the next delete", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: 1 });

    await world.request("DELETE", "/api/v1/datastore/entries/k");
    const get = await world.get("k");
    const again = await world.request("DELETE", "/api/v1/datastore/entries/k");

    expect(get.status).toBe(404);
    expect(get.json).toEqual(NOT_FOUND);
    expect(again.status).toBe(404);
    expect(again.json).toEqual(NOT_FOUND);
  });

  test("returns 404 for a key that was never written", async () => {
    const world = await createWorld();

    const response = await world.request("DELETE", "/api/v1/datastore/entries/missing");

    expect(response.status).toBe(404);
    expect(response.json).toEqual(NOT_FOUND);
  });

  test("deletes in the given namespace and leaves the same key in another", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "k", namespace: "staging", value: "s" },
      { key: "k", namespace: "production", value: "p" },
    ]);

    const response = await world.request("DELETE", "/api/v1/datastore/entries/k?namespace=staging");

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entry({ key: "k", namespace: "staging", value: "s" }) });
    expect((await world.get("k", "?namespace=staging")).status).toBe(404);
    expect((await world.get("k", "?namespace=production")).json).toEqual({ data: entry({ key: "k", namespace: "production", value: "p" }) });
  });

  test("deletes from the default namespace when none is given", async () => {
    const world = await createWorld();
    await putAll(world, [{ key: "k", value: "d" }, { key: "k", namespace: "other", value: "o" }]);

    const response = await world.request("DELETE", "/api/v1/datastore/entries/k");

    expect(response.json).toEqual({ data: entry({ key: "k", value: "d" }) });
    expect((await world.get("k", "?namespace=other")).status).toBe(200);
  });

  test("deletes a key given with raw slashes", async () => {
    const world = await createWorld();
    await world.put({ key: "a/b/c", value: 1 });

    const response = await world.request("DELETE", "/api/v1/datastore/entries/a/b/c");

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entry({ key: "a/b/c" }) });
    expect((await world.get("a%2Fb%2Fc")).status).toBe(404);
  });

  test("deletes a key given with encoded slashes", async () => {
    const world = await createWorld();
    await world.put({ key: "a/b/c", value: 1 });

    const response = await world.request("DELETE", "/api/v1/datastore/entries/a%2Fb%2Fc");

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entry({ key: "a/b/c" }) });
    expect((await world.get("a/b/c")).status).toBe(404);
  });

  test("returns 404 for a key or namespace that could not exist", async () => {
    const world = await createWorld();
    await world.put({ key: "a/b", value: 1 });

    for (const path of ["a%252Fb", "a%ZZ", "a%20b", "k".repeat(256), "a/b?namespace=a%20b", `a/b?namespace=${"n".repeat(256)}`]) {
      const response = await world.request("DELETE", `/api/v1/datastore/entries/${path}`);
      expect({ path, status: response.status, body: response.json }).toEqual({ path, status: 404, body: NOT_FOUND });
    }
    expect((await world.get("a/b")).status).toBe(200);
  });

  test("is case-sensitive about the key", async () => {
    const world = await createWorld();
    await world.put({ key: "Key", value: 1 });

    const response = await world.request("DELETE", "/api/v1/datastore/entries/key");

    expect(response.status).toBe(404);
    expect(response.json).toEqual(NOT_FOUND);
    expect((await world.get("Key")).status).toBe(200);
  });
});

describe("GET /api/v1/datastore/namespaces", () => {
  test("returns an empty list when the organization has no entries", async () => {
    const world = await createWorld();

    const response = await world.request("GET", "/api/v1/datastore/namespaces");

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: [] });
  });

  test("lists each namespace once, however many entries it holds", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "a", namespace: "production" },
      { key: "b", namespace: "production" },
      { key: "a" },
      { key: "a", namespace: "staging" },
    ]);

    const response = await world.request("GET", "/api/v1/datastore/namespaces");

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: ["default", "production", "staging"] });
  });

  test("sorts namespaces by byte: uppercase before lowercase", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "k", namespace: "b" },
      { key: "k", namespace: "a" },
      { key: "k", namespace: "B" },
      { key: "k", namespace: "a_b" },
      { key: "k", namespace: "a-b" },
      { key: "k", namespace: "a.b" },
      { key: "k", namespace: "a/b" },
      { key: "k", namespace: "a:b" },
      { key: "k", namespace: "a0" },
    ]);

    const response = await world.request("GET", "/api/v1/datastore/namespaces");

    expect(response.json).toEqual({ data: ["B", "a", "a-b", "a.b", "a/b", "a0", "a:b", "a_b", "b"] });
  });

  test("drops a namespace once its last entry is deleted", async () => {
    const world = await createWorld();
    await putAll(world, [{ key: "k", namespace: "temp" }, { key: "k" }]);

    await world.request("DELETE", "/api/v1/datastore/entries/k?namespace=temp");
    const response = await world.request("GET", "/api/v1/datastore/namespaces");

    expect(response.json).toEqual({ data: ["default"] });
  });
});

describe("GET /api/v1/datastore", () => {
  test("returns an empty first page with default paging when there are no entries", async () => {
    const world = await createWorld();

    const response = await world.list();

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: [], page: 1, page_size: 50, total_count: 0, total_pages: 0 });
  });

  test("lists every entry of every namespace with default page 1 and page_size 50", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "b", value: "b" },
      { key: "a", namespace: "production", value: "pa" },
      { key: "a", value: "a" },
    ]);

    const response = await world.list();

    expect(response.status).toBe(200);
    expect(response.json).toEqual(
      page(
        [entry({ key: "a", value: "a" }), entry({ key: "b", value: "b" }), entry({ key: "a", namespace: "production", value: "pa" })],
        { total_count: 3, total_pages: 1 },
      ),
    );
  });

  test("orders by namespace first, then key", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "a", namespace: "z" },
      { key: "z", namespace: "a" },
      { key: "m", namespace: "m" },
      { key: "a", namespace: "a" },
    ]);

    const response = await world.list();

    expect(keysOf(response.json)).toEqual(["a|a", "a|z", "m|m", "z|a"]);
  });

  test("orders keys by byte: uppercase before lowercase and punctuation in ASCII order", async () => {
    const world = await createWorld();
    await putAll(world, ["a_b", "b", "a/b", "a", "a.b", "B", "a:b", "a-b", "A", "a0", "aB", "ab"].map((key) => ({ key })));

    const response = await world.list();

    expect(response.json.data.map((e: { key: string }) => e.key)).toEqual([
      "A",
      "B",
      "a",
      "a-b",
      "a.b",
      "a/b",
      "a0",
      "a:b",
      "aB",
      "a_b",
      "ab",
      "b",
    ]);
    expect(response.json.total_count).toBe(12);
  });

  test("filters by an exact namespace", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "a", namespace: "prod" },
      { key: "b", namespace: "prod" },
      { key: "a", namespace: "production" },
      { key: "a", namespace: "Prod" },
      { key: "a" },
    ]);

    const response = await world.list("?namespace=prod");

    expect(response.status).toBe(200);
    expect(response.json).toEqual(
      page([entry({ key: "a", namespace: "prod" }), entry({ key: "b", namespace: "prod" })], { total_count: 2, total_pages: 1 }),
    );
  });

  test("returns an empty page for a namespace with no entries", async () => {
    const world = await createWorld();
    await world.put({ key: "a", value: 1 });

    const response = await world.list("?namespace=nothing");

    expect(response.status).toBe(200);
    expect(response.json).toEqual(page([], { total_count: 0, total_pages: 0 }));
  });

  test("treats an empty namespace as every namespace", async () => {
    const world = await createWorld();
    await putAll(world, [{ key: "a" }, { key: "a", namespace: "other" }]);

    const response = await world.list("?namespace=");

    expect(response.status).toBe(200);
    expect(response.json).toEqual(page([entry({ key: "a" }), entry({ key: "a", namespace: "other" })], { total_count: 2, total_pages: 1 }));
  });

  test("filters by a key prefix", async () => {
    const world = await createWorld();
    await putAll(world, ["config:api:timeout", "config:api:retries", "config:db", "configuration", "other"].map((key) => ({ key })));

    const response = await world.list("?prefix=config:api:");

    expect(response.status).toBe(200);
    expect(response.json).toEqual(
      page([entry({ key: "config:api:retries" }), entry({ key: "config:api:timeout" })], { total_count: 2, total_pages: 1 }),
    );
  });

  test("includes the key equal to the prefix itself", async () => {
    const world = await createWorld();
    await putAll(world, ["a", "ab", "b"].map((key) => ({ key })));

    const response = await world.list("?prefix=a");

    expect(response.json).toEqual(page([entry({ key: "a" }), entry({ key: "ab" })], { total_count: 2, total_pages: 1 }));
  });

  test("treats _ in a prefix literally, not as a wildcard", async () => {
    const world = await createWorld();
    await putAll(world, ["ab", "a_b", "a_", "axb"].map((key) => ({ key })));

    const response = await world.list("?prefix=a_");

    expect(response.json).toEqual(page([entry({ key: "a_" }), entry({ key: "a_b" })], { total_count: 2, total_pages: 1 }));
  });

  test("treats . in a prefix literally, not as a wildcard", async () => {
    const world = await createWorld();
    await putAll(world, ["ab", "a.b", "axb"].map((key) => ({ key })));

    const response = await world.list("?prefix=a.");

    expect(response.json).toEqual(page([entry({ key: "a.b" })], { total_count: 1, total_pages: 1 }));
  });

  test("matches a prefix case-sensitively", async () => {
    const world = await createWorld();
    await putAll(world, ["a", "ab", "A", "Ab"].map((key) => ({ key })));

    const upper = await world.list("?prefix=A");
    const lower = await world.list("?prefix=a");

    expect(upper.json).toEqual(page([entry({ key: "A" }), entry({ key: "Ab" })], { total_count: 2, total_pages: 1 }));
    expect(lower.json).toEqual(page([entry({ key: "a" }), entry({ key: "ab" })], { total_count: 2, total_pages: 1 }));
  });

  test("ends a prefix range exactly: prefix a/ takes a/ and a/x but not a0 or a.", async () => {
    const world = await createWorld();
    await putAll(world, ["a.", "a/", "a/x", "a/z/z", "a0", "a", "b/"].map((key) => ({ key })));

    const response = await world.list("?prefix=a/");

    expect(response.json).toEqual(
      page([entry({ key: "a/" }), entry({ key: "a/x" }), entry({ key: "a/z/z" })], { total_count: 3, total_pages: 1 }),
    );
  });

  test("ends a prefix range ending in z before the next letter", async () => {
    const world = await createWorld();
    await putAll(world, ["ay", "az", "azz", "az_", "b", "b0"].map((key) => ({ key })));

    const response = await world.list("?prefix=az");

    expect(response.json).toEqual(
      page([entry({ key: "az" }), entry({ key: "az_" }), entry({ key: "azz" })], { total_count: 3, total_pages: 1 }),
    );
  });

  test("combines a prefix with a namespace", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "user:1", namespace: "prod" },
      { key: "user:2", namespace: "prod" },
      { key: "team:1", namespace: "prod" },
      { key: "user:1", namespace: "staging" },
      { key: "user:1" },
    ]);

    const response = await world.list("?namespace=prod&prefix=user:");

    expect(response.status).toBe(200);
    expect(response.json).toEqual(
      page([entry({ key: "user:1", namespace: "prod" }), entry({ key: "user:2", namespace: "prod" })], { total_count: 2, total_pages: 1 }),
    );
  });

  test("applies a prefix across every namespace when none is given", async () => {
    const world = await createWorld();
    await putAll(world, [
      { key: "user:1", namespace: "prod" },
      { key: "team:1", namespace: "prod" },
      { key: "user:1", namespace: "staging" },
      { key: "user:2" },
    ]);

    const response = await world.list("?prefix=user:");

    expect(keysOf(response.json)).toEqual(["default|user:2", "prod|user:1", "staging|user:1"]);
    expect(response.json.total_count).toBe(3);
  });

  test("treats an empty prefix as no filter", async () => {
    const world = await createWorld();
    await putAll(world, ["a", "b"].map((key) => ({ key })));

    const response = await world.list("?prefix=");

    expect(response.status).toBe(200);
    expect(response.json).toEqual(page([entry({ key: "a" }), entry({ key: "b" })], { total_count: 2, total_pages: 1 }));
  });

  test("accepts a prefix of 255 characters", async () => {
    const world = await createWorld();
    const key = "p".repeat(255);
    await world.put({ key, value: 1 });

    const response = await world.list(`?prefix=${key}`);

    expect(response.status).toBe(200);
    expect(response.json).toEqual(page([entry({ key })], { total_count: 1, total_pages: 1 }));
  });

  test("splits the listing into pages of page_size", async () => {
    const world = await createWorld();
    await putAll(world, ["a", "b", "c", "d", "e"].map((key) => ({ key })));

    const first = await world.list("?page_size=2");
    const second = await world.list("?page_size=2&page=2");
    const last = await world.list("?page_size=2&page=3");

    expect(first.json).toEqual(page([entry({ key: "a" }), entry({ key: "b" })], { page_size: 2, total_count: 5, total_pages: 3 }));
    expect(second.json).toEqual(page([entry({ key: "c" }), entry({ key: "d" })], { page: 2, page_size: 2, total_count: 5, total_pages: 3 }));
    expect(last.json).toEqual(page([entry({ key: "e" })], { page: 3, page_size: 2, total_count: 5, total_pages: 3 }));
  });

  test("computes total_pages as ceil(total_count / page_size)", async () => {
    const world = await createWorld();
    await putAll(world, ["a", "b", "c", "d"].map((key) => ({ key })));

    for (const [size, pages] of [[1, 4], [2, 2], [3, 2], [4, 1], [100, 1]] as const) {
      const response = await world.list(`?page_size=${size}`);
      expect({ size, page_size: response.json.page_size, total_pages: response.json.total_pages, total_count: response.json.total_count }).toEqual({
        size,
        page_size: size,
        total_pages: pages,
        total_count: 4,
      });
    }
  });

  test("accepts page_size 1 and 100", async () => {
    const world = await createWorld();
    await putAll(world, ["a", "b"].map((key) => ({ key })));

    const one = await world.list("?page_size=1");
    const hundred = await world.list("?page_size=100");

    expect(one.status).toBe(200);
    expect(one.json).toEqual(page([entry({ key: "a" })], { page_size: 1, total_count: 2, total_pages: 2 }));
    expect(hundred.status).toBe(200);
    expect(hundred.json).toEqual(page([entry({ key: "a" }), entry({ key: "b" })], { page_size: 100, total_count: 2, total_pages: 1 }));
  });

  test("answers a page past the end with no data and the true counts", async () => {
    const world = await createWorld();
    await putAll(world, ["a", "b", "c"].map((key) => ({ key })));

    const response = await world.list("?page_size=2&page=5");

    expect(response.status).toBe(200);
    expect(response.json).toEqual(page([], { page: 5, page_size: 2, total_count: 3, total_pages: 2 }));
  });

  test("answers a page past the end of nothing with zero counts", async () => {
    const world = await createWorld();

    const response = await world.list("?page=3");

    expect(response.status).toBe(200);
    expect(response.json).toEqual(page([], { page: 3, total_count: 0, total_pages: 0 }));
  });

  test("pages through more than one page of 50 by default", async () => {
    const world = await createWorld();
    const keys = Array.from({ length: 51 }, (_, i) => `k${String(i).padStart(2, "0")}`);
    await putAll(world, keys.map((key) => ({ key })));

    const first = await world.list();
    const second = await world.list("?page=2");

    expect(first.json.data.map((e: { key: string }) => e.key)).toEqual(keys.slice(0, 50));
    expect({ ...first.json, data: undefined }).toEqual({ data: undefined, page: 1, page_size: 50, total_count: 51, total_pages: 2 });
    expect(second.json).toEqual(page([entry({ key: "k50" })], { page: 2, total_count: 51, total_pages: 2 }));
  });

  for (const value of ["0", "101", "-1", "1.5", "abc", ""]) {
    test(`returns 400 naming page_size for page_size=${JSON.stringify(value)}`, async () => {
      const world = await createWorld();

      const response = await world.list(`?page_size=${value}`);

      expect(response.status).toBe(400);
      expect(response.json).toEqual(badQuery("page_size"));
    });
  }

  for (const value of ["0", "-1", "1.5", "abc", ""]) {
    test(`returns 400 naming page for page=${JSON.stringify(value)}`, async () => {
      const world = await createWorld();

      const response = await world.list(`?page=${value}`);

      expect(response.status).toBe(400);
      expect(response.json).toEqual(badQuery("page"));
    });
  }

  for (const [name, value] of [
    ["namespace", "a%20b"],
    ["namespace", "caf%C3%A9"],
    ["namespace", "a%25"],
    ["namespace", "n".repeat(256)],
    ["prefix", "a%20b"],
    ["prefix", "%25"],
    ["prefix", "a*"],
    ["prefix", "p".repeat(256)],
  ] as const) {
    test(`returns 400 naming ${name} for ${name}=${value.length > 20 ? `${value.length} characters` : value}`, async () => {
      const world = await createWorld();

      const response = await world.list(`?${name}=${value}`);

      expect(response.status).toBe(400);
      expect(response.json).toEqual(badQuery(name));
    });
  }
});

describe("tenant isolation", () => {
  test("another organization cannot get an entry", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");
    await world.put({ key: "secret", value: 1 });

    const response = await world.get("secret", "", { token: other.token });

    expect(response.status).toBe(404);
    expect(response.json).toEqual(NOT_FOUND);
  });

  test("another organization's listing and namespaces hold only its own entries", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");
    await putAll(world, [{ key: "a", namespace: "mine" }, { key: "b" }]);
    await putAll(world, [{ key: "z", namespace: "theirs", value: "t" }], other.token);

    const list = await world.list("", { token: other.token });
    const prefixed = await world.list("?prefix=a", { token: other.token });
    const inMyNamespace = await world.list("?namespace=mine", { token: other.token });
    const namespaces = await world.request("GET", "/api/v1/datastore/namespaces", { token: other.token });
    const myNamespaces = await world.request("GET", "/api/v1/datastore/namespaces");

    expect(list.json).toEqual(page([entry({ key: "z", namespace: "theirs", value: "t" })], { total_count: 1, total_pages: 1 }));
    expect(prefixed.json).toEqual(page([], { total_count: 0, total_pages: 0 }));
    expect(inMyNamespace.json).toEqual(page([], { total_count: 0, total_pages: 0 }));
    expect(namespaces.json).toEqual({ data: ["theirs"] });
    expect(myNamespaces.json).toEqual({ data: ["default", "mine"] });
  });

  test("another organization cannot delete an entry", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");
    const written = await world.put({ key: "k", value: 1 });

    const response = await world.request("DELETE", "/api/v1/datastore/entries/k", { token: other.token });

    expect(response.status).toBe(404);
    expect(response.json).toEqual(NOT_FOUND);
    expect((await world.get("k")).json).toEqual(written.json);
  });

  test("another organization writing the same key creates its own entry and leaves the first untouched", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");
    const mine = await world.put({ key: "k", value: "mine", description: "first" });

    world.clock.advance(5_000);
    const theirs = await world.put({ key: "k", value: "theirs" }, { token: other.token });

    expect(theirs.status).toBe(200);
    expect(theirs.json).toEqual({
      data: { ...entry({ key: "k", value: "theirs" }), created_at: "2026-03-15T10:00:05Z", updated_at: "2026-03-15T10:00:05Z" },
    });
    expect(theirs.json.data.id).not.toBe(mine.json.data.id);
    expect((await world.get("k")).json).toEqual(mine.json);
    expect((await world.get("k", "", { token: other.token })).json).toEqual(theirs.json);
  });

  test("deleting a key in one organization leaves the same key in another", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");
    await world.put({ key: "k", value: "mine" });
    const theirs = await world.put({ key: "k", value: "theirs" }, { token: other.token });

    const response = await world.request("DELETE", "/api/v1/datastore/entries/k");

    expect(response.json).toEqual({ data: entry({ key: "k", value: "mine" }) });
    expect((await world.get("k", "", { token: other.token })).json).toEqual(theirs.json);
  });

  test("a new organization sees an empty datastore", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: 1 });
    const other = await world.addOrganization("other");

    const list = await world.list("", { token: other.token });
    const namespaces = await world.request("GET", "/api/v1/datastore/namespaces", { token: other.token });

    expect(list.json).toEqual(page([], { total_count: 0, total_pages: 0 }));
    expect(namespaces.json).toEqual({ data: [] });
  });
});
