// Property-based HTTP fuzzing of the REAL server (issue 3, promise 2: "no input crashes it or
// corrupts it"). The server runs as a subprocess on a temp database; fast-check generates
// requests — methods, paths, percent-encodings, queries, headers, bodies, framing lies — that
// are sent over real TCP to 127.0.0.1, mostly as raw bytes (Bun.connect), some through fetch.
//
// Asserted for every request:
//  - never a 5xx from the app; a bare answer from Bun's own HTTP parser (no body, Connection:
//    close: 400/505/431) only for a request whose framing is deliberately malformed, or 431
//    for headers over 16 KiB;
//  - every other non-2xx answer is `Content-Type: application/json` with an "error" string;
//  - no hang: every request is answered, or its connection closed, within a time limit;
//  - a request aimed at a sentinel entry by construction can never succeed (2xx);
//  - no 2xx on /api/v1 without a valid key; cheap oracles on canonical requests (401, 403,
//    405, the 1 MiB boundary, round trips of valid writes, read-your-writes, counts);
//  - /healthz answers after each batch of 100 and the process never exits.
// At the end: every sentinel entry is byte-identical (whole GET answer and the database row),
// every entry the fuzzer wrote (2xx PUT) has exactly the answered value, every entry it
// deleted (2xx DELETE) is gone, nothing else exists, `PRAGMA integrity_check` is ok.
//
//   bun test test/stress/fuzz.test.ts                 300 requests (default suite)
//   STRESS=1 bun test test/stress/fuzz.test.ts        10,000 requests
//   FUZZ_SEED=n FUZZ_RUNS=n                           another seed / count
//   FUZZ_FAIL_FAST=1                                  throw at the first violation (fast-check
//                                                     then reports seed, path and counterexample)
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import { join } from "node:path";
import { runCli } from "../../src/cli/program";
import { cleanEnv, logLines, randomApiKey, startServerProcess, tempDir, withTimeout, type RunningServer } from "../process-helpers";
import {
  bodyBytes,
  bodyChunks,
  bodyLength,
  bytes,
  concat,
  describeAnswer,
  describeBody,
  errorShapeProblem,
  header,
  isBareParserAnswer,
  mediaTypeOf,
  repeat,
  sendFetch,
  sendRaw,
  text,
  type Answer,
  type BodySpec,
} from "./fuzz-support";

const STRESS = process.env.STRESS === "1";
const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? (STRESS ? 10_000 : 300));
const SEED = Number(process.env.FUZZ_SEED ?? 20260315);
const FAIL_FAST = process.env.FUZZ_FAIL_FAST === "1";
const SETTLE_MS = Number(process.env.FUZZ_SETTLE_MS ?? 0);
const HEAD_LIMIT_MARGIN = 16 * 1024 - 512;
const BATCH = 100;
const MiB = 1024 * 1024;
// The machine is small and shared: generous limits. A deep-nesting value costs the server ~3 s
// of CPU (see fuzz-regressions.test.ts), so a normal request may wait behind one.
const REQUEST_TIMEOUT_MS = 20_000;
const HUGE_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = STRESS ? 3_600_000 : 120_000;

// ---------------------------------------------------------------------------------------------
// The world: one server, four organizations, their keys, the sentinel entries.

type OrgName = "A" | "B" | "F" | "S";
type TokenKind = "A" | "A2" | "B" | "F" | "S";

interface World {
  server: RunningServer;
  db: string;
  base: string;
  port: number;
  tokens: Record<TokenKind, string>;
  orgIds: Record<OrgName, string>;
  keyIds: Record<TokenKind, string>;
}

let world: World;
let cleanup: () => void = () => {};

/** Runs one CLI command in this process against the server's database. */
async function cli(db: string, argv: string[]): Promise<string> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { env: { DATASTORE_DB: db }, stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  if (code !== 0) throw new Error(`datastore ${argv.join(" ")} exited ${code}: ${stderr}`);
  return stdout;
}

beforeAll(async () => {
  const temp = tempDir("datastore-fuzz-");
  cleanup = temp.cleanup;
  const db = join(temp.dir, "datastore.db");
  const tokenA = randomApiKey();
  const server = await startServerProcess(["serve", "--port", "0", "--db", db], {
    env: cleanEnv({ DATASTORE_BOOTSTRAP_KEY: tokenA }),
    timeoutMs: 30_000,
  });
  try {
    const orgs: Record<string, { id: string }> = {};
    for (const org of JSON.parse(await cli(db, ["orgs", "list", "--json"]))) orgs[org.name] = org;
    const create = async (name: string, extra: string[]) => JSON.parse(await cli(db, ["orgs", "create", name, ...extra, "--json"])).id as string;
    const orgIds: Record<OrgName, string> = {
      A: orgs.default!.id,
      B: await create("fuzz-other", ["--plan", "scale"]),
      F: await create("fuzz-free", ["--plan", "free"]),
      S: await create("fuzz-starter", ["--plan", "starter", "--max-entries", "5"]),
    };
    const key = async (org: string, name: string) => JSON.parse(await cli(db, ["keys", "create", "--org", org, "--name", name, "--json"]));
    const [a2, b, f, s] = [await key("default", "disposable"), await key("fuzz-other", "b"), await key("fuzz-free", "f"), await key("fuzz-starter", "s")];
    const keyA = JSON.parse(await cli(db, ["keys", "list", "--org", "default", "--json"])).find((k: { name: string; id: string }) => k.id !== a2.id);
    world = {
      server,
      db,
      base: server.url,
      port: server.port,
      tokens: { A: tokenA, A2: a2.key, B: b.key, F: f.key, S: s.key },
      orgIds,
      keyIds: { A: keyA.id, A2: a2.id, B: b.id, F: f.id, S: s.id },
    };
  } catch (error) {
    server.kill();
    throw error;
  }
}, 60_000);

afterAll(() => {
  world?.server.kill();
  cleanup();
});

// ---------------------------------------------------------------------------------------------
// Pools. Sentinels live in namespace "sentinel" or under keys starting with "sentinel"; nothing
// the fuzzer writes on purpose goes there. Org B's sentinels sit at the same coordinates as
// keys the fuzzer writes in org A, so a write crossing tenants would show.

const POOL_KEYS = [
  "k",
  "k1",
  "config:api:timeout",
  "a/b/c",
  "a/b/",
  "/lead",
  "x.y",
  ".env",
  "a/..b",
  "..a",
  "UPPER",
  "_",
  "-",
  ":",
  "a:b/c.d-e_f",
  "z".repeat(255),
  "shared:1",
  "shared:2",
];
const POOL_NAMESPACES = ["default", "production", "staging", "ns/a", "n.s", "N", "y".repeat(255)];
const KEY_ALPHABET = /^[A-Za-z0-9_.:/-]{1,255}$/;
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/;

interface SentinelSpec {
  org: OrgName;
  namespace: string;
  key: string;
  entry: Record<string, unknown>;
}

const SENTINELS: SentinelSpec[] = [
  { org: "A", namespace: "sentinel", key: "s:plain", entry: { value: 42 } },
  {
    org: "A",
    namespace: "sentinel",
    key: "s/unicode",
    entry: { value: { emoji: "👋", cjk: "漢字", nul: "a\u0000b", lone: "\ud800", rtl: "\u202e", big: 2 ** 53 + 2 }, description: "ünïcødé 👋" },
  },
  { org: "A", namespace: "sentinel", key: "s.big", entry: { value: Array.from({ length: 2500 }, (_, i) => `item-${i}-${"x".repeat(10)}`) } },
  { org: "A", namespace: "sentinel", key: "s:ttl", entry: { value: "ttl", ttl_seconds: 315_360_000, description: "long ttl" } },
  { org: "A", namespace: "sentinel", key: "s:false", entry: { value: false } },
  { org: "A", namespace: "sentinel", key: "s:zero", entry: { value: 0 } },
  { org: "A", namespace: "sentinel", key: "s:empty", entry: { value: "" } },
  { org: "A", namespace: "sentinel", key: "s:array", entry: { value: [] } },
  { org: "A", namespace: "sentinel", key: "s:object", entry: { value: {} } },
  { org: "A", namespace: "default", key: "sentinel:default", entry: { value: "keep me" } },
  { org: "A", namespace: "production", key: "sentinel:prod", entry: { value: { nested: { deep: [1, 2, 3] } } } },
  { org: "A", namespace: "default", key: "sentinel/a/b", entry: { value: "slashes" } },
  { org: "B", namespace: "default", key: "k", entry: { value: "org B's k" } },
  { org: "B", namespace: "default", key: "k1", entry: { value: "org B's k1" } },
  { org: "B", namespace: "production", key: "config:api:timeout", entry: { value: 30, description: "B" } },
  { org: "B", namespace: "default", key: "a/b/c", entry: { value: ["B"] } },
  { org: "B", namespace: "sentinel", key: "s:plain", entry: { value: 43 } },
  { org: "S", namespace: "default", key: "sentinel:s1", entry: { value: 1 } },
  { org: "S", namespace: "production", key: "sentinel:s2", entry: { value: 2 } },
];

const isSentinelCoordinate = (org: OrgName | null, namespace: string, key: string) =>
  org !== null && SENTINELS.some((s) => s.org === org && s.namespace === namespace && s.key === key);

// ---------------------------------------------------------------------------------------------
// Requests.

type Framing =
  | "length" // Content-Length: the true length
  | "chunked" // Transfer-Encoding: chunked
  | "none" // no length at all: the bytes that follow are a pipelined "next request"
  | "lie-longer" // Content-Length larger than the body, then the client half-closes
  | "lie-shorter" // Content-Length smaller than the body
  | "truncated" // true Content-Length, only a prefix sent, then half-close
  | "chunked-truncated" // chunked without the last chunk, then half-close
  | "bad-length"; // an unparseable Content-Length (malformed framing)

type Auth = { kind: "token"; token: TokenKind; form: "bearer" | "lower" | "upper-spaces" | "twice" } | { kind: "invalid"; value: string } | { kind: "none" };

type HostClass = "normal" | "short" | "broken" | "missing";

type Oracle =
  | { kind: "status"; statuses: number[]; why: string }
  | { kind: "validPut"; org: OrgName | "token"; namespace: string; key: string; valueJson: string; description: string | null }
  | { kind: "readBack"; index: number; pathStyle: "encoded" | "raw" }
  | { kind: "count"; index: number }
  | { kind: "namespaces" }
  | { kind: "keyCreate"; name: unknown };

interface FuzzRequest {
  scenario: string;
  method: string;
  target: string;
  /** Send the target's characters U+0080–U+00FF as single raw bytes (invalid UTF-8 paths). */
  latin1Target?: boolean;
  version: string;
  host: { value: string | null; cls: HostClass };
  auth: Auth;
  contentType: string | null;
  headers: [string, string][];
  body?: BodySpec;
  framing: Framing;
  badLength?: string;
  chunkSize?: number;
  cut?: number;
  transport: "raw" | "fetch";
  /** The bytes are not valid HTTP/1.1: Bun's parser may answer with its bare 400/505 or drop. */
  malformed?: boolean;
  /** Aimed at a sentinel by construction: any 2xx is a violation (and would change it). */
  mustFail?: boolean;
  /** Built from the canonical route table with a valid framing: oracles apply. */
  canonical?: boolean;
  oracle?: Oracle;
  /** Headers larger than Bun's 16 KiB limit: a bare 431 is allowed. */
  oversizedHead?: boolean;
  /** The line ending of the head (a bare LF is malformed). */
  lineEnding?: string;
}

const STANDARD_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"];
const ODD_METHODS = ["TRACE", "CONNECT", "PROPFIND", "MKCOL", "FOO", "M-SEARCH", "PURGE", "QUERY", "get", "Put", "delete", "G E T", "GET\t", "X".repeat(300), "ÄÖÜ", "DELETE/"];

// The routes of SPEC §3 with the methods each allows.
function routeFor(path: string): { methods: string[]; access: "public" | "key" | "datastore"; body?: boolean } | null {
  if (path === "/healthz") return { methods: ["GET"], access: "public" };
  if (path === "/swagger" || path === "/swagger/json") return { methods: ["GET"], access: "public" };
  if (path === "/api/v1/datastore" || path === "/api/v1/datastore/namespaces") return { methods: ["GET"], access: "datastore" };
  if (path === "/api/v1/datastore/entries") return { methods: ["PUT"], access: "datastore", body: true };
  if (/^\/api\/v1\/datastore\/entries\/.+$/.test(path)) return { methods: ["GET", "DELETE"], access: "datastore" };
  if (path === "/api/v1/organizations") return { methods: ["GET"], access: "key" };
  if (/^\/api\/v1\/organizations\/[^/]+\/api-keys$/.test(path)) return { methods: ["GET", "POST"], access: "key", body: true };
  if (/^\/api\/v1\/organizations\/[^/]+\/api-keys\/[^/]+$/.test(path)) return { methods: ["DELETE"], access: "key" };
  return null;
}

/** Percent-encodes every character of `s` (UTF-8), in upper or lower hex. */
const encodeAll = (s: string, lower = false) =>
  [...Buffer.from(s)].map((b) => "%" + (lower ? b.toString(16).padStart(2, "0") : b.toString(16).toUpperCase().padStart(2, "0"))).join("");

