import { describe, expect, test } from "bun:test";
import { createWorld, T0, type World } from "./helpers";

// PUT /api/v1/datastore/entries (SPEC §1 Entry, §3 Upsert, §4 errors).

const ENTRY_ID = expect.stringMatching(/^ds_[a-z0-9]{20}$/);
const FIELD_ORDER = ["id", "key", "namespace", "value", "description", "expires_at", "created_at", "updated_at"];

/** SPEC's timestamp format for a millisecond time that falls on a whole second. */
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

const MESSAGES = {
  name: "must be 1-255 characters of A-Z a-z 0-9 _ . - : /",
  dotSegment: "must not have . or .. as a /-separated segment",
  value: "is required: any JSON value except null",
  valueSize: "must be at most 65536 bytes as JSON",
  valueNumber: "must not contain a number outside the range of a double",
  description: "must be a string of at most 1000 characters, or null",
  ttl: "must be an integer from 1 to 315360000",
};

const validationFailed = (errors: Record<string, string[]>) => ({ error: "Validation failed", errors });
const limitReached = (limit: number) => ({ error: "Entry limit reached", limit });
const PLAN_FORBIDDEN = { error: "Datastore is not available on your plan" };

/** The whole entry a fresh write at T0 answers with, overridden by `fields`. */
const entryAtT0 = (fields: Record<string, unknown>) => ({
  id: ENTRY_ID,
  key: "k",
  namespace: "default",
  value: 1,
  description: null,
  expires_at: null,
  created_at: "2026-03-15T10:00:00Z",
  updated_at: "2026-03-15T10:00:00Z",
  ...fields,
});

/** PUT with a raw body text (for JSON that JSON.stringify cannot produce). */
const putRaw = (world: World, body: string, token?: string) =>
  world.request("PUT", "/api/v1/datastore/entries", { body, token });

const liveCount = async (world: World, token?: string) => (await world.list("?page_size=100", { token })).json.total_count;

/** Creates `count` entries `k0`, `k1`, … and checks each was accepted. */
async function fill(world: World, count: number, token?: string) {
  for (let i = 0; i < count; i++) {
    const response = await world.put({ key: `k${i}`, value: i }, { token });
    expect(response.status).toBe(200);
  }
}

