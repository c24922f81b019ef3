import { describe, expect, test } from "bun:test";
import { createWorld, type World } from "./helpers";

const UNAUTHORIZED = { error: "Authentication required" };
const STAMP = "2026-03-15T10:00:00Z";
const KEY_ID = expect.stringMatching(/^key_[A-Za-z0-9]{20}$/);
const CLEAR_KEY = expect.stringMatching(/^hklst_[A-Za-z0-9_-]{32,}$/);

/** A request with the Authorization header exactly as given (or none). */
const withAuthorization = (world: World, authorization: string | null) =>
  world.request("GET", "/api/v1/datastore", authorization === null ? { token: null } : { token: null, headers: { authorization } });

const keysPath = (orgId: string) => `/api/v1/organizations/${orgId}/api-keys`;

async function createKey(world: World, name: string, token?: string) {
  const response = await world.request("POST", keysPath(world.org.id), { body: { name }, ...(token ? { token } : {}) });
  if (response.status !== 201) throw new Error(`creating key ${name} answered ${response.status}: ${response.text}`);
  return response.json as { id: string; key: string };
}

const storedLastUsedAt = (world: World, keyId: string) =>
  world.sqlite.query<{ last_used_at: number | null }, [string]>("SELECT last_used_at FROM api_keys WHERE id = ?").get(keyId)!.last_used_at;

describe("bearer authentication", () => {
  test("accepts a valid key", async () => {
    const world = await createWorld();

    const response = await world.list();

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: [], page: 1, page_size: 50, total_count: 0, total_pages: 0 });
  });

  const refused: [string, (world: World) => string | null][] = [
    ["no Authorization header", () => null],
    ["the Basic scheme", (world) => `Basic ${btoa(`user:${world.token}`)}`],
    ["the Basic scheme carrying the key itself", (world) => `Basic ${world.token}`],
    ["Bearer with no token", () => "Bearer"],
    ["Bearer followed only by a space", () => "Bearer "],
    ["a token without the hklst_ prefix", () => `Bearer ${"a".repeat(40)}`],
    ["the key without its hklst_ prefix", (world) => `Bearer ${world.token.slice("hklst_".length)}`],
    ["a hklst_ token one character too short", () => `Bearer hklst_${"a".repeat(31)}`],
    ["a bare hklst_", () => "Bearer hklst_"],
    ["a hklst_ token with characters outside the URL-safe set", () => `Bearer hklst_${"a".repeat(31)}+`],
    ["an unknown well-formed token", () => `Bearer hklst_${"a".repeat(43)}`],
    ["the key followed by another word", (world) => `Bearer ${world.token} extra`],
    ["the key with no scheme", (world) => world.token],
  ];
  for (const [what, header] of refused) {
    test(`returns 401 for ${what}`, async () => {
      const world = await createWorld();

      const response = await withAuthorization(world, header(world));

      expect(response.status).toBe(401);
      expect(response.json).toEqual(UNAUTHORIZED);
    });
  }

  test("returns 401 on every authenticated endpoint without a key", async () => {
    const world = await createWorld();
    const calls: [string, string, unknown?][] = [
      ["GET", "/api/v1/datastore"],
      ["GET", "/api/v1/datastore/namespaces"],
      ["GET", "/api/v1/datastore/entries/k"],
      ["DELETE", "/api/v1/datastore/entries/k"],
      ["PUT", "/api/v1/datastore/entries", { entry: { key: "k", value: 1 } }],
      ["GET", "/api/v1/organizations"],
      ["GET", keysPath(world.org.id)],
      ["POST", keysPath(world.org.id), { name: "ci" }],
      ["DELETE", `${keysPath(world.org.id)}/${world.keyId}`],
    ];

    for (const [method, path, body] of calls) {
      const response = await world.request(method, path, { token: null, body });
      expect({ method, path, status: response.status, body: response.json }).toEqual({ method, path, status: 401, body: UNAUTHORIZED });
    }
    expect((await world.get("k")).status).toBe(404);
    expect((await world.request("GET", keysPath(world.org.id))).json.data).toHaveLength(1);
  });

  for (const scheme of ["bearer", "BEARER", "BeArEr"]) {
    test(`accepts the scheme spelled ${scheme}`, async () => {
      const world = await createWorld();

      const response = await withAuthorization(world, `${scheme} ${world.token}`);

      expect(response.status).toBe(200);
      expect(response.json).toEqual({ data: [], page: 1, page_size: 50, total_count: 0, total_pages: 0 });
    });
  }

  test("refuses a key that differs from a real one only in case", async () => {
    const world = await createWorld();
    const flipped = "hklst_" + [...world.token.slice(6)].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join("");

    const response = await withAuthorization(world, `Bearer ${flipped}`);

    expect(response.status).toBe(401);
    expect(response.json).toEqual(UNAUTHORIZED);
  });
});