/** A key as a path: raw slashes, %2F, every byte encoded, or double-encoded. */
function keyAsPath(key: string, style: number): string {
  switch (style % 5) {
    case 0:
      return key.split("/").map(encodeURIComponent).join("/");
    case 1:
      return encodeURIComponent(key);
    case 2:
      return encodeAll(key, style % 2 === 0);
    case 3:
      return encodeURIComponent(encodeURIComponent(key)); // the key "<key with %2F…>": cannot exist
    default:
      return key;
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries (built once the world exists, since they embed real ids).

function buildArbitraries(w: World) {
  const weighted = <T,>(...entries: [number, fc.Arbitrary<T>][]) => fc.oneof(...entries.map(([weight, arbitrary]) => ({ weight, arbitrary })));

  const validTokenKind = weighted<TokenKind>([12, fc.constant("A")], [2, fc.constant("A2")], [2, fc.constant("B")], [2, fc.constant("F")], [4, fc.constant("S")]);
  const tokenAuth: fc.Arbitrary<Auth> = fc.record({
    kind: fc.constant("token" as const),
    token: validTokenKind,
    form: weighted<"bearer" | "lower" | "upper-spaces" | "twice">([10, fc.constant("bearer")], [1, fc.constant("lower")], [1, fc.constant("upper-spaces")], [1, fc.constant("twice")]),
  });
  const A = w.tokens.A;
  const invalidAuth: fc.Arbitrary<Auth> = fc
    .oneof(
      fc.constantFrom(
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        `Bearer ${A}x`,
        A,
        `Bearer ${A.slice(0, -1)}`,
        "Bearer hklst_short",
        `Bearer hklst_${"A".repeat(43)}`,
        `Bearer ${A} ${A}`,
        `Token ${A}`,
        `Bearer\t${A}`,
        `Bearer ${A.toUpperCase()}`,
        `Bearer ${"hklst_" + "é".repeat(40)}`,
        `Bearer hklst_${"x".repeat(12_000)}`,
        "Bearer null",
        "Bearer undefined",
        `Bearer %68klst_${A.slice(6)}`,
      ),
      fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`),
    )
    .map((value) => ({ kind: "invalid" as const, value }));
  const auth = weighted<Auth>([16, tokenAuth], [3, invalidAuth], [2, fc.constant({ kind: "none" as const })]);

  const goodHost = { value: `127.0.0.1:${w.port}`, cls: "normal" as HostClass };
  const host = weighted<{ value: string | null; cls: HostClass }>(
    [60, fc.constant(goodHost)],
    [2, fc.constantFrom(...["localhost", `localhost:${w.port}`, "example.com", "127.0.0.1:99999", "[::1]:80", "a..b"].map((value) => ({ value, cls: "normal" as HostClass })))],
    [1, fc.constantFrom(...["x", "ab", "abc", "a:1", "::1", "*"].map((value) => ({ value, cls: "short" as HostClass })))],
    [1, fc.constantFrom(...["", " ", "a/b", "a?b", "a#b", "a@b", "é", "a b", "a\\b"].map((value) => ({ value, cls: "broken" as HostClass })))],
  );

  const goodContentType = fc.constantFrom("application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "Application/Json;charset=UTF-8", " application/json ", "application/json;");
  const badContentType = fc.constantFrom(
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonx",
    "application/problem+json",
    "application/json, text/plain",
    "json",
    "",
    "*/*",
    "application/vnd.api+json",
    "text/json",
  );
  const contentType = weighted<string | null>([10, goodContentType], [2, badContentType], [1, fc.constant(null)]);

  const extraHeader: fc.Arbitrary<[string, string]> = fc.oneof(
    fc.constantFrom<[string, string]>(
      ["Accept", "*/*"],
      ["Accept", "application/xml"],
      ["Accept-Encoding", "gzip, br"],
      ["Expect", "100-continue"],
      ["Connection", "close"],
      ["Connection", "keep-alive"],
      ["Connection", "Upgrade"],
      ["Upgrade", "websocket"],
      ["Upgrade", "h2c"],
      ["Content-Encoding", "gzip"],
      ["Content-Encoding", "br"],
      ["X-Forwarded-For", "1.2.3.4, 5.6.7.8"],
      ["X-Forwarded-Host", "evil.example"],
      ["X-Forwarded-Proto", "https"],
      ["Forwarded", "for=1.2.3.4;host=evil"],
      ["X-HTTP-Method-Override", "DELETE"],
      ["Cookie", "session=1; a=b"],
      ["Range", "bytes=0-1"],
      ["If-None-Match", "*"],
      ["Origin", "http://evil.example"],
      ["X-Request-Id", "../../etc/passwd"],
      ["X-Fuzz", "é\u00ff"],
      ["Content-Type", "text/plain"],
      ["Authorization", "Bearer hklst_second_header"],
    ),
    fc.tuple(fc.stringMatching(/^X-[A-Za-z0-9-]{1,20}$/), fc.string({ maxLength: 40 }).filter((s) => !/[\r\n\0]/.test(s) && s.trim() === s)),
  );
  const extraHeaders = weighted<[string, string][]>([8, fc.constant([])], [2, fc.array(extraHeader, { maxLength: 4 })], [1, fc.constant(Array.from({ length: 120 }, (_, i): [string, string] => [`X-Many-${i}`, "v".repeat(60)]))]);

  // Keys and namespaces the fuzzer may write.
  const randomKey = fc.stringMatching(/^[A-Za-z0-9_.:/-]{1,40}$/).filter((k) => !k.startsWith("sentinel"));
  const writableKey = weighted<string>([6, fc.constantFrom(...POOL_KEYS)], [3, randomKey]);
  const writableNamespace = weighted<string | undefined>(
    [4, fc.constant(undefined)],
    [6, fc.constantFrom(...POOL_NAMESPACES)],
    [1, fc.stringMatching(/^[A-Za-z0-9_.:/-]{1,20}$/).filter((n) => n !== "sentinel")],
  );

  const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
  const trickyString = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: "grapheme", maxLength: 20 }),
    fc.string({ unit: "binary", maxLength: 20 }),
    fc.constantFrom("", "\u0000", "a\u0000b", "👋", "\ud83d\udc4b", "\u202e", "\ufeff", "\\", '"', "</script>", "%00", "null", "\r\n", "\u2028\u2029"),
    fc.tuple(fc.string({ maxLength: 5 }), loneSurrogate, fc.string({ maxLength: 5 })).map(([a, b, c]) => a + b + c),
  );
  // Valid values: any JSON value but null at the top.
  const value: fc.Arbitrary<unknown> = weighted<unknown>(
    [6, fc.jsonValue({ maxDepth: 4 }).filter((v) => v !== null)],
    [3, trickyString],
    [1, fc.constantFrom(0, -0, false, "", [], {}, 2 ** 53 + 1, -(2 ** 63), 1e308, -1e-308, 5e-324, 0.1 + 0.2)],
    [1, fc.dictionary(trickyString, trickyString, { maxKeys: 4 })],
    [1, fc.constantFrom({ __proto__: null, a: 1 }, JSON.parse('{"__proto__":{"polluted":true}}'), { constructor: { prototype: 1 } }, { toString: "x", valueOf: 1 })],
    [1, fc.integer({ min: 1, max: 60 }).map((depth) => JSON.parse("[".repeat(depth * 10) + "]".repeat(depth * 10)))],
    [1, fc.constantFrom(65_536 - 2, 65_536 - 1, 65_537).map((n) => "v".repeat(n - 2))], // the 64 KiB boundary as JSON text
  );
  const description = weighted<string | null | undefined>([5, fc.constant(undefined)], [2, fc.constant(null)], [4, trickyString], [1, fc.constantFrom("d".repeat(1000), "👋".repeat(1000))]);
  const ttl = weighted<number | null | undefined>([6, fc.constant(undefined)], [1, fc.constant(null)], [2, fc.integer({ min: 3600, max: 315_360_000 })]);

  /** Serializes an entry body in one of several equivalent ways. */
  const serialize = (body: Record<string, unknown>, style: number) => {
    switch (style % 4) {
      case 0:
        return JSON.stringify(body);
      case 1:
        return JSON.stringify(body, null, 2);
      case 2: // every non-ASCII character as a \u escape
        return JSON.stringify(body).replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
      default:
        return "\ufeff \t\r\n" + JSON.stringify(body) + " \n";
    }
  };

  // --- scenario: a valid upsert, the fuzzer's writes ---------------------------------------
  const validPut = fc
    .record({
      key: writableKey,
      namespace: writableNamespace,
      value,
      description,
      ttl,
      extra: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), { nil: undefined }),
      style: fc.nat(),
      auth: weighted<Auth>([10, tokenAuth], [1, invalidAuth]),
      contentType: weighted<string | null>([12, goodContentType], [1, badContentType], [1, fc.constant(null)]),
      framing: weighted<Framing>([8, fc.constant("length")], [2, fc.constant("chunked")]),
      chunkSize: fc.integer({ min: 1, max: 4096 }),
      trailingSlash: fc.boolean(),
      transport: weighted<"raw" | "fetch">([3, fc.constant("raw")], [1, fc.constant("fetch")]),
      headers: extraHeaders,
      host,
    })
    .map((g): FuzzRequest => {
      const entry: Record<string, unknown> = { key: g.key };
      if (g.namespace !== undefined) entry.namespace = g.namespace;
      entry.value = g.value;
      if (g.description !== undefined) entry.description = g.description;
      if (g.ttl !== undefined) entry.ttl_seconds = g.ttl;
      const body: Record<string, unknown> = { entry: g.extra ? { ...g.extra, ...entry } : entry };
      if (g.extra) body.unknown_top_level = g.extra;
      const valueJson = JSON.stringify(g.value);
      return {
        scenario: "valid-put",
        method: "PUT",
        target: "/api/v1/datastore/entries" + (g.trailingSlash ? "/" : ""),
        version: "HTTP/1.1",
        host: g.host,
        auth: g.auth,
        contentType: g.contentType,
        headers: g.headers,
        body: text(serialize(body, g.style)),
        framing: g.framing,
        chunkSize: g.chunkSize,
        transport: g.transport,
        canonical: true,
        oracle: {
          kind: "validPut",
          org: "token",
          namespace: g.namespace ?? "default",
          key: g.key,
          valueJson,
          description: (g.description as string | null | undefined) ?? null,
        },
      };
    });

  // --- scenario: an attack on a sentinel that must fail --------------------------------------
  const sentinelBodyBreaker = fc.constantFrom<(e: Record<string, unknown>) => string>(
    (e) => JSON.stringify({ entry: { ...e, value: null } }),
    (e) => JSON.stringify({ entry: { key: e.key, namespace: e.namespace } }),
    (e) => JSON.stringify({ entry: { ...e, value: 1 } }).replace('"value":1', '"value":1e400'),
    (e) => JSON.stringify({ entry: { ...e, value: [1] } }).replace('"value":[1]', '"value":[-1e400]'),
    (e) => JSON.stringify({ entry: { ...e, value: { a: 1 } } }).replace('"a":1', `"a":${"9".repeat(400)}`),
    (e) => JSON.stringify({ entry: { ...e, value: "v".repeat(70_000) } }),
    (e) => JSON.stringify({ entry: { ...e, ttl_seconds: 0 } }),
    (e) => JSON.stringify({ entry: { ...e, ttl_seconds: -1 } }),
    (e) => JSON.stringify({ entry: { ...e, ttl_seconds: 1.5 } }),
    (e) => JSON.stringify({ entry: { ...e, ttl_seconds: "60" } }),
    (e) => JSON.stringify({ entry: { ...e, ttl_seconds: 315_360_001 } }),
    (e) => JSON.stringify({ entry: { ...e, ttl_seconds: true } }),
    (e) => JSON.stringify({ entry: { ...e, ttl_seconds: 1 } }).replace('"ttl_seconds":1', '"ttl_seconds":1e400'),
    (e) => JSON.stringify({ entry: { ...e, description: "d".repeat(1001) } }),
    (e) => JSON.stringify({ entry: { ...e, description: "👋".repeat(1001) } }),
    (e) => JSON.stringify({ entry: { ...e, description: 123 } }),
    (e) => JSON.stringify({ entry: { ...e, description: ["x"] } }),
    (e) => JSON.stringify({ entry: { ...e, namespace: 5 } }),
    (e) => JSON.stringify({ entry: { ...e, key: [e.key] } }),
    (e) => JSON.stringify({ entry: [e] }),
    (e) => JSON.stringify({ Entry: e }),
    (e) => JSON.stringify([{ entry: e }]),
    (e) => JSON.stringify(JSON.stringify({ entry: e })),
    (e) => JSON.stringify({ entry: { ...e, value: 1 } }).replace('"value":1', '"value":1,"value":null'), // duplicate key: last wins
    (e) => JSON.stringify({ entry: e }).replace(/\}$/, ',"entry":{"key":1}}'), // duplicate entry, the last invalid
    (e) => JSON.stringify({ entry: e }).replace(/\}$/, ',"entry":null}'),
    (e) => JSON.stringify({ entry: e }).slice(0, -1), // truncated
    (e) => JSON.stringify({ entry: e }).slice(0, 10),
    (e) => JSON.stringify({ entry: e }).replace('"value"', '"va\u0000lue"'), // a raw NUL inside a string: invalid JSON
    (e) => JSON.stringify({ entry: e }).replace('"key":"', '"key":"\\ud800'),
    (e) => JSON.stringify({ entry: e }).replace('"key":"', '"key":" '),
    (e) => JSON.stringify({ entry: { ...e, key: `${e.key}/./x` } }),
  );
  const sentinelTarget = fc.constantFrom(...SENTINELS);
  const sentinelAttack = fc
    .record({
      sentinel: sentinelTarget,
      how: fc.constantFrom("body", "body", "body", "auth", "content-type", "method", "oversize", "oversize-chunked", "free-plan", "delete-unauth", "delete-other-org"),
      breaker: sentinelBodyBreaker,
      invalid: invalidAuth,
      badType: badContentType,
      method: fc.constantFrom("POST", "PATCH", "GET", "DELETE", "OPTIONS", "HEAD"),
      value,
      pathStyle: fc.nat(),
      noAuth: fc.boolean(),
    })
    .map((g): FuzzRequest => {
      const s = g.sentinel;
      const entry = { key: s.key, namespace: s.namespace, value: g.value };
      const ownToken: TokenKind = s.org === "F" ? "F" : s.org;
      const base: FuzzRequest = {
        scenario: `sentinel-${g.how}`,
        method: "PUT",
        target: "/api/v1/datastore/entries",
        version: "HTTP/1.1",
        host: goodHost,
        auth: { kind: "token", token: ownToken, form: "bearer" },
        contentType: "application/json",
        headers: [],
        body: text(JSON.stringify({ entry })),
        framing: "length",
        transport: "raw",
        mustFail: true,
      };
      switch (g.how) {
        case "body":
          return { ...base, body: text(g.breaker(entry)) };
        case "auth":
          return { ...base, auth: g.noAuth ? { kind: "none" } : g.invalid, canonical: true, oracle: { kind: "status", statuses: [401], why: "no valid key" } };
        case "content-type":
          return { ...base, contentType: g.badType, canonical: true, oracle: { kind: "status", statuses: [415], why: "not application/json" } };
        case "method":
          return { ...base, method: g.method === "DELETE" ? "POST" : g.method, canonical: true, oracle: { kind: "status", statuses: [405], why: "wrong method on /entries" } };
        case "oversize": // the sentinel write first, then padding past 1 MiB
          return {
            ...base,
            body: concat(text(JSON.stringify({ entry }).slice(0, -1) + ',"pad":"'), repeat("p", 2 * MiB), text('"}')),
            canonical: true,
            oracle: { kind: "status", statuses: [413], why: "body over 1 MiB" },
          };
        case "oversize-chunked":
          return {
            ...base,
            body: concat(text(JSON.stringify({ entry }).slice(0, -1) + ',"pad":"'), repeat("p", 2 * MiB), text('"}')),
            framing: "chunked",
            chunkSize: 65_536,
            canonical: true,
            oracle: { kind: "status", statuses: [413], why: "streamed body over 1 MiB" },
          };
        case "free-plan":
          return { ...base, auth: { kind: "token", token: "F", form: "bearer" }, canonical: true, oracle: { kind: "status", statuses: [403], why: "free plan" } };
        case "delete-unauth":
          return {
            ...base,
            method: "DELETE",
            target: `/api/v1/datastore/entries/${keyAsPath(s.key, g.pathStyle % 3)}?namespace=${encodeURIComponent(s.namespace)}`,
            body: undefined,
            contentType: null,
            auth: g.noAuth ? { kind: "none" } : g.invalid,
            canonical: true,
            oracle: { kind: "status", statuses: [401], why: "no valid key" },
          };
        default: {
          // Another organization deletes at the sentinel's coordinates (which no one writes on
          // purpose): 404 in its own scope, whatever it holds.
          const other: TokenKind = s.org === "A" ? "S" : "A";
          const unwritten = s.namespace === "sentinel" || s.key.startsWith("sentinel");
          return {
            ...base,
            method: "DELETE",
            target: `/api/v1/datastore/entries/${keyAsPath(s.key, g.pathStyle % 3)}?namespace=${encodeURIComponent(s.namespace)}`,
            body: undefined,
            contentType: null,
            auth: unwritten ? { kind: "token", token: other, form: "bearer" } : g.invalid,
          };
        }
      }
    });

  // --- scenario: malformed and hostile bodies on PUT /entries --------------------------------
  const poolEntryJson = fc.record({ key: writableKey, value }).map((e) => JSON.stringify({ entry: e }));
  const deepBody = fc.constantFrom<BodySpec>(
    repeat("[", 100_000),
    repeat("{", 100_000),
    repeat('{"a":', 100_000),
    concat(text('{"entry":{"key":"deep","value":'), repeat("[", 100_000)),
    concat(text('{"x":'), repeat("[", 100_000), repeat("]", 100_000), text(',"entry":{"key":"deep-top","value":1}}')),
    concat(text('{"entry":{"key":"deep","value":'), repeat("[", 1000), repeat("]", 1000), text("}}")),
    concat(text('{"entry":{"key":"deep","value":'), repeat("[", 10_000), repeat("]", 10_000), text("}}")),
    concat(text('{"entry":{"key":"deep","extra":'), repeat('{"a":', 50_000), text("1"), repeat("}", 50_000), text(',"value":1}}')),
    concat(text('{"entry":{"key":'), repeat("[", 100_000), repeat("]", 100_000), text(',"value":1}}')),
  );
  // A value 100,000 levels deep that parses: costs the server ~3 s of CPU (a known issue), so rare.
  const slowDeepBody = fc.constantFrom<BodySpec>(
    concat(text('{"entry":{"key":"deep","value":'), repeat("[", 100_000), repeat("]", 100_000), text("}}")),
    concat(text('{"entry":{"key":"deep","value":'), repeat('{"a":', 50_000), text("1"), repeat("}", 50_000), text("}}")),
  );
  const hugeNumbers = fc.constantFrom("1e400", "-1e400", "1E400", "9".repeat(400), "-" + "9".repeat(400), "1" + "0".repeat(308), "1e-400", "0." + "0".repeat(400) + "1", "123456789012345678901234567890", "-0", "1e309", "2e308");
  const wrongTypes = fc.constantFrom<unknown>(null, 0, 1.5, -1, true, false, "", "x", [], [1], {}, { a: 1 }, "60", 1e400);
  const garbageText = fc.oneof(
    poolEntryJson.chain((json) => fc.integer({ min: 0, max: Math.max(0, json.length - 1) }).map((n) => json.slice(0, n))), // truncated
    fc.tuple(writableKey, hugeNumbers, fc.constantFrom("value", "ttl_seconds", "description", "key", "namespace")).map(
      ([key, number, field]) => `{"entry":{"key":${JSON.stringify(key)},"value":1,"${field}":${number}}}`.replace(`"value":1,"value":`, `"value":`),
    ),
    fc.tuple(fc.constantFrom("entry", "key", "value", "namespace", "description", "ttl_seconds"), wrongTypes, writableKey).map(([field, wrong, key]) => {
      const entry: Record<string, unknown> = { key, value: "v" };
      if (field === "entry") return JSON.stringify({ entry: wrong });
      entry[field] = wrong;
      return JSON.stringify({ entry });
    }),
    fc.tuple(writableKey, writableKey).map(([a, b]) => `{"entry":{"key":${JSON.stringify(a)},"key":${JSON.stringify(b)},"value":1,"value":{"dup":true}}}`),
    fc.tuple(writableKey, writableKey).map(([a, b]) => `{"entry":{"key":${JSON.stringify(a)},"value":1},"entry":{"key":${JSON.stringify(b)},"value":2}}`),
    fc.tuple(writableKey, loneSurrogate, fc.constantFrom("value", "description", "key", "namespace", "field")).map(([key, surrogate, where]) => {
      const escape = "\\u" + surrogate.charCodeAt(0).toString(16);
      if (where === "field") return `{"entry":{"key":${JSON.stringify(key)},"value":1,"${escape}":2}}`;
      if (where === "key" || where === "namespace") return `{"entry":{"key":${JSON.stringify(key)},"value":1,"${where}":"a${escape}"}}`;
      return `{"entry":{"key":${JSON.stringify(key)},"value":1,"${where}":"a${escape}b"}}`.replace('"value":1,"value"', '"value"');
    }),
    fc.tuple(writableKey, fc.constantFrom("value", "description", "key", "namespace")).map(
      ([key, where]) => `{"entry":{"key":${JSON.stringify(key)},"value":1,"${where}":"a\\u0000b"}}`.replace('"value":1,"value"', '"value"'),
    ),
    fc.json({ maxDepth: 4 }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ entry: v })),
    fc.constantFrom("", " ", "\n\n", "null", "[]", '"x"', "{}", "0", "true", '{"entry":null}', '{"entry":{}}', "{'entry':{}}", '{"entry":{"key":"k","value":1},}', "{,}", "[{", "\ufeff", "\u0000", "{\"entry\":{\"key\":\"k\",\"value\":NaN}}", "{\"entry\":{\"key\":\"k\",\"value\":Infinity}}", "{\"entry\":{\"key\":\"k\",\"value\":undefined}}", "{\"entry\":{\"key\":\"k\",\"value\":0x10}}", "{\"entry\":{\"key\":\"k\",\"value\":01}}", "{\"entry\":{\"key\":\"k\",\"value\":.5}}"),
    fc.array(poolEntryJson, { minLength: 1, maxLength: 3 }).map((list) => `[${list.join(",")}]`), // valid entries, wrong container
    fc.tuple(poolEntryJson, poolEntryJson).map(([a, b]) => a + b), // two documents
    fc.string({ maxLength: 200 }),
  );
  const garbageBytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => bytes(b)),
    fc.tuple(writableKey, fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xfe, 0xff], [0x00], [0xf0, 0x9f, 0x91]), fc.constantFrom("value", "key", "namespace", "description", "outside")).map(
      ([key, bad, where]) => {
        const before = where === "outside" ? `{"entry":{"key":${JSON.stringify(key)},"value":1}` : `{"entry":{"key":${JSON.stringify(key)},"value":1,"${where}":"a`;
        const after = where === "outside" ? "}" : `b"}}`;
        return bytes([...Buffer.from(before.replace('"value":1,"value":', '"value":')), ...bad, ...Buffer.from(after)]);
      },
    ),
    fc.constantFrom(bytes([0xff, 0xfe, ...Buffer.from('{"entry":{"key":"k","value":1}}', "utf16le")]), bytes(Buffer.from('{"entry":{"key":"k","value":1}}', "utf16le"))),
  );
  const garbagePut = fc
    .record({
      body: weighted<BodySpec>([10, garbageText.map(text)], [3, garbageBytes], [1, deepBody], [1, fc.constant(undefined as unknown as BodySpec)]),
      auth,
      contentType,
      framing: weighted<Framing>([10, fc.constant("length")], [2, fc.constant("chunked")], [1, fc.constant("none")]),
      chunkSize: fc.integer({ min: 1, max: 2048 }),
      transport: weighted<"raw" | "fetch">([4, fc.constant("raw")], [1, fc.constant("fetch")]),
      host,
      headers: extraHeaders,
    })
    .map(
      (g): FuzzRequest => ({
        scenario: "garbage-put",
        method: "PUT",
        target: "/api/v1/datastore/entries",
        version: "HTTP/1.1",
        host: g.host,
        auth: g.auth,
        contentType: g.contentType,
        headers: g.headers,
        body: g.body ?? undefined,
        framing: g.body ? g.framing : "length",
        chunkSize: g.chunkSize,
        transport: g.transport,
      }),
    );
  const slowDeepPut = slowDeepBody.map(
    (body): FuzzRequest => ({
      scenario: "deep-value-put",
      method: "PUT",
      target: "/api/v1/datastore/entries",
      version: "HTTP/1.1",
      host: goodHost,
      auth: { kind: "token", token: "A", form: "bearer" },
      contentType: "application/json",
      headers: [],
      body,
      framing: "length",
      transport: "raw",
      canonical: true,
      oracle: { kind: "status", statuses: [422], why: "a value too deep to serialize is over the size limit" },
    }),
  );

  // --- scenario: paths ---------------------------------------------------------------------
  const INVALID_ENCODINGS = ["%", "%zz", "%0", "%00", "%2F", "%2f", "%252F", "%C0%AF", "%ED%A0%80", "%FF", "%E2%82", "%2E", "%2E%2E", "%u0041", "%%", "%25", "a%", "%c3%a9", "%F0%9F%91%8B", "%0A", "%0D%0A", "%20", "+", "%2B"];
  const keySegment = weighted<string>(
    [6, fc.tuple(writableKey, fc.nat()).map(([key, style]) => keyAsPath(key, style))],
    [3, fc.tuple(fc.constantFrom(...INVALID_ENCODINGS), fc.constantFrom("", "k", "a/b", "x.y")).map(([bad, key]) => key + bad)],
    [2, fc.constantFrom(".", "..", "a/./b", "a/../b", "./a", "../../../etc/passwd", "%2e%2e/x", "a/%2e%2e/b", "..%2F..%2Fx", "a//b", "a/", "/", "//", "a;b", "a?", "a#b", "sentinel:default", "s%3Aplain")],
    [2, fc.string({ maxLength: 20 }).map((s) => s.replace(/[\s\u0000-\u001f\u007f]/g, "_"))],
    [1, fc.string({ unit: "grapheme", maxLength: 10 }).map((s) => s.replace(/[\s\u0000-\u001f\u007f]/g, "_"))],
    [1, fc.constantFrom("k".repeat(256), "k".repeat(5000), "%41".repeat(300), "a/".repeat(200))],
  );
  const namespaceValue = weighted<string>(
    [5, fc.constantFrom(...POOL_NAMESPACES)],
    [2, fc.constantFrom("", "sentinel", "%", "%zz", "%00", "a%2Fb", "a b", "n".repeat(256), "DEFAULT", "default%00", "%64efault")],
    [1, fc.string({ maxLength: 10 }).map(encodeURIComponent)],
  );
  const queryValue = fc.oneof(
    fc.constantFrom("", "0", "1", "-1", "1.0", "1e1", "abc", "100", "101", "50", "99", "999999999999999", "9999999999999999", "99999999999999999999", " 1", "1 ", "%31", "0x10", "+1", "１", "%", "%zz", "%00", "null", "[]", "true"),
    fc.string({ maxLength: 12 }).map(encodeURIComponent),
  );
  const query = weighted<string>(
    [5, fc.constant("")],
    [4, namespaceValue.map((ns) => `?namespace=${ns}`)],
    [3, fc.array(fc.tuple(fc.constantFrom("namespace", "prefix", "page", "page_size", "unknown", "Namespace", "namespace[]", "page[a]", "__proto__", "constructor", "prefix[0]"), queryValue), { maxLength: 5 }).map((pairs) => "?" + pairs.map(([k, v]) => `${k}=${v}`).join("&"))],
    [1, fc.constantFrom("?", "??", "?&&", "?=", "?namespace", "?namespace=a&namespace=b", "?page=1&page=2", "?page_size=1&page_size=1000", "?namespace=default#frag", `?junk=${"j".repeat(8000)}`, `?namespace=${"n".repeat(300)}`, "?namespace=%E2%82", "?prefix=%C0%AF", "?prefix=__", "?prefix=%25")],
  );
  const orgSegment = fc.constantFrom(w.orgIds.A, w.orgIds.A, w.orgIds.B, w.orgIds.F, w.orgIds.S, "org_doesnotexist00000", "%", "..", encodeURIComponent(w.orgIds.A), encodeAll(w.orgIds.A));
  const keyIdSegment = fc.constantFrom(w.keyIds.A2, w.keyIds.B, w.keyIds.S, "key_doesnotexist00000", "%zz", "..", encodeAll(w.keyIds.A2));
  const path = weighted<string>(
    [4, fc.constantFrom("/healthz", "/swagger", "/swagger/json", "/api/v1/datastore", "/api/v1/datastore/namespaces", "/api/v1/datastore/entries", "/api/v1/organizations")],
    [6, keySegment.map((k) => `/api/v1/datastore/entries/${k}`)],
    [2, fc.tuple(orgSegment, fc.boolean()).map(([org, slash]) => `/api/v1/organizations/${org}/api-keys${slash ? "/" : ""}`)],
    [2, fc.tuple(orgSegment, keyIdSegment).map(([org, key]) => `/api/v1/organizations/${org}/api-keys/${key}`)],
    [
      3,
      fc.constantFrom(
        "/",
        "",
        "//api/v1/datastore",
        "/api/v1/datastore/",
        "/api/v1/datastore//",
        "/API/v1/datastore",
        "/api/v2/datastore",
        "/api/v1/datastorex",
        "/api/v1/datastore/entries/",
        "/api/v1/datastore/entries//",
        "/api/v1/./datastore",
        "/api/v1/datastore/../datastore",
        "/api/v1/datastore%2Fentries",
        "/api/v1/datastore/entries%2Fk",
        "/%61pi/v1/datastore",
        "/api/v1/datastore;x",
        "/api/v1/datastore/namespaces/x",
        "/api/v1/datastore/namespaces/",
        "/healthz/",
        "/healthz?x=1",
        "/swagger/",
        "/swagger/json/x",
        "/api/v1/organizations/",
        "/api/v1/organizations//api-keys",
        "/api/v1",
        "/api",
        "/favicon.ico",
        "/.env",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/api/v1/datastore\\entries",
        `/${"a".repeat(9000)}`,
        "*",
        `http://127.0.0.1:${w.port}/api/v1/datastore`,
        "http://evil.example/api/v1/datastore",
      ),
    ],
    [1, fc.array(fc.string({ maxLength: 8 }).map(encodeURIComponent), { maxLength: 6 }).map((segments) => "/" + segments.join("/"))],
  );

  // --- scenario: any method on any path, with any headers and body --------------------------
  const anyBody = weighted<BodySpec | undefined>([6, fc.constant(undefined)], [3, garbageText.map(text)], [2, poolEntryJson.map(text)], [1, garbageBytes], [1, fc.jsonValue().map((v) => text(JSON.stringify({ name: v })))]);
  const randomRequest = fc
    .record({
      method: weighted<string>([10, fc.constantFrom(...STANDARD_METHODS)], [1, fc.constantFrom(...ODD_METHODS)]),
      path,
      query,
      auth,
      contentType,
      headers: extraHeaders,
      body: anyBody,
      framing: weighted<Framing>([8, fc.constant("length")], [2, fc.constant("chunked")], [1, fc.constant("none")]),
      chunkSize: fc.integer({ min: 1, max: 512 }),
      host,
      transport: weighted<"raw" | "fetch">([4, fc.constant("raw")], [1, fc.constant("fetch")]),
    })
    .map((g): FuzzRequest => {
      const standard = STANDARD_METHODS.includes(g.method) || ["TRACE", "CONNECT", "PROPFIND", "MKCOL", "PURGE", "QUERY", "M-SEARCH"].includes(g.method);
      const malformed = !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(g.method) || !g.path.startsWith("/") && !g.path.startsWith("http://") && g.path !== "*";
      return {
        scenario: "random",
        method: g.method,
        target: g.path + g.query,
        version: "HTTP/1.1",
        host: g.host,
        auth: g.auth,
        contentType: g.body ? g.contentType : null,
        headers: g.headers,
        body: g.body,
        framing: g.body ? g.framing : "length",
        chunkSize: g.chunkSize,
        transport: standard && !malformed ? g.transport : "raw",
        malformed: malformed || !standard || undefined,
        canonical: !malformed && standard && g.host.cls === "normal" && g.headers.length === 0 && !g.path.startsWith("http") && !g.query.includes("#"),
      };
    });

  // --- scenario: GET/DELETE one entry by path, list with queries ----------------------------
  const entryAccess = fc
    .record({ method: fc.constantFrom("GET", "GET", "DELETE"), key: keySegment, query, auth, host, transport: weighted<"raw" | "fetch">([3, fc.constant("raw")], [1, fc.constant("fetch")]) })
    .map(
      (g): FuzzRequest => ({
        scenario: `entry-${g.method.toLowerCase()}`,
        method: g.method,
        target: `/api/v1/datastore/entries/${g.key}${g.query}`,
        version: "HTTP/1.1",
        host: g.host,
        auth: g.auth,
        contentType: null,
        headers: [],
        framing: "length",
        transport: g.transport,
        canonical: !g.query.includes("#"),
      }),
    );
  const listing = fc.record({ query, auth, host, ns: fc.boolean() }).map(
    (g): FuzzRequest => ({
      scenario: "list",
      method: "GET",
      target: (g.ns ? "/api/v1/datastore/namespaces" : "/api/v1/datastore") + g.query,
      version: "HTTP/1.1",
      host: g.host,
      auth: g.auth,
      contentType: null,
      headers: [],
      framing: "length",
      transport: "raw",
      canonical: !g.query.includes("#"),
    }),
  );

  // --- scenario: create an API key (names round-trip too) ---------------------------------
  const keyCreate = fc
    .record({ name: weighted<unknown>([6, trickyString], [1, fc.constantFrom("k".repeat(255), "k".repeat(256), "👋".repeat(128), 5, null, [], {})]), token: fc.constantFrom<TokenKind>("A", "A", "B", "S", "F") })
    .map(
      (g): FuzzRequest => ({
        scenario: "key-create",
        method: "POST",
        target: `/api/v1/organizations/${w.orgIds[ORG_OF[g.token]]}/api-keys`,
        version: "HTTP/1.1",
        host: goodHost,
        auth: { kind: "token", token: g.token, form: "bearer" },
        contentType: "application/json",
        headers: [],
        body: text(JSON.stringify({ name: g.name })),
        framing: "length",
        transport: "raw",
        canonical: true,
        oracle: { kind: "keyCreate", name: g.name },
      }),
    );

  // --- scenario: checks against the model, chosen when sent ---------------------------------
  const readBack = fc.record({ index: fc.nat(), pathStyle: fc.constantFrom<"encoded" | "raw">("encoded", "raw") }).map(
    (g): FuzzRequest => ({
      scenario: "read-back",
      method: "GET",
      target: "",
      version: "HTTP/1.1",
      host: goodHost,
      auth: { kind: "token", token: "A", form: "bearer" },
      contentType: null,
      headers: [],
      framing: "length",
      transport: "raw",
      canonical: true,
      oracle: { kind: "readBack", ...g },
    }),
  );
  const countCheck = fc.record({ index: fc.nat(), namespaces: fc.boolean() }).map(
    (g): FuzzRequest => ({
      scenario: g.namespaces ? "namespaces-check" : "count-check",
      method: "GET",
      target: "",
      version: "HTTP/1.1",
      host: goodHost,
      auth: { kind: "token", token: "A", form: "bearer" },
      contentType: null,
      headers: [],
      framing: "length",
      transport: "fetch",
      canonical: true,
      oracle: g.namespaces ? { kind: "namespaces" } : { kind: "count", index: g.index },
    }),
  );

  // --- scenario: broken HTTP framing ---------------------------------------------------------
  const framingLie = fc
    .record({
      inner: fc.oneof(validPut, garbagePut),
      framing: fc.constantFrom<Framing>("lie-longer", "lie-shorter", "truncated", "chunked-truncated", "none", "bad-length"),
      badLength: fc.constantFrom("abc", "-1", "1e3", " 12", "0x10", "99999999999999999999", "1, 2", "+5", "", "12 12"),
      cut: fc.nat(),
      extra: fc.integer({ min: 1, max: 5000 }),
    })
    .map((g): FuzzRequest => {
      const body = g.inner.body ?? text('{"entry":{"key":"k","value":1}}');
      const framing = g.framing;
      return {
        ...g.inner,
        scenario: `framing-${framing}`,
        body,
        framing,
        badLength: framing === "bad-length" ? g.badLength : framing === "lie-longer" ? String(bodyLength(body) + g.extra) : undefined,
        cut: g.cut,
        transport: "raw",
        canonical: false,
        oracle: undefined,
        malformed: framing === "bad-length" || undefined,
      };
    });
  const malformedHttp = fc
    .record({
      line: fc.constantFrom(
        "GET /healthz HTTP/2.0",
        "GET /healthz HTTP/1.2",
        "GET /healthz HTTP/0.9",
        "GET /healthz",
        "GET  /healthz HTTP/1.1",
        "GET /api/v1/data store HTTP/1.1",
        "GET /healthz HTTP/1.1 extra",
        " GET /healthz HTTP/1.1",
        "GET healthz HTTP/1.1",
        "\u0000\u0001garbage",
        "PUT /api/v1/datastore/entries HTTP/1.1\u0000",
        "GET /api/v1/datastore/entries/\u0000 HTTP/1.1",
        "GET /api/v1/datastore/entries/\u007f HTTP/1.1",
        "GET /api/v1/datastore\r HTTP/1.1",
      ),
      headerLine: fc.constantFrom("", "Bad Header: x", "NoColon", ": empty-name", "X: a\u0000b", "X: a\r\n  folded", "X :space-before-colon", "Content-Length: 5\r\nContent-Length: 6", "Transfer-Encoding: chunked\r\nContent-Length: 5", "Transfer-Encoding: gzip", "Transfer-Encoding: chunked, chunked", "\u00ff: latin"),
      auth,
      lineEndings: fc.constantFrom("\r\n", "\r\n", "\n"),
    })
    .map(
      (g): FuzzRequest => ({
        scenario: "malformed-http",
        method: "",
        target: g.line, // sent verbatim as the request line
        version: "",
        host: goodHost,
        auth: g.auth,
        contentType: null,
        headers: g.headerLine ? [["__raw__", g.headerLine]] : [],
        framing: "length",
        transport: "raw",
        malformed: true,
        lineEnding: g.lineEndings,
      }),
    );

  // --- scenario: huge bodies and heads ---------------------------------------------------------
  const huge = fc
    .record({
      what: fc.constantFrom("10mb-length", "10mb-chunked", "10mb-wrong-type", "10mb-unauth", "10mb-unknown-route", "10mb-get", "10mb-keys", "1mib-exact", "1mib-plus-one", "1mib-plus-one-chunked", "head-20k", "url-20k", "head-15k"),
      key: fc.constantFrom(...POOL_KEYS.slice(0, 8)),
    })
    .map((g): FuzzRequest => {
      const base: FuzzRequest = {
        scenario: `huge-${g.what}`,
        method: "PUT",
        target: "/api/v1/datastore/entries",
        version: "HTTP/1.1",
        host: goodHost,
        auth: { kind: "token", token: "A", form: "bearer" },
        contentType: "application/json",
        headers: [],
        body: repeat("x", 10 * MiB),
        framing: "length",
        transport: "raw",
        canonical: true,
      };
      const exact = (size: number) => {
        const json = JSON.stringify({ entry: { key: g.key, value: "exactly at the limit" } });
        return concat(text(json), repeat(" ", size - Buffer.byteLength(json)));
      };
      switch (g.what) {
        case "10mb-length":
          return { ...base, body: concat(text('{"entry":{"key":"huge","value":"'), repeat("x", 10 * MiB), text('"}}')), oracle: { kind: "status", statuses: [413], why: "10 MB" } };
        case "10mb-chunked":
          return { ...base, framing: "chunked", chunkSize: 65_536, body: concat(text('{"entry":{"key":"huge","value":"'), repeat("x", 10 * MiB), text('"}}')), oracle: { kind: "status", statuses: [413], why: "10 MB streamed" } };
        case "10mb-wrong-type":
          return { ...base, contentType: "text/plain", oracle: { kind: "status", statuses: [413], why: "413 outranks 415" } };
        case "10mb-unauth":
          return { ...base, auth: { kind: "none" }, oracle: { kind: "status", statuses: [401], why: "401 outranks 413" } };
        case "10mb-unknown-route":
          return { ...base, target: "/nope", oracle: { kind: "status", statuses: [404], why: "unknown route" } };
        case "10mb-get":
          return { ...base, method: "GET", target: "/api/v1/datastore", canonical: false };
        case "10mb-keys":
          return { ...base, method: "POST", target: `/api/v1/organizations/${w.orgIds.A}/api-keys`, oracle: { kind: "status", statuses: [413], why: "10 MB" } };
        case "1mib-exact":
          return { ...base, body: exact(MiB), oracle: { kind: "status", statuses: [200], why: "exactly 1 MiB is allowed" } };
        case "1mib-plus-one":
          return { ...base, body: exact(MiB + 1), oracle: { kind: "status", statuses: [413], why: "1 MiB + 1" } };
        case "1mib-plus-one-chunked":
          return { ...base, body: exact(MiB + 1), framing: "chunked", chunkSize: 100_000, oracle: { kind: "status", statuses: [413], why: "1 MiB + 1 streamed" } };
        case "head-20k":
          return { ...base, method: "GET", target: "/api/v1/datastore", body: undefined, contentType: null, headers: [["X-Big", "h".repeat(20_000)]], oversizedHead: true, canonical: false };
        case "url-20k":
          return { ...base, method: "GET", target: `/api/v1/datastore/entries/${"u".repeat(20_000)}`, body: undefined, contentType: null, oversizedHead: true, canonical: false };
        default:
          return { ...base, method: "GET", target: "/api/v1/datastore", body: undefined, contentType: null, headers: [["X-Big", "h".repeat(15_000)]], oracle: { kind: "status", statuses: [200], why: "headers under 16 KiB" } };
      }
    });

  // Weights per 10,000 requests, roughly.
  return weighted<FuzzRequest>(
    [2000, validPut],
    [800, sentinelAttack],
    [1200, garbagePut],
    [1400, randomRequest],
    [1000, entryAccess],
    [500, listing],
    [800, readBack],
    [300, countCheck],
    [500, framingLie],
    [300, malformedHttp],
    [100, huge],
    [150, keyCreate],
    [8, slowDeepPut],
  );
}

// ---------------------------------------------------------------------------------------------
// The model of what the fuzzer wrote, and the run's statistics.

interface ModelEntry {
  org: OrgName;
  namespace: string;
  key: string;
  present: boolean;
  /** The value's JSON text exactly as the server answered it. */
  rawValue?: string;
  id?: string;
  expiresAt?: number | null;
}

const model = new Map<string, ModelEntry>();
const modelKey = (org: OrgName, namespace: string, key: string) => `${org}\u0000${namespace}\u0000${key}`;
// Writes whose outcome is unknown (no answer to a complete request): by key when it is known,
// else the whole organization.
const uncertainOrgs = new Set<OrgName>();
const uncertainKeys = new Set<string>();
const uncertainEvents: string[] = [];
const orgUncertain = (org: OrgName) => uncertainOrgs.has(org) || [...uncertainKeys].some((k) => k.startsWith(`${org}\u0000`));
const createdKeyIds = new Set<string>();
let a2Revoked = false;
const sentinelSnapshots = new Map<string, string>();
/** The last few answered writes of each key, for reports. */
const history = new Map<string, string[]>();

interface Violation {
  signature: string;
  message: string;
}

const stats = {
  requests: 0,
  statuses: new Map<string, number>(),
  app5xx: 0,
  bare: new Map<number, number>(),
  dropped: 0,
  droppedBy: new Map<string, number>(),
  timeouts: 0,
  guarded: 0,
  slow: [] as { ms: number; scenario: string }[],
  healthChecks: 0,
  violations: [] as Violation[],
  scenarios: new Map<string, number>(),
};
const bump = <K,>(map: Map<K, number>, key: K, by = 1) => map.set(key, (map.get(key) ?? 0) + by);

// ---------------------------------------------------------------------------------------------
// Sending.

function tokenValue(kind: TokenKind) {
  return world.tokens[kind];
}

function authHeaders(auth: Auth): [string, string][] {
  switch (auth.kind) {
    case "none":
      return [];
    case "invalid":
      return [["Authorization", auth.value]];
    case "token": {
      const token = tokenValue(auth.token);
      if (auth.form === "lower") return [["Authorization", `bearer ${token}`]];
      if (auth.form === "upper-spaces") return [["Authorization", `BEARER   ${token}  `]];
      if (auth.form === "twice") return [["Authorization", `Bearer ${token}`], ["Authorization", `Bearer ${token}`]];
      return [["Authorization", `Bearer ${token}`]];
    }
  }
}

const ORG_OF: Record<TokenKind, OrgName> = { A: "A", A2: "A", B: "B", F: "F", S: "S" };

/** The organization a request acts for, or null when its key cannot be valid. */
function effectiveOrg(req: FuzzRequest): OrgName | null {
  if (req.auth.kind !== "token") return null;
  // Two Authorization headers reach the app joined ("Bearer x, Bearer x"): not a valid key.
  if (req.auth.form === "twice" || req.headers.some(([name]) => name.toLowerCase() === "authorization")) return null;
  if (req.auth.token === "A2" && a2Revoked) return null;
  return ORG_OF[req.auth.token];
}

const encodeHeaderValue = (s: string) => Buffer.from(s, /[^\x00-\xff]/.test(s) ? "utf8" : "latin1");

/** The path of a request-target, as the server would see it (absolute-form reduced). */
function targetPath(target: string): { path: string; query: string } {
  let t = target;
  const abs = /^https?:\/\/[^/]*/i.exec(t);
  if (abs) t = t.slice(abs[0].length) || "/";
  const q = t.indexOf("?");
  return q < 0 ? { path: t, query: "" } : { path: t.slice(0, q), query: t.slice(q + 1) };
}

const hostParses = (host: string | null) => {
  try {
    new URL(`http://${host}/`);
    return host !== null && host !== "";
  } catch {
    return false;
  }
};

/** The Content-Type the app sees: several header lines arrive joined with ", ". */
function effectiveContentType(req: FuzzRequest): string | null {
  const values = [req.contentType, ...req.headers.filter(([name]) => name.toLowerCase() === "content-type").map(([, value]) => value)].filter((v) => v !== null);
  return values.length === 0 ? null : values.join(", ");
}

/** The path as the server routes it: `.` and `..` segments resolved (URL parsing does that). */
function normalizedPath(path: string): string {
  try {
    return new URL(`http://h${path.startsWith("/") ? "" : "/"}${path}`).pathname;
  } catch {
    return path;
  }
}

const tryDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
};

/** Whether a request could, if valid, write or delete a sentinel of the org it acts for. */
function mayTouchSentinel(req: FuzzRequest, org: OrgName | null): boolean {
  if (org === null) return false;
  const method = req.method.toUpperCase();
  if (method === "DELETE") {
    const { path, query } = targetPath(req.target);
    const paths = [path];
    try {
      paths.push(new URL(`http://h${path.startsWith("/") ? "" : "/"}${path}`).pathname);
    } catch {}
    const keys = new Set<string>();
    for (const p of paths) {
      const m = /^\/+api\/v1\/datastore\/entries\/(.*)$/.exec(p);
      if (!m) continue;
      for (const raw of [m[1]!, m[1]!.replace(/\/$/, "")]) {
        keys.add(raw);
        const once = tryDecode(raw);
        if (once !== null) keys.add(once);
      }
    }
    const namespaces = new Set(["default", ...new URLSearchParams(query).getAll("namespace"), ...new URLSearchParams(query).getAll("namespace[]")]);
    for (const part of query.split("&")) if (part.startsWith("namespace=")) namespaces.add(part.slice(10));
    return [...keys].some((k) => [...namespaces].some((ns) => isSentinelCoordinate(org, ns, k)));
  }
  if (!req.body || bodyLength(req.body) > 4 * MiB) return false;
  let parsed: any;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bodyBytes(req.body)));
  } catch {
    return false;
  }
  const entry = parsed?.entry;
  if (typeof entry !== "object" || entry === null) return false;
  return typeof entry.key === "string" && isSentinelCoordinate(org, typeof entry.namespace === "string" ? entry.namespace : "default", entry.key);
}