describe("create and update", () => {
  test("creates an entry with a new id and created_at = updated_at = now", async () => {
    const world = await createWorld();
    const response = await world.put({ key: "config:api:timeout", namespace: "production", value: 30, description: "API timeout in seconds" });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      data: entryAtT0({ key: "config:api:timeout", namespace: "production", value: 30, description: "API timeout in seconds" }),
    });
  });

  test("answers with the entry fields in SPEC order", async () => {
    const world = await createWorld();
    const response = await world.put({ value: 1, ttl_seconds: 5, description: "d", namespace: "n", key: "k" });
    expect(response.status).toBe(200);
    expect(Object.keys(response.json)).toEqual(["data"]);
    expect(Object.keys(response.json.data)).toEqual(FIELD_ORDER);
  });

  test("defaults the namespace to default", async () => {
    const world = await createWorld();
    const response = await world.put({ key: "k", value: 1 });
    expect(response.status).toBe(200);
    expect(response.json.data.namespace).toBe("default");
    expect((await world.get("k", "?namespace=default")).json).toEqual(response.json);
  });

  test("formats timestamps as ISO 8601 UTC with whole seconds and Z", async () => {
    const world = await createWorld();
    world.clock.set(Date.parse("2026-12-31T23:59:59.750Z"));
    const response = await world.put({ key: "k", value: 1, ttl_seconds: 3600 });
    expect(response.json.data).toEqual(
      entryAtT0({ expires_at: "2027-01-01T01:00:00Z", created_at: "2026-12-31T23:59:59Z", updated_at: "2026-12-31T23:59:59Z" }),
    );
  });

  test("keeps id and created_at when updating a live entry, and moves updated_at with the clock", async () => {
    const world = await createWorld();
    const created = await world.put({ key: "k", value: 1 });
    world.clock.advance(90_000);
    const updated = await world.put({ key: "k", value: 2 });
    expect(updated.status).toBe(200);
    expect(updated.json).toEqual({
      data: entryAtT0({ id: created.json.data.id, value: 2, updated_at: "2026-03-15T10:01:30Z" }),
    });
    expect((await world.get("k")).json).toEqual(updated.json);
  });

  test("sets a missing description to null on update", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: 1, description: "old" });
    const updated = await world.put({ key: "k", value: 1 });
    expect(updated.json.data.description).toBeNull();
    expect((await world.get("k")).json.data.description).toBeNull();
  });

  test("clears expires_at when an update has no ttl_seconds", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: 1, ttl_seconds: 60 });
    const updated = await world.put({ key: "k", value: 1 });
    expect(updated.json.data.expires_at).toBeNull();
    world.clock.advance(3_600_000);
    expect((await world.get("k")).status).toBe(200);
  });

  test("recomputes expires_at from the time of the update", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: 1, ttl_seconds: 60 });
    world.clock.advance(30_000);
    const updated = await world.put({ key: "k", value: 1, ttl_seconds: 60 });
    expect(updated.json.data.expires_at).toBe("2026-03-15T10:01:30Z");
  });

  test("replaces an expired row at the key by a new entry with a new id", async () => {
    const world = await createWorld();
    const first = await world.put({ key: "k", value: 1, description: "old", ttl_seconds: 10 });
    world.clock.advance(10_000);
    const second = await world.put({ key: "k", value: 2 });
    expect(second.status).toBe(200);
    expect(second.json).toEqual({
      data: entryAtT0({ value: 2, created_at: "2026-03-15T10:00:10Z", updated_at: "2026-03-15T10:00:10Z" }),
    });
    expect(second.json.data.id).not.toBe(first.json.data.id);
    expect(await liveCount(world)).toBe(1);
  });

  test("treats the same key in two namespaces as two entries", async () => {
    const world = await createWorld();
    const a = await world.put({ key: "k", namespace: "a", value: 1 });
    const b = await world.put({ key: "k", namespace: "b", value: 2 });
    expect(b.json.data.id).not.toBe(a.json.data.id);
    expect(await liveCount(world)).toBe(2);
  });

  test("treats keys as case-sensitive", async () => {
    const world = await createWorld();
    const lower = await world.put({ key: "key", value: 1 });
    const upper = await world.put({ key: "KEY", value: 2 });
    expect(upper.json.data.id).not.toBe(lower.json.data.id);
    expect((await world.get("key")).json.data.value).toBe(1);
    expect((await world.get("KEY")).json.data.value).toBe(2);
  });

  test("ignores unknown fields inside entry", async () => {
    const world = await createWorld();
    const response = await world.put({ key: "k", value: 1, id: "ds_mine", created_at: "2000-01-01T00:00:00Z", colour: "blue" });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entryAtT0({}) });
    expect(response.json.data.id).not.toBe("ds_mine");
  });
});

describe("expires_at", () => {
  test("is the write time plus ttl_seconds on a whole second", async () => {
    const world = await createWorld();
    const response = await world.put({ key: "k", value: 1, ttl_seconds: 60 });
    expect(response.json).toEqual({ data: entryAtT0({ expires_at: "2026-03-15T10:01:00Z" }) });
  });

  test("is rounded up to the whole second when the clock is at a fractional second", async () => {
    const world = await createWorld();
    world.clock.set(T0 + 400);
    // ceil((T0 + 400 + 1000) / 1000) s = T0 + 2 s
    const response = await world.put({ key: "k", value: 1, ttl_seconds: 1 });
    expect(response.json).toEqual({ data: entryAtT0({ expires_at: "2026-03-15T10:00:02Z" }) });
  });

  test("is rounded up even one millisecond past the second", async () => {
    const world = await createWorld();
    world.clock.set(T0 + 1);
    const response = await world.put({ key: "k", value: 1, ttl_seconds: 60 });
    expect(response.json.data.expires_at).toBe("2026-03-15T10:01:01Z");
  });

  test("is the exact moment the entry stops being live", async () => {
    const world = await createWorld();
    world.clock.set(T0 + 400);
    await world.put({ key: "k", value: 1, ttl_seconds: 1 });
    world.clock.set(T0 + 1999);
    expect((await world.get("k")).status).toBe(200);
    world.clock.set(T0 + 2000);
    const gone = await world.get("k");
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual({ error: "Entry not found" });
  });

  test("is null when ttl_seconds is null", async () => {
    const world = await createWorld();
    const response = await world.put({ key: "k", value: 1, ttl_seconds: null });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entryAtT0({}) });
  });

  test("accepts the largest ttl_seconds, ten years", async () => {
    const world = await createWorld();
    const response = await world.put({ key: "k", value: 1, ttl_seconds: 315_360_000 });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entryAtT0({ expires_at: iso(T0 + 315_360_000_000) }) });
  });
});