describe("revoking a key", () => {
  test("stops the revoked key at once", async () => {
    const world = await createWorld();
    const ci = await createKey(world, "ci");

    const revoke = await world.request("DELETE", `${keysPath(world.org.id)}/${ci.id}`);
    const next = await world.list("", { token: ci.key });

    expect(revoke.status).toBe(204);
    expect(revoke.text).toBe("");
    expect(next.status).toBe(401);
    expect(next.json).toEqual(UNAUTHORIZED);
  });

  test("keeps the organization's other keys working", async () => {
    const world = await createWorld();
    const ci = await createKey(world, "ci");
    await world.put({ key: "k", value: 1 });

    await world.request("DELETE", `${keysPath(world.org.id)}/${world.keyId}`, { token: ci.key });
    const revoked = await world.get("k");
    const other = await world.get("k", "", { token: ci.key });

    expect(revoked.status).toBe(401);
    expect(revoked.json).toEqual(UNAUTHORIZED);
    expect(other.status).toBe(200);
    expect(other.json.data.key).toBe("k");
  });

  test("lets a key revoke itself, after which it is refused", async () => {
    const world = await createWorld();

    const revoke = await world.request("DELETE", `${keysPath(world.org.id)}/${world.keyId}`);
    const next = await world.request("GET", "/api/v1/organizations");

    expect(revoke.status).toBe(204);
    expect(next.status).toBe(401);
    expect(next.json).toEqual(UNAUTHORIZED);
  });

  test("answers 204 when revoking an already revoked key, keeping the first revoked_at", async () => {
    const world = await createWorld();
    const ci = await createKey(world, "ci");

    const first = await world.request("DELETE", `${keysPath(world.org.id)}/${ci.id}`);
    world.clock.advance(60_000);
    const second = await world.request("DELETE", `${keysPath(world.org.id)}/${ci.id}`);
    const list = await world.request("GET", keysPath(world.org.id));

    expect(first.status).toBe(204);
    expect(second.status).toBe(204);
    expect(second.text).toBe("");
    expect(list.json.data.find((k: { id: string }) => k.id === ci.id).revoked_at).toBe(STAMP);
  });

  test("shows revoked_at in the key list", async () => {
    const world = await createWorld();
    world.clock.advance(1_000);
    const ci = await createKey(world, "ci");

    world.clock.advance(1_000);
    await world.request("DELETE", `${keysPath(world.org.id)}/${ci.id}`);
    const list = await world.request("GET", keysPath(world.org.id));

    expect(list.json).toEqual({
      data: [
        { id: world.keyId, name: "test", created_at: STAMP, last_used_at: null, revoked_at: null },
        { id: ci.id, name: "ci", created_at: "2026-03-15T10:00:01Z", last_used_at: null, revoked_at: "2026-03-15T10:00:02Z" },
      ],
    });
  });

  test("returns 404 for a key id that does not exist", async () => {
    const world = await createWorld();

    const response = await world.request("DELETE", `${keysPath(world.org.id)}/key_doesnotexist000000`);

    expect(response.status).toBe(404);
    expect(response.json).toEqual({ error: "API key not found" });
  });
});

describe("GET /api/v1/organizations", () => {
  test("returns only the calling key's organization as id and name", async () => {
    const world = await createWorld();
    await world.addOrganization("other");

    const response = await world.request("GET", "/api/v1/organizations");

    expect(response.status).toBe(200);
    expect(response.json).toEqual([{ id: world.org.id, name: "main" }]);
  });

  test("answers another organization's key with that organization", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");

    const response = await world.request("GET", "/api/v1/organizations", { token: other.token });

    expect(response.json).toEqual([{ id: other.organization.id, name: "other" }]);
  });
});