/** The raw value text inside an entry answer built by src/datastore/present.ts. */
function rawValueOf(answerText: string, entry: any): string | null {
  const prefix = `"id":"${entry.id}","key":"${entry.key}","namespace":"${entry.namespace}","value":`;
  const iso = (v: string | null) => (v === null ? "null" : `"${v}"`);
  const suffix = `,"description":${entry.description === null ? "null" : JSON.stringify(entry.description)},"expires_at":${iso(entry.expires_at)},"created_at":${iso(entry.created_at)},"updated_at":${iso(entry.updated_at)}}`;
  const start = answerText.indexOf(prefix);
  const end = answerText.lastIndexOf(suffix);
  if (start < 0 || end < 0) return null;
  return answerText.slice(start + prefix.length, end);
}

/** Fills in a request whose target depends on the model (read-back, count checks). */
function prepare(req: FuzzRequest): FuzzRequest {
  const oracle = req.oracle;
  if (oracle?.kind === "readBack") {
    const candidates = [...[...model.values()].filter((m) => m.org !== "F"), ...SENTINELS];
    const pick = candidates[oracle.index % candidates.length]!;
    const token: TokenKind = pick.org;
    const keyPath = oracle.pathStyle === "encoded" ? encodeURIComponent(pick.key) : pick.key.split("/").map(encodeURIComponent).join("/");
    return {
      ...req,
      auth: { kind: "token", token, form: "bearer" },
      target: `/api/v1/datastore/entries/${keyPath}?namespace=${encodeURIComponent(pick.namespace)}`,
    };
  }
  if (oracle?.kind === "count") {
    const namespace = POOL_NAMESPACES[oracle.index % POOL_NAMESPACES.length]!;
    return { ...req, target: `/api/v1/datastore?namespace=${encodeURIComponent(namespace)}&page_size=1` };
  }
  if (oracle?.kind === "namespaces") return { ...req, target: "/api/v1/datastore/namespaces" };
  return req;
}