describe("value round trip", () => {
  const values: [string, unknown][] = [
    ["a nested object", { a: { b: [1, { c: "d", e: [true, false, 1.5] }] }, f: -0.25 }],
    ["a unicode string", "héllo wörld, 日本語, Ελληνικά"],
    ["emoji", "😀👍🏽👨‍👩‍👧 🏳️‍🌈"],
    ["an empty string", ""],
    ["zero", 0],
    ["false", false],
    ["true", true],
    ["an empty array", []],
    ["an empty object", {}],
    ["a negative float", -1.25e-7],
    ["a string with quotes, backslashes and control characters", 'say "hi"\\ \n\t\u0001'],
    ["an array of mixed values", [1, "two", null, { three: 3 }, [4]]],
  ];

  test.each(values)("returns %s as stored", async (_, value) => {
    const world = await createWorld();
    const put = await world.put({ key: "k", value });
    expect(put.status).toBe(200);
    expect(put.json).toEqual({ data: entryAtT0({ value }) });
    expect((await world.get("k")).json).toEqual(put.json);
  });

  test("keeps the key order of objects", async () => {
    const world = await createWorld();
    const value = { zeta: 1, alpha: { y: 1, b: 2, a: 3 }, mid: 2 };
    await world.put({ key: "k", value });
    const read = (await world.get("k")).json.data.value;
    expect(Object.keys(read)).toEqual(["zeta", "alpha", "mid"]);
    expect(Object.keys(read.alpha)).toEqual(["y", "b", "a"]);
  });

  test("reads numbers as JavaScript reads JSON", async () => {
    const world = await createWorld();
    const response = await putRaw(world, '{"entry":{"key":"k","value":[9007199254740993,1.0,1e2]}}');
    expect(response.status).toBe(200);
    expect(response.json.data.value).toEqual([9007199254740992, 1, 100]);
  });
});