describe("GET /api/v1/organizations/:org_id/api-keys", () => {
  test("lists the organization's keys with exactly id, name and times", async () => {
    const world = await createWorld();

    const response = await world.request("GET", keysPath(world.org.id));

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: [{ id: world.keyId, name: "test", created_at: STAMP, last_used_at: null, revoked_at: null }] });
    expect(Object.keys(response.json.data[0])).toEqual(["id", "name", "created_at", "last_used_at", "revoked_at"]);
  });

  test("never shows a key or its hash", async () => {
    const world = await createWorld();
    const ci = await createKey(world, "ci");
    const hash = new Bun.CryptoHasher("sha256").update(world.token).digest("hex");

    const response = await world.request("GET", keysPath(world.org.id));

    expect(response.text).not.toContain(world.token);
    expect(response.text).not.toContain(ci.key);
    expect(response.text).not.toContain(hash);
    expect(response.text).not.toContain("hklst_");
  });

  test("leaves out another organization's keys", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");

    const response = await world.request("GET", keysPath(world.org.id));

    expect(response.json.data.map((k: { id: string }) => k.id)).toEqual([world.keyId]);
    expect(response.text).not.toContain(other.key.id);
  });

  test("returns 404 for another organization's id", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");

    const response = await world.request("GET", keysPath(other.organization.id));

    expect(response.status).toBe(404);
    expect(response.json).toEqual({ error: "Organization not found" });
  });

  test("returns 404 for an organization id that does not exist", async () => {
    const world = await createWorld();

    const response = await world.request("GET", keysPath("org_doesnotexist0000000"));

    expect(response.status).toBe(404);
    expect(response.json).toEqual({ error: "Organization not found" });
  });
});

describe("POST /api/v1/organizations/:org_id/api-keys", () => {
  test("creates a key and shows it once, fields in order", async () => {
    const world = await createWorld();

    const response = await world.request("POST", keysPath(world.org.id), { body: { name: "ci" } });

    expect(response.status).toBe(201);
    expect(response.json).toEqual({ id: KEY_ID, name: "ci", key: CLEAR_KEY, created_at: STAMP, last_used_at: null, revoked_at: null });
    expect(Object.keys(response.json)).toEqual(["id", "name", "key", "created_at", "last_used_at", "revoked_at"]);
  });

  test("creates a key that authenticates as the same organization", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: "v" });
    const ci = await createKey(world, "ci");

    const orgs = await world.request("GET", "/api/v1/organizations", { token: ci.key });
    const entry = await world.get("k", "", { token: ci.key });

    expect(orgs.json).toEqual([{ id: world.org.id, name: "main" }]);
    expect(entry.status).toBe(200);
    expect(entry.json.data.value).toBe("v");
  });

  test("adds the new key to the list without its clear key", async () => {
    const world = await createWorld();
    world.clock.advance(1_000);
    const ci = await createKey(world, "ci");

    const response = await world.request("GET", keysPath(world.org.id));

    expect(response.json).toEqual({
      data: [
        { id: world.keyId, name: "test", created_at: STAMP, last_used_at: null, revoked_at: null },
        { id: ci.id, name: "ci", created_at: "2026-03-15T10:00:01Z", last_used_at: null, revoked_at: null },
      ],
    });
  });

  test("creates a different key each time", async () => {
    const world = await createWorld();

    const first = await createKey(world, "ci");
    const second = await createKey(world, "ci");

    expect(first.key).not.toBe(second.key);
    expect(first.id).not.toBe(second.id);
  });

  test("stores only the key's SHA-256 hash", async () => {
    const world = await createWorld();
    const ci = await createKey(world, "ci");

    const row = world.sqlite.query<Record<string, unknown>, [string]>("SELECT * FROM api_keys WHERE id = ?").get(ci.id)!;

    expect(row.key_hash).toBe(new Bun.CryptoHasher("sha256").update(ci.key).digest("hex"));
    expect(JSON.stringify(row)).not.toContain(ci.key);
  });

  for (const [what, body] of [
    ["a missing name", {}],
    ["an empty name", { name: "" }],
    ["a name that is not a string", { name: 42 }],
  ] as const) {
    test(`returns 422 with errors.name for ${what}`, async () => {
      const world = await createWorld();

      const response = await world.request("POST", keysPath(world.org.id), { body });

      expect(response.status).toBe(422);
      expect(response.json).toEqual({ error: "Validation failed", errors: { name: [expect.any(String)] } });
      expect((await world.request("GET", keysPath(world.org.id))).json.data).toHaveLength(1);
    });
  }

  test("returns 404 for another organization's id and creates nothing there", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");

    const response = await world.request("POST", keysPath(other.organization.id), { body: { name: "sneaky" } });
    const theirs = await world.request("GET", keysPath(other.organization.id), { token: other.token });

    expect(response.status).toBe(404);
    expect(response.json).toEqual({ error: "Organization not found" });
    expect(theirs.json).toEqual({ data: [{ id: other.key.id, name: "test", created_at: STAMP, last_used_at: null, revoked_at: null }] });
  });
});