function buildHead(req: FuzzRequest, bodyLen: number | null): Buffer {
  const eol = req.lineEnding ?? "\r\n";
  const lines: Buffer[] = [];
  const line = req.version === "" ? req.target : `${req.method} ${req.target} ${req.version}`;
  lines.push(Buffer.from(line, req.latin1Target ? "latin1" : "utf8"));
  if (req.host.value !== null) lines.push(encodeHeaderValue(`Host: ${req.host.value}`));
  for (const [name, value] of authHeaders(req.auth)) lines.push(encodeHeaderValue(`${name}: ${value}`));
  if (req.contentType !== null) lines.push(encodeHeaderValue(`Content-Type: ${req.contentType}`));
  for (const [name, value] of req.headers) lines.push(encodeHeaderValue(name === "__raw__" ? value : `${name}: ${value}`));
  if (bodyLen !== null) {
    switch (req.framing) {
      case "chunked":
      case "chunked-truncated":
        lines.push(Buffer.from("Transfer-Encoding: chunked"));
        break;
      case "none":
        break;
      case "lie-longer":
      case "bad-length":
        lines.push(Buffer.from(`Content-Length: ${req.badLength}`));
        break;
      case "lie-shorter":
        lines.push(Buffer.from(`Content-Length: ${Math.max(0, bodyLen - 1 - ((req.cut ?? 0) % Math.max(1, bodyLen)))}`));
        break;
      default:
        lines.push(Buffer.from(`Content-Length: ${bodyLen}`));
    }
  }
  const sep = Buffer.from(eol);
  return Buffer.concat([...lines.flatMap((l) => [l, sep]), sep]);
}