describe("validation", () => {
  describe("key and namespace", () => {
    for (const field of ["key", "namespace"] as const) {
      const base = { key: "k", namespace: "ns", value: 1 };

      test.each([1, 255])(`accepts a ${field} of %d characters`, async (length) => {
        const world = await createWorld();
        const name = "a".repeat(length);
        const response = await world.put({ ...base, [field]: name });
        expect(response.status).toBe(200);
        expect(response.json).toEqual({ data: entryAtT0({ ...base, [field]: name }) });
      });

      test(`refuses a ${field} of 256 characters`, async () => {
        const world = await createWorld();
        const response = await world.put({ ...base, [field]: "a".repeat(256) });
        expect(response.status).toBe(422);
        expect(response.json).toEqual(validationFailed({ [field]: [MESSAGES.name] }));
      });

      test(`refuses an empty ${field}`, async () => {
        const world = await createWorld();
        const response = await world.put({ ...base, [field]: "" });
        expect(response.status).toBe(422);
        expect(response.json).toEqual(validationFailed({ [field]: [MESSAGES.name] }));
      });

      test.each(["a b", "a%2Fb", "caf\u00e9", "a?b", "a#b", "a\u0000b", "a*b"])(`refuses the ${field} %p`, async (name) => {
        const world = await createWorld();
        const response = await world.put({ ...base, [field]: name });
        expect(response.status).toBe(422);
        expect(response.json).toEqual(validationFailed({ [field]: [MESSAGES.name] }));
      });

      test(`refuses a ${field} that is not a string`, async () => {
        const world = await createWorld();
        const response = await world.put({ ...base, [field]: 5 });
        expect(response.status).toBe(422);
        expect(response.json).toEqual(validationFailed({ [field]: [MESSAGES.name] }));
      });
    }

    test("accepts every character of the key set", async () => {
      const world = await createWorld();
      const key = "AZaz09_.-:/x";
      const response = await world.put({ key, namespace: key, value: 1 });
      expect(response.status).toBe(200);
      expect(response.json).toEqual({ data: entryAtT0({ key, namespace: key }) });
    });

    test("refuses a missing key", async () => {
      const world = await createWorld();
      const response = await world.put({ value: 1 });
      expect(response.status).toBe(422);
      expect(response.json).toEqual(validationFailed({ key: [MESSAGES.name] }));
    });

    test.each([".", "..", "a/./b", "a/../b", "../x", "./x", "a/.", "a/.."])("refuses the key %p, which has a dot segment", async (key) => {
      const world = await createWorld();
      const response = await world.put({ key, value: 1 });
      expect(response.status).toBe(422);
      expect(response.json).toEqual(validationFailed({ key: [MESSAGES.dotSegment] }));
    });

    test.each(["a.b", ".env", "a/..b", "a../b", "...", "a/.../b"])("accepts the key %p and reads it back by its raw path", async (key) => {
      const world = await createWorld();
      const response = await world.put({ key, value: 1 });
      expect(response.status).toBe(200);
      expect(response.json).toEqual({ data: entryAtT0({ key }) });
      expect((await world.get(key)).json).toEqual(response.json);
    });
  });

  describe("value", () => {
    test("refuses a null value", async () => {
      const world = await createWorld();
      const response = await world.put({ key: "k", value: null });
      expect(response.status).toBe(422);
      expect(response.json).toEqual(validationFailed({ value: [MESSAGES.value] }));
    });

    test("refuses a missing value", async () => {
      const world = await createWorld();
      const response = await world.put({ key: "k" });
      expect(response.status).toBe(422);
      expect(response.json).toEqual(validationFailed({ value: [MESSAGES.value] }));
    });

    // Sizes are of JSON.stringify(value) in UTF-8, quotes and escapes included.
    const sized: [string, unknown, number][] = [
      ["an ASCII string", "x".repeat(65_534), 65_536],
      ["a string of 2-byte characters", "é".repeat(32_767), 65_536],
      ["a string of 3- and 4-byte characters", "😀".repeat(16_383) + "é", 65_536],
      ["a string of escaped quotes", '"'.repeat(32_767), 65_536],
      ["an object", { a: "x".repeat(65_528) }, 65_536],
      ["an ASCII string", "x".repeat(65_535), 65_537],
      ["a string of 2-byte characters", "é".repeat(32_767) + "x", 65_537],
      ["a string of 3- and 4-byte characters", "😀".repeat(16_383) + "€", 65_537],
      ["a string of escaped quotes", '"'.repeat(32_767) + "x", 65_537],
      ["an object", { a: "x".repeat(65_529) }, 65_537],
    ];

    test.each(sized)("%s of %d bytes as JSON is accepted only up to 65,536 bytes", async (_, value, bytes) => {
      expect(Buffer.byteLength(JSON.stringify(value))).toBe(bytes);
      const world = await createWorld();
      const response = await world.put({ key: "k", value });
      if (bytes <= 65_536) {
        expect(response.status).toBe(200);
        expect(response.json).toEqual({ data: entryAtT0({ value }) });
      } else {
        expect(response.status).toBe(422);
        expect(response.json).toEqual(validationFailed({ value: [MESSAGES.valueSize] }));
        expect((await world.get("k")).status).toBe(404);
      }
    });

    test.each(["1e400", "-1e400", '{"a":[1,{"b":1e400}]}'])("refuses a number that overflows a double: %s", async (raw) => {
      const world = await createWorld();
      const response = await putRaw(world, `{"entry":{"key":"k","value":${raw}}}`);
      expect(response.status).toBe(422);
      expect(response.json).toEqual(validationFailed({ value: [MESSAGES.valueNumber] }));
    });

    test("accepts the largest finite double", async () => {
      const world = await createWorld();
      const response = await putRaw(world, '{"entry":{"key":"k","value":1.7976931348623157e308}}');
      expect(response.status).toBe(200);
      expect(response.json.data.value).toBe(Number.MAX_VALUE);
    });
  });

  describe("description", () => {
    test("accepts 1,000 code points even when they are 2,000 UTF-16 units", async () => {
      const world = await createWorld();
      const description = "😀".repeat(1000);
      const response = await world.put({ key: "k", value: 1, description });
      expect(response.status).toBe(200);
      expect(response.json).toEqual({ data: entryAtT0({ description }) });
    });

    test("refuses 1,001 code points of emoji", async () => {
      const world = await createWorld();
      const response = await world.put({ key: "k", value: 1, description: "😀".repeat(1001) });
      expect(response.status).toBe(422);
      expect(response.json).toEqual(validationFailed({ description: [MESSAGES.description] }));
    });

    test("accepts 1,000 ASCII characters and refuses 1,001", async () => {
      const world = await createWorld();
      const accepted = await world.put({ key: "k", value: 1, description: "d".repeat(1000) });
      expect(accepted.status).toBe(200);
      const refused = await world.put({ key: "k", value: 1, description: "d".repeat(1001) });
      expect(refused.status).toBe(422);
      expect(refused.json).toEqual(validationFailed({ description: [MESSAGES.description] }));
    });

    test("accepts an empty description and a null one", async () => {
      const world = await createWorld();
      expect((await world.put({ key: "a", value: 1, description: "" })).json.data.description).toBe("");
      expect((await world.put({ key: "b", value: 1, description: null })).json.data.description).toBeNull();
    });

    test.each([[5], [true], [["d"]], [{ d: 1 }]])("refuses a description that is not a string: %p", async (description) => {
      const world = await createWorld();
      const response = await world.put({ key: "k", value: 1, description });
      expect(response.status).toBe(422);
      expect(response.json).toEqual(validationFailed({ description: [MESSAGES.description] }));
    });
  });

  describe("ttl_seconds", () => {
    test.each([1, 315_360_000])("accepts %p", async (ttl) => {
      const world = await createWorld();
      const response = await world.put({ key: "k", value: 1, ttl_seconds: ttl });
      expect(response.status).toBe(200);
      expect(response.json).toEqual({ data: entryAtT0({ expires_at: iso(T0 + ttl * 1000) }) });
    });

    test.each([[0], [-1], [315_360_001], [1.5], ["60"], [true], [[60]]])("refuses %p", async (ttl) => {
      const world = await createWorld();
      const response = await world.put({ key: "k", value: 1, ttl_seconds: ttl });
      expect(response.status).toBe(422);
      expect(response.json).toEqual(validationFailed({ ttl_seconds: [MESSAGES.ttl] }));
    });
  });

  test("reports every invalid field in one 422", async () => {
    const world = await createWorld();
    const response = await world.put({ key: "a b", namespace: "", value: null, description: 5, ttl_seconds: 0 });
    expect(response.status).toBe(422);
    expect(response.json).toEqual(
      validationFailed({
        key: [MESSAGES.name],
        namespace: [MESSAGES.name],
        value: [MESSAGES.value],
        description: [MESSAGES.description],
        ttl_seconds: [MESSAGES.ttl],
      }),
    );
  });

  test("reports a dot-segment key together with an oversized value and a long description", async () => {
    const world = await createWorld();
    const response = await world.put({ key: "a/../b", value: "x".repeat(70_000), description: "😀".repeat(1001), ttl_seconds: 1.5 });
    expect(response.status).toBe(422);
    expect(response.json).toEqual(
      validationFailed({
        key: [MESSAGES.dotSegment],
        value: [MESSAGES.valueSize],
        description: [MESSAGES.description],
        ttl_seconds: [MESSAGES.ttl],
      }),
    );
  });

  test("writes nothing when a field is invalid", async () => {
    const world = await createWorld();
    await world.put({ key: "k", value: 1 });
    const refused = await world.put({ key: "k", value: 2, ttl_seconds: 0 });
    expect(refused.status).toBe(422);
    expect((await world.get("k")).json).toEqual({ data: entryAtT0({}) });
  });
});

