import { describe, expect, test } from "bun:test";
import { createApp } from "../src/app";
import { createAuthenticator } from "../src/auth";
import { newApiKeySecret } from "../src/ids";
import { createLogger, silentLogger } from "../src/log";
import type { Store } from "../src/store/types";
import { createWorld, type World } from "./helpers";

// SPEC §4: every status of the table except 429/503, and the order of precedence.

const MIB = 1024 * 1024;
const ENTRIES = "/api/v1/datastore/entries";

const NOT_FOUND = { error: "Not found" };
const ENTRY_NOT_FOUND = { error: "Entry not found" };
const METHOD_NOT_ALLOWED = { error: "Method not allowed" };
const UNAUTHORIZED = { error: "Authentication required" };
const PLAN_FORBIDDEN = { error: "Datastore is not available on your plan" };
const TOO_LARGE = { error: "Request body is larger than 1048576 bytes" };
const UNSUPPORTED_MEDIA_TYPE = { error: "Content-Type must be application/json" };
const NOT_JSON = { error: "Request body is not valid JSON" };
const BODY_REQUIRED = { error: "Request body is required" };
const KEY_MESSAGE = "must be 1-255 characters of A-Z a-z 0-9 _ . - : /";
const TTL_MESSAGE = "must be an integer from 1 to 315360000";

type Answer = { status: number; headers: Headers; text: string; json: any };

/** Status, whole JSON body, and the JSON Content-Type every error carries. */
function expectError(response: Answer, status: number, body: unknown) {
  expect(response.status).toBe(status);
  expect(response.json).toEqual(body);
  expect(response.headers.get("content-type")).toStartWith("application/json");
}

/** A PUT body of exactly `bytes` bytes holding a valid entry (padded with an unknown field). */
function putBodyOfSize(bytes: number): string {
  const head = '{"entry":{"key":"k","value":1,"padding":"';
  const tail = '"}}';
  return head + "x".repeat(bytes - head.length - tail.length) + tail;
}

/** Headers a client sends with `body` over the wire: its Content-Length. */
const lengthOf = (body: string) => ({ "content-length": String(Buffer.byteLength(body)) });

/** A body streamed in 64 KiB chunks with no Content-Length, recording how much was pulled. */
function streamedBody(totalBytes: number, fill = 0x20) {
  const pulled = { bytes: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const size = Math.min(64 * 1024, totalBytes - pulled.bytes);
      if (size <= 0) return controller.close();
      pulled.bytes += size;
      controller.enqueue(new Uint8Array(size).fill(fill));
    },
  });
  return { stream, pulled };
}

/** Sends a Request the world's helper cannot build (no Content-Type, a stream body). */
async function send(world: World, method: string, path: string, init: { headers?: Record<string, string>; body?: Uint8Array | ReadableStream<Uint8Array> }): Promise<Answer> {
  const headers = { authorization: `Bearer ${world.token}`, ...init.headers };
  const request = new Request(`http://localhost${path}`, { method, headers, body: init.body, duplex: "half" } as RequestInit);
  const response = await world.app.handle(request);
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, text, json };
}

const allowed = (response: Answer) => (response.headers.get("allow") ?? "").split(",").map((method) => method.trim()).sort();

describe("404", () => {
  test.each(["/", "/nope", "/api", "/api/v1", "/api/v1/nope", "/api/v1/datastore/entriesx", "/api/v1/datastore/namespaces/extra", "/api/v2/datastore"])(
    "answers Not found to the unknown route %s",
    async (path) => {
      const world = await createWorld();
      expectError(await world.request("GET", path), 404, NOT_FOUND);
    },
  );

  test("answers Not found to an unknown route without authentication", async () => {
    const world = await createWorld();
    expectError(await world.request("GET", "/api/v1/nope", { token: null }), 404, NOT_FOUND);
  });

  test("answers Entry not found for a missing entry", async () => {
    const world = await createWorld();
    expectError(await world.get("missing"), 404, ENTRY_NOT_FOUND);
  });

  test("answers Entry not found for a key that could not exist", async () => {
    const world = await createWorld();
    expectError(await world.get("a%20b"), 404, ENTRY_NOT_FOUND);
  });
});