function* chunked(source: Iterable<Uint8Array>, size: number, finish: boolean): Generator<Uint8Array> {
  for (const block of source) {
    for (let offset = 0; offset < block.length; offset += size) {
      const piece = block.subarray(offset, offset + size);
      yield Buffer.from(`${piece.length.toString(16)}\r\n`);
      yield piece;
      yield Buffer.from("\r\n");
    }
  }
  if (finish) yield Buffer.from("0\r\n\r\n");
}

function* truncate(source: Iterable<Uint8Array>, limit: number): Generator<Uint8Array> {
  let left = limit;
  for (const block of source) {
    if (left <= 0) return;
    yield block.subarray(0, left);
    left -= block.length;
  }
}

/** Whether fetch can send this request as it is (it refuses some headers and framing). */
function fetchable(req: FuzzRequest): boolean {
  if (req.transport !== "fetch" || req.malformed || req.host.cls !== "normal" || req.host.value !== `127.0.0.1:${world.port}`) return false;
  if (!STANDARD_METHODS.includes(req.method) || ((req.method === "GET" || req.method === "HEAD") && req.body)) return false;
  if (!req.target.startsWith("/") || /[^\x21-\x7e]/.test(req.target)) return false;
  if (req.framing !== "length" || (req.body && bodyLength(req.body) > 2 * MiB)) return false;
  const all = [...authHeaders(req.auth), ...req.headers, ...(req.contentType === null ? [] : [["Content-Type", req.contentType] as [string, string]])];
  return all.every(([name, value]) => /^[\x20-\x7e]*$/.test(value) && !/^(connection|upgrade|expect|content-length|transfer-encoding|host)$/i.test(name));
}