describe("DELETE /api/v1/organizations/:org_id/api-keys/:key_id across organizations", () => {
  test("returns 404 for another organization's id and leaves its key working", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");

    const response = await world.request("DELETE", `${keysPath(other.organization.id)}/${other.key.id}`);
    const theirs = await world.request("GET", "/api/v1/organizations", { token: other.token });

    expect(response.status).toBe(404);
    expect(response.json).toEqual({ error: "Organization not found" });
    expect(theirs.status).toBe(200);
  });

  test("returns 404 for another organization's key id under one's own organization and leaves it working", async () => {
    const world = await createWorld();
    const other = await world.addOrganization("other");

    const response = await world.request("DELETE", `${keysPath(world.org.id)}/${other.key.id}`);
    const theirs = await world.request("GET", "/api/v1/organizations", { token: other.token });

    expect(response.status).toBe(404);
    expect(response.json).toEqual({ error: "API key not found" });
    expect(theirs.status).toBe(200);
    expect(theirs.json).toEqual([{ id: other.organization.id, name: "other" }]);
  });
});

describe("last_used_at", () => {
  test("is null for a key that was never used", async () => {
    const world = await createWorld();
    const ci = await createKey(world, "ci");
    await world.authenticator.flushKeyUse();

    const list = await world.request("GET", keysPath(world.org.id));

    expect(list.json.data.find((k: { id: string }) => k.id === ci.id).last_used_at).toBeNull();
  });

  test("costs no write on the request path: it stays unwritten until the flush", async () => {
    const world = await createWorld();

    for (let i = 0; i < 5; i++) await world.list();
    const before = storedLastUsedAt(world, world.keyId);
    await world.authenticator.flushKeyUse();
    const after = storedLastUsedAt(world, world.keyId);

    expect(before).toBeNull();
    expect(after).toBe(Date.parse(STAMP) / 1000);
  });

  test("is shown after a use once the batched write has run", async () => {
    const world = await createWorld();

    const before = await world.request("GET", keysPath(world.org.id));
    await world.authenticator.flushKeyUse();
    const after = await world.request("GET", keysPath(world.org.id));

    expect(before.json.data[0].last_used_at).toBeNull();
    expect(after.json).toEqual({ data: [{ id: world.keyId, name: "test", created_at: STAMP, last_used_at: STAMP, revoked_at: null }] });
  });

  test("records only the key that was used", async () => {
    const world = await createWorld();
    world.clock.advance(1_000);
    const ci = await createKey(world, "ci");

    world.clock.advance(1_000);
    await world.list("", { token: ci.key });
    await world.authenticator.flushKeyUse();

    expect(storedLastUsedAt(world, ci.id)).toBe(Date.parse("2026-03-15T10:00:02Z") / 1000);
  });

  test("is not rewritten by uses within a minute of the recorded time", async () => {
    const world = await createWorld();
    await world.list();
    await world.authenticator.flushKeyUse();

    for (let i = 0; i < 4; i++) {
      world.clock.advance(5_000);
      await world.list();
      await world.authenticator.flushKeyUse();
    }

    expect(storedLastUsedAt(world, world.keyId)).toBe(Date.parse(STAMP) / 1000);
  });

  test("is rewritten by a use a minute or more after the recorded time", async () => {
    const world = await createWorld();
    await world.list();
    await world.authenticator.flushKeyUse();

    world.clock.advance(61_000);
    await world.list();
    await world.authenticator.flushKeyUse();
    const list = await world.request("GET", keysPath(world.org.id));

    expect(list.json.data[0].last_used_at).toBe("2026-03-15T10:01:01Z");
  });

  test("lags the last use by at most a minute when the flush keeps running", async () => {
    const world = await createWorld();
    await world.list();
    await world.authenticator.flushKeyUse();

    // A use every 10 s for 5 minutes, with the batched write every 30 s as on a running server.
    for (let second = 10; second <= 300; second += 10) {
      world.clock.advance(10_000);
      await world.list();
      if (second % 30 === 0) await world.authenticator.flushKeyUse();
      const lag = world.clock.now() / 1000 - storedLastUsedAt(world, world.keyId)!;
      expect({ second, lagOverAMinute: lag > 60 }).toEqual({ second, lagOverAMinute: false });
    }
  });

  test("does not record a use for a refused request", async () => {
    const world = await createWorld();
    const ci = await createKey(world, "ci");
    await world.request("DELETE", `${keysPath(world.org.id)}/${ci.id}`);

    await world.list("", { token: ci.key });
    await world.authenticator.flushKeyUse();

    expect(storedLastUsedAt(world, ci.id)).toBeNull();
  });
});