describe("405", () => {
  const cases: [string, string, string[]][] = [
    ["POST", "/api/v1/datastore", ["GET"]],
    ["PUT", "/api/v1/datastore", ["GET"]],
    ["DELETE", "/api/v1/datastore/namespaces", ["GET"]],
    ["GET", ENTRIES, ["PUT"]],
    ["POST", ENTRIES, ["PUT"]],
    ["DELETE", ENTRIES, ["PUT"]],
    ["PUT", `${ENTRIES}/k`, ["DELETE", "GET"]],
    ["POST", `${ENTRIES}/a/b/c`, ["DELETE", "GET"]],
    ["PATCH", `${ENTRIES}/k`, ["DELETE", "GET"]],
    ["POST", "/api/v1/organizations", ["GET"]],
    ["DELETE", "/api/v1/organizations/org_x/api-keys", ["GET", "POST"]],
    ["GET", "/api/v1/organizations/org_x/api-keys/key_y", ["DELETE"]],
    ["POST", "/healthz", ["GET"]],
    ["DELETE", "/swagger/json", ["GET"]],
    ["GET", `${ENTRIES}/`, ["PUT"]],
    ["POST", "/api/v1/datastore/", ["GET"]],
    ["PUT", "/api/v1/datastore/namespaces/", ["GET"]],
    ["POST", "/api/v1/organizations/", ["GET"]],
  ];

  test.each(cases)("answers %s %s with 405 and an Allow header", async (method, path, allow) => {
    const world = await createWorld();
    const response = await world.request(method, path);
    expectError(response, 405, METHOD_NOT_ALLOWED);
    expect(allowed(response)).toEqual(allow);
  });
});

describe("401", () => {
  const endpoints: [string, string, unknown?][] = [
    ["GET", "/api/v1/datastore"],
    ["GET", "/api/v1/datastore/namespaces"],
    ["GET", `${ENTRIES}/k`],
    ["DELETE", `${ENTRIES}/k`],
    ["PUT", ENTRIES, { entry: { key: "k", value: 1 } }],
    ["GET", "/api/v1/organizations"],
  ];

  test.each(endpoints)("answers %s %s without an Authorization header", async (method, path, body) => {
    const world = await createWorld();
    expectError(await world.request(method, path, { token: null, body }), 401, UNAUTHORIZED);
  });

  const badHeaders: [string, (token: string) => string][] = [
    ["a Basic scheme", (token) => `Basic ${btoa(`user:${token}`)}`],
    ["a Token scheme", (token) => `Token ${token}`],
    ["no scheme", (token) => token],
    ["a scheme with no token", () => "Bearer"],
    ["a scheme with a blank token", () => "Bearer    "],
    ["a token without the hklst_ prefix", () => "Bearer abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"],
    ["a token too short", () => "Bearer hklst_abc"],
    ["a token with characters outside the URL-safe set", (token) => `Bearer ${token.slice(0, -1)}!`],
    ["two tokens", (token) => `Bearer ${token} ${token}`],
    ["an unknown well-formed token", () => `Bearer ${newApiKeySecret()}`],
    ["the right token with one character changed", (token) => `Bearer ${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`],
  ];

  test.each(badHeaders)("answers 401 to %s", async (_, header) => {
    const world = await createWorld();
    const response = await world.list("", { token: null, headers: { authorization: header(world.token) } });
    expectError(response, 401, UNAUTHORIZED);
  });

  test("answers 401 to a revoked key", async () => {
    const world = await createWorld();
    await world.store.revokeApiKey(world.keyId, world.clock.now());
    expectError(await world.list(), 401, UNAUTHORIZED);
  });

  test.each(["bearer", "BEARER", "BeArEr"])("accepts the scheme written %s", async (scheme) => {
    const world = await createWorld();
    const response = await world.list("", { token: null, headers: { authorization: `${scheme} ${world.token}` } });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: [], page: 1, page_size: 50, total_count: 0, total_pages: 0 });
  });
});

describe("403", () => {
  test("answers 403 to a free organization on the datastore", async () => {
    const world = await createWorld();
    const free = await world.addOrganization("free", "free");
    expectError(await world.list("", { token: free.token }), 403, PLAN_FORBIDDEN);
  });

  test("does not gate the organization endpoints of a free organization", async () => {
    const world = await createWorld();
    const free = await world.addOrganization("free", "free");
    const response = await world.request("GET", "/api/v1/organizations", { token: free.token });
    expect(response.status).toBe(200);
    expect(response.json).toEqual([{ id: free.organization.id, name: "free" }]);
  });
});