async function send(req: FuzzRequest): Promise<Answer> {
  const bodyLen = req.body ? bodyLength(req.body) : null;
  const timeoutMs = bodyLen !== null && bodyLen > 2 * MiB ? HUGE_TIMEOUT_MS : REQUEST_TIMEOUT_MS;
  if (fetchable(req)) {
    const headers = new Headers();
    for (const [name, value] of [...authHeaders(req.auth), ...req.headers]) headers.append(name, value);
    if (req.contentType !== null) headers.set("Content-Type", req.contentType);
    try {
      return await sendFetch(world.base + req.target, { method: req.method, headers, body: req.body ? bodyBytes(req.body) : undefined }, timeoutMs);
    } catch {
      // fall through to raw bytes
    }
  }
  let body: Iterable<Uint8Array> | undefined;
  let halfClose = false;
  if (req.body) {
    const source = bodyChunks(req.body);
    switch (req.framing) {
      case "chunked":
        body = chunked(source, req.chunkSize ?? 1024, true);
        break;
      case "chunked-truncated":
        body = truncate(chunked(source, req.chunkSize ?? 1024, false), Math.max(1, (req.cut ?? 0) % (bodyLen! + 8)));
        halfClose = true;
        break;
      case "truncated":
        body = truncate(source, (req.cut ?? 0) % Math.max(1, bodyLen!));
        halfClose = true;
        break;
      case "lie-longer":
      case "bad-length": // Bun may read " 12" as 12 and wait for the rest: give up at once
        body = source;
        halfClose = true;
        break;
      default:
        body = source;
    }
  }
  return sendRaw({ port: world.port, head: buildHead(req, bodyLen), body, halfClose, headRequest: req.method.toUpperCase() === "HEAD", timeoutMs });
}

// ---------------------------------------------------------------------------------------------
// Judging one answer.

const hasLoneSurrogate = (s: string) => /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

function isLive(entry: ModelEntry, now: number, slackMs = 3000): boolean | null {
  if (!entry.present) return false;
  if (entry.expiresAt === null || entry.expiresAt === undefined) return true;
  if (entry.expiresAt * 1000 > now + slackMs) return true;
  if (entry.expiresAt * 1000 < now - slackMs) return false;
  return null; // too close to call
}

/** Checks one answer; returns the problems found (empty when all is well). */
function judge(req: FuzzRequest, answer: Answer, org: OrgName | null): string[] {
  const problems: string[] = [];
  const headRequest = req.method.toUpperCase() === "HEAD";
  const { path } = targetPath(req.target);
  const incompleteFraming = ["lie-longer", "truncated", "chunked-truncated", "lie-shorter", "none", "bad-length"].includes(req.framing) && req.body !== undefined;

  if (answer.timedOut) return [`hang: ${describeAnswer(answer)}`];
  if (answer.status === null) {
    if (req.canonical && !incompleteFraming && !req.malformed && req.host.cls === "normal" && (!req.body || bodyLength(req.body) <= MiB)) problems.push("dropped: the server closed a well-formed request's connection without answering");
    return problems;
  }
  if (!answer.complete) problems.push("incomplete answer: the connection closed mid-answer");

  if (isBareParserAnswer(answer)) {
    const allowed = req.malformed || (answer.status === 431 && req.oversizedHead) || (incompleteFraming && req.framing !== "length");
    if (!allowed) problems.push(`bare-answer: a bare ${answer.status} from the HTTP layer to a request believed well-formed`);
    return problems;
  }

  const status = answer.status;
  if (status >= 500) problems.push(`5xx: ${status}`);
  if (status < 200 || status >= 300) {
    const shape = errorShapeProblem(answer, headRequest);
    if (shape) problems.push(`error-shape: ${status}: ${shape}`);
    if (status === 405 && !header(answer, "allow")) problems.push("405 without an Allow header");
    if (status === 503 && !header(answer, "retry-after")) problems.push("503 without Retry-After");
  } else {
    const route = routeFor(path);
    const api = path.startsWith("/api/") || /^\/+api\//.test(path);
    if (api && org === null && status !== 404) problems.push(`auth: ${status} on ${path} without a valid key`);
    if (api && org === "F" && route?.access === "datastore") problems.push(`plan: ${status} on a datastore route for a free organization`);
    if (req.mustFail) problems.push(`sentinel: a request aimed at a sentinel succeeded with ${status}`);
    const type = mediaTypeOf(header(answer, "content-type"));
    if (status === 204 && answer.body.length > 0) problems.push("204 with a body");
    if (status !== 204 && !headRequest && !(path.startsWith("/swagger") && type === "text/html")) {
      if (type !== "application/json") problems.push(`2xx with Content-Type ${header(answer, "content-type")}`);
      else {
        try {
          JSON.parse(answer.body.toString("utf8"));
        } catch {
          problems.push("2xx with a body that is not JSON");
        }
      }
    }
  }

  // Oracles: only for requests built canonical, with a normal Host, complete framing.
  const oracle = req.oracle;
  // A route's own 404 ("Entry not found", …) is a fine answer; only the router's "Not found" is not.
  const routerNotFound = answer.status === 404 && safeJson(answer.body)?.error === "Not found";
  if (req.host.cls === "broken" && !req.malformed && routerNotFound && routeFor(normalizedPath(path))) {
    problems.push(`broken-host: a known route answered 404 for Host ${JSON.stringify(req.host.value)}`);
  }
  if (req.canonical && !req.malformed && (req.host.cls === "normal" || req.host.cls === "short") && !incompleteFraming) {
    // Bun resolves `.`/`..` segments only when the Host parses as a URL authority (not for
    // "127.0.0.1:99999", say): route by what the server will see.
    const route = routeFor(hostParses(req.host.value) ? normalizedPath(path) : path);
    const method = req.method;
    if (route && STANDARD_METHODS.includes(method) && !req.headers.some(([n]) => /^(expect|connection|upgrade|content-encoding|transfer-encoding|__raw__)$/i.test(n))) {
      if (!route.methods.includes(method) && method !== "HEAD" && status !== 405) problems.push(`oracle: ${method} ${path} should be 405, got ${status}`);
      else if (route.methods.includes(method) && route.access !== "public" && org === null && status !== 401) problems.push(`oracle: no valid key should be 401, got ${status}`);
      else if (route.methods.includes(method) && route.access === "datastore" && org === "F" && status !== 403) problems.push(`oracle: free plan should be 403, got ${status}`);
    }
    if (oracle?.kind === "status" && !oracle.statuses.includes(status)) problems.push(`oracle: expected ${oracle.statuses.join("/")} (${oracle.why}), got ${status}`);
    if (oracle?.kind === "validPut" && org !== null && org !== "F" && req.auth.kind === "token") {
      const type = effectiveContentType(req);
      const typeOk = type !== null && mediaTypeOf(type) === "application/json";
      const validKey = KEY_ALPHABET.test(oracle.key) && !DOT_SEGMENT.test(oracle.key);
      const valueOk = oracle.valueJson !== undefined && Buffer.byteLength(oracle.valueJson) <= 65_536;
      const descOk = oracle.description === null || [...oracle.description].length <= 1000;
      if (typeOk && validKey && valueOk && descOk && route) {
        const json = safeJson(answer.body);
        if (status === 200) {
          const entry = json?.data;
          const raw = entry ? rawValueOf(answer.body.toString("utf8"), entry) : null;
          if (!entry || entry.key !== oracle.key || entry.namespace !== oracle.namespace) problems.push(`round-trip: answered key/namespace ${entry?.namespace}/${entry?.key}, sent ${oracle.namespace}/${oracle.key}`);
          else if (raw !== oracle.valueJson) problems.push(`round-trip: value ${JSON.stringify(raw?.slice(0, 200))} != sent ${JSON.stringify(oracle.valueJson.slice(0, 200))}`);
          else if (entry.description !== oracle.description) {
            const lone = oracle.description !== null && hasLoneSurrogate(oracle.description) && entry.description === oracle.description.toWellFormed();
            problems.push(`description-round-trip${lone ? " (lone-surrogate)" : ""}: answered ${JSON.stringify(entry.description)}, sent ${JSON.stringify(oracle.description)}`);
          }
        } else if (status === 422 && oracle.description !== null && hasLoneSurrogate(oracle.description) && json?.errors?.description) {
          // Refusing a lone surrogate in a description is as good as keeping it.
        } else if (org === "S" && status === 422 && json?.error === "Entry limit reached") {
          const existing = model.get(modelKey("S", oracle.namespace, oracle.key));
          const now = Date.now();
          const live = [...model.values()].filter((m) => m.org === "S").map((m) => isLive(m, now));
          const certain = !orgUncertain("S") && live.every((l) => l !== null);
          const count = live.filter(Boolean).length + SENTINELS.filter((s) => s.org === "S").length;
          if (json.limit !== 5) problems.push(`limit: answered limit ${json.limit}, expected 5`);
          if (certain && (count < 5 || (existing && isLive(existing, now)))) problems.push(`limit: refused at ${count} live entries (key ${existing ? "exists" : "new"})`);
        } else problems.push(`oracle: a valid upsert got ${status}: ${answer.body.subarray(0, 200).toString("utf8")}`);
      }
    }
    if (oracle?.kind === "readBack") problems.push(...checkReadBack(req, answer));
    if (oracle?.kind === "keyCreate") {
      const name = oracle.name;
      // A lone surrogate is refused (422): stored as UTF-8 it could not come back as sent.
      const valid = typeof name === "string" && name.length >= 1 && name.length <= 255 && name.isWellFormed();
      const json = safeJson(answer.body);
      if (!valid && status !== 422) problems.push(`oracle: an API key named ${JSON.stringify(name)?.slice(0, 80)} should be 422, got ${status}`);
      if (valid && status !== 201) problems.push(`oracle: an API key named ${JSON.stringify(name).slice(0, 80)} should be 201, got ${status}`);
      if (valid && status === 201 && json?.name !== name) {
        const lone = hasLoneSurrogate(name as string) && json?.name === (name as string).toWellFormed();
        problems.push(`name-round-trip${lone ? " (lone-surrogate)" : ""}: answered ${JSON.stringify(json?.name)}, sent ${JSON.stringify(name)}`);
      }
      if (status === 201 && !/^hklst_[A-Za-z0-9_-]{32,}$/.test(json?.key ?? "")) problems.push(`a created key looks wrong: ${JSON.stringify(json?.key)}`);
    }
    if (oracle?.kind === "count" || oracle?.kind === "namespaces") problems.push(...checkCounts(req, answer));
  }
  return problems;
}

const safeJson = (body: Buffer): any => {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
};

function coordinatesOf(req: FuzzRequest): { org: OrgName; namespace: string; key: string } | null {
  const m = /^\/api\/v1\/datastore\/entries\/(.*)$/.exec(targetPath(req.target).path);
  if (!m || req.auth.kind !== "token") return null;
  const key = tryDecode(m[1]!);
  const namespaces = new URLSearchParams(targetPath(req.target).query).getAll("namespace");
  if (namespaces.length > 1) return null; // which one the server takes is its business
  return key === null ? null : { org: ORG_OF[req.auth.token], namespace: namespaces[0] || "default", key };
}