describe("dev mode", () => {
  test("accepts any hklst_ token", async () => {
    const world = await createWorld({ dev: true });

    const response = await world.list("", { token: "hklst_local" });

    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: [], page: 1, page_size: 50, total_count: 0, total_pages: 0 });
  });

  test("still refuses a token without the hklst_ prefix", async () => {
    const world = await createWorld({ dev: true });

    const response = await world.list("", { token: "local-token-without-prefix-aaaaaaaaaaaa" });

    expect(response.status).toBe(401);
    expect(response.json).toEqual(UNAUTHORIZED);
  });

  test("still refuses a missing header", async () => {
    const world = await createWorld({ dev: true });

    const response = await world.list("", { token: null });

    expect(response.status).toBe(401);
    expect(response.json).toEqual(UNAUTHORIZED);
  });

  test("creates a scale organization bound to a new token on its first use", async () => {
    const world = await createWorld({ dev: true });

    await world.list("", { token: "hklst_alice" });
    const orgs = await world.store.listOrganizations();
    const mine = await world.request("GET", "/api/v1/organizations", { token: "hklst_alice" });

    expect(orgs).toHaveLength(2);
    const created = orgs.find((org) => org.id !== world.org.id)!;
    expect(created.plan).toBe("scale");
    expect(mine.json).toEqual([{ id: created.id, name: created.name }]);
  });

  test("gives two different tokens separate data", async () => {
    const world = await createWorld({ dev: true });
    await world.put({ key: "k", value: "alice" }, { token: "hklst_alice" });

    const bobGet = await world.get("k", "", { token: "hklst_bob" });
    const bobList = await world.list("", { token: "hklst_bob" });
    const aliceList = await world.list("", { token: "hklst_alice" });

    expect(bobGet.status).toBe(404);
    expect(bobGet.json).toEqual({ error: "Entry not found" });
    expect(bobList.json.total_count).toBe(0);
    expect(aliceList.json.total_count).toBe(1);
    expect((await world.store.listOrganizations()).length).toBe(3);
  });

  test("gives the same token its own data across requests", async () => {
    const world = await createWorld({ dev: true });
    const written = await world.put({ key: "k", value: "alice" }, { token: "hklst_alice" });

    const read = await world.get("k", "", { token: "hklst_alice" });
    const orgsBefore = (await world.store.listOrganizations()).length;
    await world.list("", { token: "hklst_alice" });

    expect(read.status).toBe(200);
    expect(read.json).toEqual(written.json);
    expect(orgsBefore).toBe(2);
    expect((await world.store.listOrganizations()).length).toBe(2);
  });

  test("keeps real keys working alongside dev tokens", async () => {
    const world = await createWorld({ dev: true });
    await world.put({ key: "k", value: "real" });

    const real = await world.get("k");
    const dev = await world.get("k", "", { token: "hklst_alice" });

    expect(real.status).toBe(200);
    expect(real.json.data.value).toBe("real");
    expect(dev.status).toBe(404);
  });

  test("creates exactly one organization for 20 concurrent first requests with one token", async () => {
    const world = await createWorld({ dev: true });

    const responses = await Promise.all(Array.from({ length: 20 }, () => world.request("GET", "/api/v1/organizations", { token: "hklst_burst" })));
    const orgs = await world.store.listOrganizations();

    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(orgs).toHaveLength(2);
    const created = orgs.find((org) => org.id !== world.org.id)!;
    expect(new Set(responses.map((r) => JSON.stringify(r.json)))).toEqual(new Set([JSON.stringify([{ id: created.id, name: created.name }])]));
  });

  test("refuses a dev token once its key is revoked", async () => {
    const world = await createWorld({ dev: true });
    const [org] = (await world.request("GET", "/api/v1/organizations", { token: "hklst_alice" })).json;
    const keys = await world.request("GET", keysPath(org.id), { token: "hklst_alice" });

    await world.request("DELETE", `${keysPath(org.id)}/${keys.json.data[0].id}`, { token: "hklst_alice" });
    const next = await world.list("", { token: "hklst_alice" });

    expect(next.status).toBe(401);
    expect(next.json).toEqual(UNAUTHORIZED);
  });

  test("does not accept arbitrary hklst_ tokens outside dev mode", async () => {
    const world = await createWorld();

    const response = await world.list("", { token: "hklst_alice" });

    expect(response.status).toBe(401);
    expect(response.json).toEqual(UNAUTHORIZED);
    expect(await world.store.listOrganizations()).toHaveLength(1);
  });
});