describe("413", () => {
  test("answers 413 to a Content-Length of 1 MiB + 1 byte", async () => {
    const world = await createWorld();
    const body = putBodyOfSize(MIB + 1);
    expectError(await world.request("PUT", ENTRIES, { body, headers: lengthOf(body) }), 413, TOO_LARGE);
  });

  test("accepts a body of exactly 1 MiB", async () => {
    const world = await createWorld();
    const body = putBodyOfSize(MIB);
    expect(Buffer.byteLength(body)).toBe(MIB);
    const response = await world.request("PUT", ENTRIES, { body, headers: lengthOf(body) });
    expect(response.status).toBe(200);
    expect(response.json.data.key).toBe("k");
  });

  test("answers 413 to a streamed body over 1 MiB without reading it all", async () => {
    const world = await createWorld();
    const { stream, pulled } = streamedBody(64 * MIB);
    const response = await send(world, "PUT", ENTRIES, { headers: { "content-type": "application/json" }, body: stream });
    expectError(response, 413, TOO_LARGE);
    expect(pulled.bytes).toBeLessThan(4 * MIB);
  });

  test("accepts a streamed body under 1 MiB", async () => {
    const world = await createWorld();
    const bytes = new TextEncoder().encode(JSON.stringify({ entry: { key: "k", value: "streamed" } }));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 10));
        controller.enqueue(bytes.slice(10));
        controller.close();
      },
    });
    const response = await send(world, "PUT", ENTRIES, { headers: { "content-type": "application/json" }, body: stream });
    expect(response.status).toBe(200);
    expect(response.json.data.value).toBe("streamed");
  });

  test("answers 413 to an oversized API-key creation", async () => {
    const world = await createWorld();
    const body = JSON.stringify({ name: "x".repeat(MIB) });
    const response = await world.request("POST", `/api/v1/organizations/${world.org.id}/api-keys`, { body, headers: lengthOf(body) });
    expectError(response, 413, TOO_LARGE);
  });
});