describe("body shape", () => {
  const cases: [string, string, string][] = [
    ["invalid JSON", "{entry: {key: 'k'}}", "Request body is not valid JSON"],
    ["truncated JSON", '{"entry":{"key":"k","value":1}', "Request body is not valid JSON"],
    ["JSON followed by garbage", '{"entry":{"key":"k","value":1}} x', "Request body is not valid JSON"],
    ["an array", '[{"entry":{"key":"k","value":1}}]', "Request body must be a JSON object"],
    ["a string", '"entry"', "Request body must be a JSON object"],
    ["a number", "5", "Request body must be a JSON object"],
    ["null", "null", "Request body must be a JSON object"],
    ["an entry that is a number", '{"entry":5}', 'Request body must have an "entry" object'],
    ["an entry that is null", '{"entry":null}', 'Request body must have an "entry" object'],
    ["an entry that is an array", '{"entry":[]}', 'Request body must have an "entry" object'],
    ["an empty object", "{}", 'Request body must have an "entry" object'],
    ["an empty body", "", "Request body is required"],
    ["a body of whitespace", "  \n ", "Request body is required"],
  ];

  test.each(cases)("answers 400 to %s", async (_, body, error) => {
    const world = await createWorld();
    const response = await putRaw(world, body);
    expect(response.status).toBe(400);
    expect(response.json).toEqual({ error });
    expect(await liveCount(world)).toBe(0);
  });
});