function checkReadBack(req: FuzzRequest, answer: Answer): string[] {
  const at = coordinatesOf(req);
  if (!at) return [`read-back: cannot parse ${req.target}`];
  const sentinel = SENTINELS.find((s) => s.org === at.org && s.namespace === at.namespace && s.key === at.key);
  const text = answer.body.toString("utf8");
  if (sentinel) {
    const before = sentinelSnapshots.get(modelKey(at.org, at.namespace, at.key));
    return text === before && answer.status === 200 ? [] : [`sentinel-changed: ${at.org} ${at.namespace}/${at.key}: was ${before?.slice(0, 200)}, now ${answer.status} ${text.slice(0, 200)}`];
  }
  const k = modelKey(at.org, at.namespace, at.key);
  const entry = model.get(k);
  if (!entry || uncertainKeys.has(k) || uncertainOrgs.has(at.org)) return [];
  const live = isLive(entry, Date.now());
  if (live === null) return [];
  if (!live) return answer.status === 404 ? [] : [`read-back: ${at.namespace}/${at.key} was deleted (or expired) but answers ${answer.status}`];
  if (answer.status !== 200) return [`read-back: ${at.namespace}/${at.key} was written but answers ${answer.status} ${text.slice(0, 200)}`];
  const data = safeJson(answer.body)?.data;
  const raw = data ? rawValueOf(text, data) : null;
  if (raw !== entry.rawValue || data.id !== entry.id) return [`read-back: ${at.namespace}/${at.key} is ${raw?.slice(0, 200)} (${data?.id}), model ${entry.rawValue?.slice(0, 200)} (${entry.id})`];
  return [];
}

/** The live (namespace, key) pairs the model says org A has, or null when uncertain. */
/**
 * The live "namespace\0key" pairs the model says an organization has, and those that may or
 * may not be there (an unanswered write, an expiry too close to call); null when anything at
 * all may have changed.
 */
function expectedLive(org: OrgName): { live: Set<string>; maybe: Set<string> } | null {
  if (uncertainOrgs.has(org)) return null;
  const now = Date.now();
  const live = new Set<string>();
  const maybe = new Set<string>();
  for (const s of SENTINELS) if (s.org === org) live.add(`${s.namespace}\u0000${s.key}`);
  for (const m of model.values()) {
    if (m.org !== org) continue;
    const l = isLive(m, now);
    if (l === null) maybe.add(`${m.namespace}\u0000${m.key}`);
    else if (l) live.add(`${m.namespace}\u0000${m.key}`);
  }
  for (const k of uncertainKeys) {
    const [o, namespace, key] = k.split("\u0000");
    if (o !== org) continue;
    live.delete(`${namespace}\u0000${key}`);
    maybe.add(`${namespace}\u0000${key}`);
  }
  return { live, maybe };
}

function checkCounts(req: FuzzRequest, answer: Answer): string[] {
  const expected = expectedLive("A");
  if (!expected || answer.status !== 200) return answer.status === 200 ? [] : [`count: list answered ${answer.status}`];
  const json = safeJson(answer.body);
  const nsOf = (e: string) => e.split("\u0000")[0]!;
  if (req.oracle?.kind === "namespaces") {
    const must = new Set([...expected.live].map(nsOf));
    const may = new Set([...expected.maybe].map(nsOf));
    const got: string[] = Array.isArray(json?.data) ? json.data : [];
    // Namespaces are ASCII: code-unit order is byte order.
    const sorted = JSON.stringify(got) === JSON.stringify([...got].sort());
    const ok = sorted && [...must].every((n) => got.includes(n)) && got.every((n) => must.has(n) || may.has(n));
    return ok ? [] : [`namespaces: answered ${JSON.stringify(json?.data)}, model ${JSON.stringify([...must].sort())} (maybe also ${JSON.stringify([...may])})`];
  }
  const namespace = new URLSearchParams(targetPath(req.target).query).get("namespace")!;
  const min = [...expected.live].filter((e) => nsOf(e) === namespace).length;
  const max = min + [...expected.maybe].filter((e) => nsOf(e) === namespace).length;
  const total = json?.total_count;
  return total >= min && total <= max ? [] : [`count: namespace ${namespace} has total_count ${total}, model ${min === max ? min : `${min}-${max}`}`];
}

/**
 * Where a PUT/DELETE could write if the server got it (what it would read of the body), "none"
 * when it cannot write at all, or null when that cannot be told.
 */
function writeCoordinates(req: FuzzRequest): { namespace: string; key: string } | "none" | null {
  if (req.method === "DELETE") {
    const m = /^\/api\/v1\/datastore\/entries\/(.+)$/.exec(targetPath(req.target).path);
    if (!m || tryDecode(m[1]!) === null) return "none"; // a key that does not decode names nothing
    return coordinatesOf(req);
  }
  if (!req.body || req.framing === "none") return "none";
  // A PUT whose body never arrives whole cannot write (if it did, the final listing shows it).
  if (["lie-longer", "truncated", "chunked-truncated", "bad-length"].includes(req.framing)) return "none";
  if (bodyLength(req.body) > MiB) return "none";
  let bytes = bodyBytes(req.body);
  if (req.framing === "lie-shorter") bytes = bytes.subarray(0, Math.max(0, bytes.length - 1 - ((req.cut ?? 0) % Math.max(1, bytes.length))));
  let parsed: any;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return "none";
  }
  const entry = parsed?.entry;
  if (typeof entry !== "object" || entry === null || typeof entry.key !== "string") return "none";
  return { namespace: typeof entry.namespace === "string" ? entry.namespace : "default", key: entry.key };
}

/** Which keys of org A's namespace differ between the server and the model, with their history. */
async function diagnoseNamespace(namespace: string): Promise<string> {
  const expected = expectedLive("A");
  if (!expected) return "";
  const seen = new Set<string>();
  for (let page = 1; page < 100; page++) {
    const list = JSON.parse((await api("GET", `/api/v1/datastore?namespace=${encodeURIComponent(namespace)}&page_size=100&page=${page}`, tokenOf("A"))).text);
    for (const e of list.data) seen.add(e.key);
    if (page >= list.total_pages) break;
  }
  const inNamespace = (set: Set<string>) => new Set([...set].filter((e) => e.split("\u0000")[0] === namespace).map((e) => e.split("\u0000")[1]!));
  const want = inNamespace(expected.live);
  const maybe = inNamespace(expected.maybe);
  const lines = [...[...seen].filter((k) => !want.has(k) && !maybe.has(k)).map((k) => `server only: ${k}`), ...[...want].filter((k) => !seen.has(k)).map((k) => `model only: ${k}`)];
  const out: string[] = [];
  for (const line of lines) {
    const key = line.slice(line.indexOf(": ") + 2);
    const get = await api("GET", `/api/v1/datastore/entries/${encodeURIComponent(key)}?namespace=${encodeURIComponent(namespace)}`, tokenOf("A"));
    const byPrefix = await api("GET", `/api/v1/datastore?namespace=${encodeURIComponent(namespace)}&prefix=${encodeURIComponent(key)}`, tokenOf("A"));
    out.push(`\n    ${line}; history: ${JSON.stringify(history.get(modelKey("A", namespace, key)) ?? [])}\n      GET now: ${get.status} ${get.text.slice(0, 300)}\n      list by prefix now: ${byPrefix.text.slice(0, 300)}`);
  }
  return out.join("");
}

/** Updates the model from an answer to a request that may have written. */
function learn(req: FuzzRequest, answer: Answer, org: OrgName | null) {
  // Methods are case-sensitive: "delete" is an unknown method (Bun drops the connection).
  const method = req.method;
  const { path } = targetPath(req.target);
  // "malformed" only means Bun may refuse the bytes: whatever got a 2xx did happen.
  if (org === null) return;
  const writes = (method === "PUT" || method === "DELETE") && /\/api\/v1\/datastore\/entries/.test(path);
  // No answer of its own: the connection dropped, or Bun's bare 400 for bytes pipelined behind
  // the request. Bun closes a connection when a pipelined request arrives while the answer
  // ahead of it is pending (oven-sh/bun#38128), so the request itself may well have been done.
  const unanswered = answer.status === null || answer.timedOut || !answer.complete || isBareParserAnswer(answer);
  // Bytes pipelined behind the request: the request itself may have been done, then cut off.
  const pipelined = req.body !== undefined && (req.framing === "none" || req.framing === "lie-shorter");
  if (writes && unanswered) {
    // A bare answer or a drop for a request Bun could not parse: refused before the app.
    if (req.malformed && !pipelined) return;
    const at = writeCoordinates(req);
    if (at === "none") return; // nothing the server could have written
    if (at) uncertainKeys.add(modelKey(org, at.namespace, at.key));
    else uncertainOrgs.add(org);
    uncertainEvents.push(`#${stats.requests} ${req.scenario}${req.malformed ? " (malformed)" : ""} ${describeAnswer(answer).slice(0, 80)}: ${at ? `${at.namespace}/${at.key}` : `all of org ${org}`} uncertain\n    ${describeRequest(req)}`);
    return;
  }
  if (answer.status === null || answer.status < 200 || answer.status >= 300) return;
  if (writes) {
    const entry = safeJson(answer.body)?.data;
    if (!entry || typeof entry.key !== "string") return;
    const k = modelKey(org, entry.namespace, entry.key);
    const seen = history.get(k) ?? [];
    seen.push(`#${stats.requests} ${req.scenario} ${method} ${req.target.slice(0, 120)} → ${answer.status}`);
    history.set(k, seen.slice(-5));
    if (method === "PUT") {
      const raw = rawValueOf(answer.body.toString("utf8"), entry);
      const expiresAt = entry.expires_at === null ? null : Date.parse(entry.expires_at) / 1000;
      model.set(k, { org, namespace: entry.namespace, key: entry.key, present: true, rawValue: raw ?? undefined, id: entry.id, expiresAt });
    } else {
      model.set(k, { org, namespace: entry.namespace, key: entry.key, present: false });
    }
    uncertainKeys.delete(k);
  }
  const revoke = /^\/api\/v1\/organizations\/([^/]+)\/api-keys\/([^/]+)$/.exec(path);
  if (method === "DELETE" && answer.status === 204 && revoke) {
    const id = tryDecode(revoke[2]!);
    if (id === world.keyIds.A2) a2Revoked = true;
    else if (!createdKeyIds.has(id ?? "")) stats.violations.push({ signature: "revoke", message: `204 revoking ${id}, a key that is not revocable here` });
  }
  if (method === "POST" && answer.status === 201) {
    const created = safeJson(answer.body);
    if (created?.id) createdKeyIds.add(created.id);
  }
}

/** Guards against a request that could legitimately change a sentinel, or revoke a key we need. */
function guard(req: FuzzRequest): FuzzRequest {
  const org = effectiveOrg(req);
  let guarded = req;
  // A DELETE with the owner's key is always a valid write; a PUT built to fail (a sentinel
  // attack's broken body) is left as it is, so that a server accepting it shows.
  const isDelete = req.method.toUpperCase() === "DELETE";
  if ((isDelete || !req.mustFail) && mayTouchSentinel(req, org)) {
    stats.guarded++;
    guarded = { ...req, auth: { kind: "invalid", value: "Bearer hklst_guarded_from_touching_a_sentinel_x" }, mustFail: true };
  }
  const revoke = /^\/+api\/v1\/organizations\/([^/]+)\/api-keys\/([^/?]+)/.exec(targetPath(req.target).path);
  if (revoke && guarded.method.toUpperCase() === "DELETE" && org !== null) {
    const id = tryDecode(revoke[2]!) ?? revoke[2]!;
    const protectedIds = [world.keyIds.A, world.keyIds.B, world.keyIds.S, world.keyIds.F];
    if (protectedIds.some((p) => id.includes(p) || p.includes(id))) {
      stats.guarded++;
      guarded = { ...guarded, method: "GET" };
    }
  }
  return guarded;
}

function describeRequest(req: FuzzRequest): string {
  const head = buildHead(req, req.body ? bodyLength(req.body) : null).toString("latin1");
  const shown = head.length > 1500 ? head.slice(0, 1500) + `… (${head.length} bytes)` : head;
  return [
    `scenario ${req.scenario} via ${fetchable(req) ? "fetch" : "raw"}, framing ${req.framing}${req.cut !== undefined ? ` cut ${req.cut}` : ""}${req.chunkSize ? ` chunk ${req.chunkSize}` : ""}`,
    `head: ${JSON.stringify(shown)}`,
    `body: ${describeBody(req.body)}`,
  ].join("\n    ");
}

async function healthy(): Promise<string | null> {
  if (world.server.proc.exitCode !== null || world.server.proc.signalCode !== null) return `the server exited (${world.server.proc.exitCode ?? world.server.proc.signalCode})`;
  try {
    const response = await withTimeout(fetch(`${world.base}/healthz`), 20_000, "GET /healthz");
    const body = await response.text();
    if (response.status !== 200 || body !== '{"status":"ok"}') return `GET /healthz answered ${response.status} ${body}`;
  } catch (error) {
    return `GET /healthz failed: ${error}`;
  }
  stats.healthChecks++;
  return null;
}