describe("415", () => {
  const entryBody = JSON.stringify({ entry: { key: "k", value: 1 } });

  test("answers 415 to a PUT body without a Content-Type", async () => {
    const world = await createWorld();
    const response = await send(world, "PUT", ENTRIES, { body: new TextEncoder().encode(entryBody) });
    expectError(response, 415, UNSUPPORTED_MEDIA_TYPE);
  });

  test.each(["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "application/jsonl", "text/json"])(
    "answers 415 to a PUT body of type %s",
    async (contentType) => {
      const world = await createWorld();
      const response = await world.request("PUT", ENTRIES, { body: entryBody, headers: { "content-type": contentType } });
      expectError(response, 415, UNSUPPORTED_MEDIA_TYPE);
    },
  );

  test.each(["application/json", "application/json; charset=utf-8", "Application/JSON"])("accepts a PUT body of type %s", async (contentType) => {
    const world = await createWorld();
    const response = await world.request("PUT", ENTRIES, { body: entryBody, headers: { "content-type": contentType } });
    expect(response.status).toBe(200);
    expect(response.json.data.key).toBe("k");
  });

  test("answers 415 to a text/plain POST to the API keys", async () => {
    const world = await createWorld();
    const response = await world.request("POST", `/api/v1/organizations/${world.org.id}/api-keys`, {
      body: '{"name":"x"}',
      headers: { "content-type": "text/plain" },
    });
    expectError(response, 415, UNSUPPORTED_MEDIA_TYPE);
  });
});

describe("400", () => {
  test("answers 400 to invalid JSON", async () => {
    const world = await createWorld();
    expectError(await world.request("PUT", ENTRIES, { body: "{not json" }), 400, NOT_JSON);
  });

  test("answers 400 to a PUT with no body", async () => {
    const world = await createWorld();
    expectError(await world.request("PUT", ENTRIES), 400, BODY_REQUIRED);
  });

  test("answers 400 to a PUT with no body but a JSON Content-Type", async () => {
    const world = await createWorld();
    expectError(await world.request("PUT", ENTRIES, { headers: { "content-type": "application/json" } }), 400, BODY_REQUIRED);
  });

  test("answers 400 to a bad query parameter", async () => {
    const world = await createWorld();
    const message = "must be an integer greater than or equal to 1";
    expectError(await world.list("?page=0"), 400, { error: `Invalid query parameter page: ${message}`, errors: { page: [message] } });
  });
});

describe("422", () => {
  test("answers 422 with field errors to invalid fields", async () => {
    const world = await createWorld();
    expectError(await world.put({ key: "a b", value: 1 }), 422, { error: "Validation failed", errors: { key: [KEY_MESSAGE] } });
  });

  test("answers 422 with the limit when the organization is full", async () => {
    const world = await createWorld();
    const org = await world.addOrganization("full", "starter", 0);
    expectError(await world.put({ key: "k", value: 1 }, { token: org.token }), 422, { error: "Entry limit reached", limit: 0 });
  });
});

describe("500", () => {
  /** A world whose app runs over a store that fails on getEntry, logging errors into `logged`. */
  async function brokenWorld() {
    const world = await createWorld();
    const failing: Store = {
      ...world.store,
      getEntry: async () => {
        throw new Error("SQLITE_ERROR: no such column: entries.secret_sauce in SELECT * FROM entries");
      },
    };
    const logged: Record<string, unknown>[] = [];
    const logger = createLogger("error", (line) => void logged.push(JSON.parse(line)));
    const authenticator = createAuthenticator({ store: failing, clock: world.clock.now, dev: false, logger: silentLogger });
    const app = createApp({ store: failing, authenticator, clock: world.clock.now, logger });
    const call = async (method: string, path: string, body?: unknown) => {
      const headers: Record<string, string> = { authorization: `Bearer ${world.token}` };
      if (body !== undefined) headers["content-type"] = "application/json";
      const response = await app.handle(
        new Request(`http://localhost${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
      );
      const text = await response.text();
      return { status: response.status, headers: response.headers, text, json: JSON.parse(text) };
    };
    return { call, logged };
  }

  test("answers a thrown Error with a request id and nothing else", async () => {
    const { call } = await brokenWorld();
    const response = await call("GET", `${ENTRIES}/k`);
    expectError(response, 500, { error: "Internal server error", request_id: expect.any(String) });
    expect(Object.keys(response.json)).toEqual(["error", "request_id"]);
    expect(response.json.request_id.length).toBeGreaterThan(0);
    for (const leak of ["SQLITE", "SELECT", "secret_sauce", "at ", ".ts"]) expect(response.text).not.toContain(leak);
  });

  test("logs the error with the request id it answered", async () => {
    const { call, logged } = await brokenWorld();
    const response = await call("GET", `${ENTRIES}/k`);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: "error", request_id: response.json.request_id });
    expect(JSON.stringify(logged[0])).toContain("secret_sauce");
  });

  test("gives each failing request its own request id", async () => {
    const { call } = await brokenWorld();
    const first = await call("GET", `${ENTRIES}/k`);
    const second = await call("GET", `${ENTRIES}/k`);
    expect(first.json.request_id).not.toBe(second.json.request_id);
  });

  test("keeps serving after a 500", async () => {
    const { call } = await brokenWorld();
    expect((await call("GET", `${ENTRIES}/k`)).status).toBe(500);
    const put = await call("PUT", ENTRIES, { entry: { key: "k", value: 1 } });
    expect(put.status).toBe(200);
    expect((await call("GET", "/api/v1/datastore")).json.total_count).toBe(1);
  });
});

describe("precedence: unknown route 404 → 405 → 401 → 403 → 413 → 415 → 400 → 422 (fields) → 422 (limit)", () => {
  test("answers 404, not 405, to a wrong method on an unknown route", async () => {
    const world = await createWorld();
    expectError(await world.request("POST", "/api/v1/nope"), 404, NOT_FOUND);
    expectError(await world.request("DELETE", "/api/v1/datastore/entriesx"), 404, NOT_FOUND);
  });

  test("answers 404, not 401, to an unknown route without authentication", async () => {
    const world = await createWorld();
    expectError(await world.request("POST", "/api/v1/nope", { token: null, body: "{" }), 404, NOT_FOUND);
  });

  test("answers 405, not 401, to a POST without authentication on the entries path", async () => {
    const world = await createWorld();
    const response = await world.request("POST", ENTRIES, { token: null });
    expectError(response, 405, METHOD_NOT_ALLOWED);
    expect(allowed(response)).toEqual(["PUT"]);
  });

  test("answers 405, not 413, to an oversized body sent with the wrong method", async () => {
    const world = await createWorld();
    const body = putBodyOfSize(MIB + 1);
    expectError(await world.request("POST", ENTRIES, { token: null, body, headers: lengthOf(body) }), 405, METHOD_NOT_ALLOWED);
  });

  test("answers 401, not 403, to a revoked key of a free organization", async () => {
    const world = await createWorld();
    const free = await world.addOrganization("free", "free");
    await world.store.revokeApiKey(free.key.id, world.clock.now());
    expectError(await world.list("", { token: free.token }), 401, UNAUTHORIZED);
  });

  test("answers 401, not 413, to an unauthenticated oversized body", async () => {
    const world = await createWorld();
    const body = putBodyOfSize(MIB + 1);
    expectError(await world.request("PUT", ENTRIES, { token: null, body, headers: lengthOf(body) }), 401, UNAUTHORIZED);
  });

  test("answers 401, not 400, to unauthenticated invalid JSON", async () => {
    const world = await createWorld();
    expectError(await world.request("PUT", ENTRIES, { token: null, body: "{" }), 401, UNAUTHORIZED);
  });

  test("answers 403, not 413, to a free plan's oversized body", async () => {
    const world = await createWorld();
    const free = await world.addOrganization("free", "free");
    const body = putBodyOfSize(MIB + 1);
    expectError(await world.request("PUT", ENTRIES, { token: free.token, body, headers: lengthOf(body) }), 403, PLAN_FORBIDDEN);
  });

  test("answers 403, not 415 or 400, to a free plan's text/plain invalid JSON", async () => {
    const world = await createWorld();
    const free = await world.addOrganization("free", "free");
    const response = await world.request("PUT", ENTRIES, { token: free.token, body: "{", headers: { "content-type": "text/plain" } });
    expectError(response, 403, PLAN_FORBIDDEN);
  });

  test("answers 413, not 415, to an oversized text/plain body", async () => {
    const world = await createWorld();
    const body = putBodyOfSize(MIB + 1);
    const response = await world.request("PUT", ENTRIES, { body, headers: { ...lengthOf(body), "content-type": "text/plain" } });
    expectError(response, 413, TOO_LARGE);
  });

  test("answers 413, not 415, to an oversized text/plain body streamed without Content-Length", async () => {
    const world = await createWorld();
    const { stream } = streamedBody(2 * MIB);
    const response = await send(world, "PUT", ENTRIES, { headers: { "content-type": "text/plain" }, body: stream });
    expectError(response, 413, TOO_LARGE);
  });

  test("answers 413, not 400, to an oversized body of invalid JSON", async () => {
    const world = await createWorld();
    const body = "{".repeat(MIB + 1);
    expectError(await world.request("PUT", ENTRIES, { body, headers: lengthOf(body) }), 413, TOO_LARGE);
  });

  test("answers 415, not 400, to text/plain invalid JSON", async () => {
    const world = await createWorld();
    const response = await world.request("PUT", ENTRIES, { body: "{not json", headers: { "content-type": "text/plain" } });
    expectError(response, 415, UNSUPPORTED_MEDIA_TYPE);
  });

  test("answers 400, not 422, to invalid JSON holding bad fields", async () => {
    const world = await createWorld();
    const body = '{"entry":{"key":"a b","value":null,"ttl_seconds":0},}';
    expectError(await world.request("PUT", ENTRIES, { body }), 400, NOT_JSON);
  });

  test("answers 400, not 422, to a body whose entry is missing but whose other fields are bad", async () => {
    const world = await createWorld();
    const response = await world.request("PUT", ENTRIES, { body: { key: "a b", value: null } });
    expectError(response, 400, { error: 'Request body must have an "entry" object' });
  });

  test("answers 422 with field errors, not the limit, to bad fields at the limit", async () => {
    const world = await createWorld();
    const org = await world.addOrganization("full", "scale", 0);
    const response = await world.put({ key: "a b", value: 1, ttl_seconds: 0 }, { token: org.token });
    expectError(response, 422, { error: "Validation failed", errors: { key: [KEY_MESSAGE], ttl_seconds: [TTL_MESSAGE] } });
  });
});