describe("entry limit", () => {
  test("refuses the 101st entry of a starter organization", async () => {
    const world = await createWorld();
    const starter = await world.addOrganization("starter", "starter");
    await fill(world, 100, starter.token);
    const response = await world.put({ key: "one-more", value: 1 }, { token: starter.token });
    expect(response.status).toBe(422);
    expect(response.json).toEqual(limitReached(100));
    expect(await liveCount(world, starter.token)).toBe(100);
  });

  test("refuses the 1,001st entry of a team organization", async () => {
    const world = await createWorld();
    const team = await world.addOrganization("team", "team");
    await fill(world, 1000, team.token);
    const response = await world.put({ key: "one-more", value: 1 }, { token: team.token });
    expect(response.status).toBe(422);
    expect(response.json).toEqual(limitReached(1000));
  });

  test("lets max_entries lower the plan's limit", async () => {
    const world = await createWorld();
    const org = await world.addOrganization("capped", "scale", 3);
    await fill(world, 3, org.token);
    const response = await world.put({ key: "k3", value: 1 }, { token: org.token });
    expect(response.status).toBe(422);
    expect(response.json).toEqual(limitReached(3));
  });

  test("lets max_entries raise the plan's limit", async () => {
    const world = await createWorld();
    const org = await world.addOrganization("raised", "starter", 102);
    await fill(world, 102, org.token);
    const response = await world.put({ key: "k102", value: 1 }, { token: org.token });
    expect(response.status).toBe(422);
    expect(response.json).toEqual(limitReached(102));
  });

  test("refuses every create when max_entries is 0", async () => {
    const world = await createWorld();
    const org = await world.addOrganization("zero", "team", 0);
    const response = await world.put({ key: "k", value: 1 }, { token: org.token });
    expect(response.status).toBe(422);
    expect(response.json).toEqual(limitReached(0));
    expect(await liveCount(world, org.token)).toBe(0);
  });

  test("updates an existing live entry at the limit", async () => {
    const world = await createWorld();
    const org = await world.addOrganization("capped", "scale", 3);
    await fill(world, 3, org.token);
    const before = await world.get("k1", "", { token: org.token });
    const response = await world.put({ key: "k1", value: "new" }, { token: org.token });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: entryAtT0({ id: before.json.data.id, key: "k1", value: "new" }) });
  });

  test("does not count expired entries", async () => {
    const world = await createWorld();
    const org = await world.addOrganization("capped", "scale", 2);
    await world.put({ key: "short", value: 1, ttl_seconds: 10 }, { token: org.token });
    await world.put({ key: "long", value: 1 }, { token: org.token });
    expect((await world.put({ key: "new", value: 1 }, { token: org.token })).json).toEqual(limitReached(2));
    world.clock.advance(10_000);
    const response = await world.put({ key: "new", value: 1 }, { token: org.token });
    expect(response.status).toBe(200);
  });

  test("counts re-creating an expired key as a create", async () => {
    const world = await createWorld();
    const org = await world.addOrganization("capped", "scale", 1);
    await world.put({ key: "a", value: 1, ttl_seconds: 10 }, { token: org.token });
    world.clock.advance(10_000);
    await world.put({ key: "b", value: 1 }, { token: org.token });
    const response = await world.put({ key: "a", value: 2 }, { token: org.token });
    expect(response.status).toBe(422);
    expect(response.json).toEqual(limitReached(1));
  });

  test("counts entries across namespaces", async () => {
    const world = await createWorld();
    const org = await world.addOrganization("capped", "scale", 2);
    await world.put({ key: "k", namespace: "one", value: 1 }, { token: org.token });
    await world.put({ key: "k", namespace: "two", value: 1 }, { token: org.token });
    const response = await world.put({ key: "k", namespace: "three", value: 1 }, { token: org.token });
    expect(response.status).toBe(422);
    expect(response.json).toEqual(limitReached(2));
  });

  test("does not count another organization's entries", async () => {
    const world = await createWorld();
    await fill(world, 5);
    const org = await world.addOrganization("capped", "scale", 1);
    const response = await world.put({ key: "k0", value: 1 }, { token: org.token });
    expect(response.status).toBe(200);
  });

  test("is never exceeded by concurrent creates", async () => {
    const world = await createWorld();
    const org = await world.addOrganization("capped", "scale", 10);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => world.put({ key: `k${i}`, value: i }, { token: org.token })),
    );
    const ok = responses.filter((response) => response.status === 200);
    const refused = responses.filter((response) => response.status === 422);
    expect(ok.length).toBe(10);
    expect(refused.length).toBe(40);
    for (const response of refused) expect(response.json).toEqual(limitReached(10));
    expect(await liveCount(world, org.token)).toBe(10);
  });
});