/** Characters a request-target may hold (RFC 9112/3986); anything else may get Bun's bare 400. */
const WELL_FORMED_TARGET = /^(\/[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]*|https?:\/\/[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]*)$/;

const recent: FuzzRequest[] = [];
let errorLinesSeen = 0;

/** Server log lines at level error since the last call: each is a violation. */
function checkErrorLog(lastAnswer: string) {
  const errorLines = logLines(world.server.stderr()).filter((line) => line.level === "error");
  for (const line of errorLines.slice(errorLinesSeen)) {
    stats.violations.push({
      signature: `error-log ${line.message} ${line.path ?? line.url}`,
      message: `server error log line ${JSON.stringify(line).slice(0, 600)}\n    after these requests (last is latest; FUZZ_SETTLE_MS=30 pins it to one):\n    ${recent.map(describeRequest).join("\n    ---\n    ")}\n    last answer: ${lastAnswer}`,
    });
  }
  errorLinesSeen = errorLines.length;
}

async function runOne(generated: FuzzRequest): Promise<void> {
  let req = guard(prepare(generated));
  if (req.version !== "" && !WELL_FORMED_TARGET.test(req.target)) req = { ...req, malformed: true };
  // Bun answers a bare 431 when the request line and headers pass 16 KiB; near that, allow it.
  if (buildHead(req, req.body ? bodyLength(req.body) : null).length > HEAD_LIMIT_MARGIN) req = { ...req, oversizedHead: true };
  const org = effectiveOrg(req);
  const answer = await send(req);
  stats.requests++;
  bump(stats.scenarios, req.scenario.split("-")[0]!);
  const label = answer.timedOut ? "timeout" : answer.status === null ? "dropped" : isBareParserAnswer(answer) ? `${answer.status}(bare)` : String(answer.status);
  bump(stats.statuses, label);
  if (answer.timedOut) stats.timeouts++;
  else if (answer.status === null) {
    stats.dropped++;
    bump(stats.droppedBy, req.scenario);
  }
  else if (isBareParserAnswer(answer)) bump(stats.bare, answer.status);
  else if (answer.status >= 500) stats.app5xx++;
  if (answer.ms > 1000) stats.slow.push({ ms: Math.round(answer.ms), scenario: req.scenario });

  const problems = judge(req, answer, org);
  learn(req, answer, org);
  recent.push(req);
  if (recent.length > 3) recent.shift();
  // FUZZ_SETTLE_MS: wait after each request so a server log line is read before the next one
  // (pins an error log line to the exact request that caused it).
  if (SETTLE_MS > 0) await Bun.sleep(SETTLE_MS);
  checkErrorLog(describeAnswer(answer));
  for (let problem of problems) {
    if (problem.startsWith("count:")) problem += await diagnoseNamespace(new URLSearchParams(targetPath(req.target).query).get("namespace")!);
    const signature = `${problem.split(":")[0]} ${req.scenario} ${answer.status}`;
    const message = `${problem}\n    ${describeRequest(req)}\n    answer: ${describeAnswer(answer)}`;
    stats.violations.push({ signature, message });
    if (FAIL_FAST) throw new Error(message);
  }
  if (stats.requests % BATCH === 0) {
    const sick = await healthy();
    if (sick) {
      stats.violations.push({ signature: "health", message: `after request ${stats.requests}: ${sick}` });
      throw new Error(sick);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sentinels and the final checks.

async function api(method: string, path: string, token: string, body?: unknown) {
  const response = await withTimeout(
    fetch(world.base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    20_000,
    `${method} ${path}`,
  );
  return { status: response.status, text: await response.text() };
}

const sentinelPath = (s: { namespace: string; key: string }) => `/api/v1/datastore/entries/${encodeURIComponent(s.key)}?namespace=${encodeURIComponent(s.namespace)}`;
const tokenOf = (org: OrgName) => world.tokens[org];

async function writeSentinels() {
  for (const s of SENTINELS) {
    const put = await api("PUT", "/api/v1/datastore/entries", tokenOf(s.org), { entry: { key: s.key, namespace: s.namespace, ...s.entry } });
    if (put.status !== 200) throw new Error(`writing sentinel ${s.org} ${s.namespace}/${s.key}: ${put.status} ${put.text}`);
    const get = await api("GET", sentinelPath(s), tokenOf(s.org));
    if (get.status !== 200) throw new Error(`reading sentinel ${s.org} ${s.namespace}/${s.key}: ${get.status} ${get.text}`);
    sentinelSnapshots.set(modelKey(s.org, s.namespace, s.key), get.text);
  }
}

interface FinalReport {
  sentinelChanges: string[];
  modelMismatches: string[];
  checkedModel: number;
}

async function finalChecks(): Promise<FinalReport> {
  const sentinelChanges: string[] = [];
  for (const s of SENTINELS) {
    const get = await api("GET", sentinelPath(s), tokenOf(s.org));
    const before = sentinelSnapshots.get(modelKey(s.org, s.namespace, s.key));
    if (get.status !== 200 || get.text !== before) sentinelChanges.push(`${s.org} ${s.namespace}/${s.key}: was ${before?.slice(0, 300)}\n      now ${get.status} ${get.text.slice(0, 300)}`);
  }
  // The same rows straight from the database file (WAL: a reader sees committed writes).
  const sqlite = new Database(world.db, { readonly: true });
  try {
    for (const s of SENTINELS) {
      const row = sqlite
        .query("SELECT e.id, e.value, e.description, e.expires_at, e.created_at, e.updated_at FROM entries e WHERE e.organization_id = ? AND e.namespace = ? AND e.key = ?")
        .all(world.orgIds[s.org], s.namespace, s.key) as { id: string; value: string; updated_at: number }[];
      const snapshot = JSON.parse(sentinelSnapshots.get(modelKey(s.org, s.namespace, s.key))!).data;
      const raw = rawValueOf(sentinelSnapshots.get(modelKey(s.org, s.namespace, s.key))!, snapshot);
      if (row.length !== 1 || row[0]!.id !== snapshot.id || row[0]!.value !== raw || new Date(row[0]!.updated_at * 1000).toISOString().replace(".000", "") !== snapshot.updated_at) {
        sentinelChanges.push(`database row of ${s.org} ${s.namespace}/${s.key}: ${JSON.stringify(row).slice(0, 300)}`);
      }
    }
  } finally {
    sqlite.close();
  }

  const modelMismatches: string[] = [];
  let checkedModel = 0;
  const now = Date.now();
  for (const [k, m] of model) {
    if (uncertainKeys.has(k) || uncertainOrgs.has(m.org) || m.org === "F") continue;
    const live = isLive(m, now);
    if (live === null) continue;
    checkedModel++;
    const get = await api("GET", sentinelPath(m), tokenOf(m.org));
    if (!live) {
      if (get.status !== 404) modelMismatches.push(`${m.org} ${m.namespace}/${m.key}: deleted, but GET answers ${get.status} ${get.text.slice(0, 200)}`);
      continue;
    }
    const data = safeJson(Buffer.from(get.text))?.data;
    const raw = data ? rawValueOf(get.text, data) : null;
    if (get.status !== 200 || raw !== m.rawValue || data.id !== m.id) modelMismatches.push(`${m.org} ${m.namespace}/${m.key}: model ${m.rawValue?.slice(0, 200)} (${m.id}), GET ${get.status} ${get.text.slice(0, 300)}`);
  }
  // Nothing else exists: every live entry of each organization is a sentinel or in the model.
  for (const org of ["A", "B", "S"] as OrgName[]) {
    const expected = expectedLive(org);
    if (!expected) continue;
    const seen = new Set<string>();
    for (let page = 1; ; page++) {
      const list = await api("GET", `/api/v1/datastore?page_size=100&page=${page}`, tokenOf(org));
      const json = JSON.parse(list.text);
      for (const e of json.data) seen.add(`${e.namespace}\u0000${e.key}`);
      if (page >= json.total_pages) break;
    }
    const extra = [...seen].filter((e) => !expected.live.has(e) && !expected.maybe.has(e));
    const missing = [...expected.live].filter((e) => !seen.has(e));
    if (extra.length || missing.length) modelMismatches.push(`org ${org} listing: unexpected ${JSON.stringify(extra.slice(0, 10))}, missing ${JSON.stringify(missing.slice(0, 10))}`);
  }
  // The keys the fuzzer must not have lost still work.
  for (const kind of ["A", "B", "S", "F"] as TokenKind[]) {
    const orgs = await api("GET", "/api/v1/organizations", world.tokens[kind]);
    if (orgs.status !== 200) modelMismatches.push(`key ${kind} no longer authenticates: ${orgs.status}`);
  }
  return { sentinelChanges, modelMismatches, checkedModel };
}

const counts = (map: Map<string | number, number>) =>
  [...map]
    .sort(([a], [b]) => String(a).localeCompare(String(b), "en", { numeric: true }))
    .map(([k, v]) => `${k}:${v}`)
    .join(" ");

test(
  `fuzz: ${NUM_RUNS} generated requests against the real server never get a 5xx or a non-JSON error, and corrupt nothing`,
  async () => {
    const started = performance.now();
    await writeSentinels();
    const arbitrary = buildArbitraries(world);
    let fcError: unknown = null;
    try {
      await fc.assert(
        fc.asyncProperty(arbitrary, async (req) => {
          await runOne(req);
        }),
        { numRuns: NUM_RUNS, seed: SEED, endOnFailure: true },
      );
    } catch (error) {
      fcError = error;
    }
    const health = await healthy();
    const final = await finalChecks();
    await Bun.sleep(200);
    checkErrorLog("(after the run)");
    const pid = world.server.proc.pid;
    const exited = world.server.proc.exitCode !== null || world.server.proc.signalCode !== null;
    const errorLogs = logLines(world.server.stderr()).filter((line) => line.level === "error");
    // A clean stop after all that, then the file itself.
    let stopCode: number | string = "not running";
    if (!exited) {
      world.server.proc.kill("SIGTERM");
      stopCode = await world.server.exited(20_000).catch((error) => String(error));
    }
    const sqlite = new Database(world.db, { readonly: true });
    let integrity: string;
    let foreignKeys: unknown[];
    try {
      integrity = (sqlite.query("PRAGMA integrity_check").all() as { integrity_check: string }[]).map((row) => row.integrity_check).join("; ");
      foreignKeys = sqlite.query("PRAGMA foreign_key_check").all();
    } finally {
      sqlite.close();
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const slowest = stats.slow.sort((a, b) => b.ms - a.ms).slice(0, 3);

    console.log(
      `fuzz summary: seed=${SEED} requests=${stats.requests} statuses={${counts(stats.statuses)}} app-5xx=${stats.app5xx} ` +
        `bare-http-layer={${counts(stats.bare)}} dropped=${stats.dropped} {${counts(stats.droppedBy)}} timeouts=${stats.timeouts} sentinel-changes=${final.sentinelChanges.length} ` +
        `model-mismatches=${final.modelMismatches.length} (model entries checked ${final.checkedModel}) restarts/crashes=${exited ? 1 : 0} ` +
        `sigterm-exit=${stopCode} integrity_check=${integrity} uncertain-writes=${uncertainEvents.length} ` +
        `violations=${stats.violations.length} error-log-lines=${errorLogs.length} guarded=${stats.guarded} ` +
        `health-checks=${stats.healthChecks} slow>1s=${stats.slow.length}${slowest.length ? ` (max ${slowest.map((s) => `${s.ms}ms ${s.scenario}`).join(", ")})` : ""} ` +
        `scenarios={${counts(stats.scenarios)}} time=${seconds}s pid=${pid}`,
    );
    const distinct = new Map<string, Violation[]>();
    for (const v of stats.violations) distinct.set(v.signature, [...(distinct.get(v.signature) ?? []), v]);
    for (const [signature, list] of distinct) console.log(`\nVIOLATION ×${list.length} [${signature}] (seed ${SEED})\n  ${list[0]!.message}`);
    for (const event of uncertainEvents.slice(0, 5)) console.log(`\nUNCERTAIN WRITE (its checks skipped): ${event}`);
    for (const change of final.sentinelChanges) console.log(`\nSENTINEL CHANGED: ${change}`);
    for (const mismatch of final.modelMismatches) console.log(`\nMODEL MISMATCH: ${mismatch}`);
    if (fcError) console.log(`\nfast-check (seed ${SEED}): ${String(fcError).slice(0, 3000)}`);

    expect(health).toBeNull();
    expect(exited).toBe(false);
    expect(stats.app5xx).toBe(0);
    expect(final.sentinelChanges).toEqual([]);
    expect(final.modelMismatches).toEqual([]);
    expect([...distinct.keys()]).toEqual([]);
    expect(fcError).toBeNull();
    expect(stopCode).toBe(0);
    expect(integrity).toBe("ok");
    expect(foreignKeys).toEqual([]);
    expect(stats.requests).toBeGreaterThanOrEqual(NUM_RUNS);
  },
  TEST_TIMEOUT_MS,
);