describe("concurrent upserts of one key", () => {
  test("leave exactly one entry whose fields all come from one request", async () => {
    const world = await createWorld();
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        world.put({ key: "k", value: { writer: i, payload: "x".repeat(i * 100) }, description: `writer ${i}`, ttl_seconds: 100 + i }),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(30).fill(200));
    expect(new Set(responses.map((response) => response.json.data.id)).size).toBe(1);

    const list = await world.list();
    expect(list.json.total_count).toBe(1);
    const entry = list.json.data[0];
    const writer = entry.value.writer;
    expect(entry).toEqual(
      entryAtT0({
        id: responses[0]!.json.data.id,
        value: { writer, payload: "x".repeat(writer * 100) },
        description: `writer ${writer}`,
        expires_at: iso(T0 + (100 + writer) * 1000),
      }),
    );
  });
});

describe("plan gate", () => {
  const endpoints: [string, string, unknown?][] = [
    ["GET", "/api/v1/datastore"],
    ["GET", "/api/v1/datastore/namespaces"],
    ["GET", "/api/v1/datastore/entries/k"],
    ["DELETE", "/api/v1/datastore/entries/k"],
    ["PUT", "/api/v1/datastore/entries", { entry: { key: "k", value: 1 } }],
  ];

  test.each(endpoints)("answers 403 to a free organization on %s %s, even with max_entries set", async (method, path, body) => {
    const world = await createWorld();
    const free = await world.addOrganization("free", "free");
    const freeWithLimit = await world.addOrganization("free-with-limit", "free", 50);
    for (const org of [free, freeWithLimit]) {
      const response = await world.request(method, path, { token: org.token, body });
      expect(response.status).toBe(403);
      expect(response.json).toEqual(PLAN_FORBIDDEN);
    }
  });

  test("writes nothing for a free organization", async () => {
    const world = await createWorld();
    const free = await world.addOrganization("free", "free", 50);
    await world.put({ key: "k", value: 1 }, { token: free.token });
    const rows = world.sqlite.query("SELECT count(*) AS n FROM entries").get() as { n: number };
    expect(rows.n).toBe(0);
  });
});
