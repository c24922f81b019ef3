import { createApp } from "../src/app";
import { createAuthenticator } from "../src/auth";
import { MEMORY, openDatabase } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { apiKeyPrefix, hashApiKey, newApiKeySecret } from "../src/ids";
import { silentLogger } from "../src/log";
import { createRateLimiter } from "../src/rate-limit";
import { createSqliteStore } from "../src/store/sqlite";
import type { Plan } from "../src/store/types";

/** 2026-03-15T10:00:00Z, the moment every test world starts at unless told otherwise. */
export const T0 = Date.parse("2026-03-15T10:00:00Z");

export interface RequestOptions {
  /** JSON-encoded unless it is already a string; sets Content-Type: application/json. */
  body?: unknown;
  /** Bearer token; `null` sends no Authorization header. Defaults to the world's first key. */
  token?: string | null;
  headers?: Record<string, string>;
}

export interface WorldOptions {
  dev?: boolean;
  plan?: Plan;
  maxEntries?: number | null;
  rateLimit?: { perSecond: number; burst: number };
}

/** The app on the database at `path`, with a movable clock and one `scale` organization. */
async function buildWorld(path: string, options: WorldOptions) {
  const sqlite = openDatabase(path);
  migrate(sqlite);
  const store = createSqliteStore(sqlite);
  let now = T0;
  const clock = () => now;
  const authenticator = createAuthenticator({ store, clock, dev: options.dev ?? false, logger: silentLogger });
  const rateLimiter = options.rateLimit ? createRateLimiter(options.rateLimit) : null;
  const app = createApp({ store, authenticator, clock, logger: silentLogger, rateLimiter });

  async function addOrganization(name: string, plan: Plan = "scale", maxEntries: number | null = null) {
    const organization = await store.createOrganization({ name, plan, maxEntries }, now);
    const token = newApiKeySecret();
    const key = await store.createApiKey(
      { organizationId: organization.id, name: "test", keyHash: hashApiKey(token), keyPrefix: apiKeyPrefix(token) },
      now,
    );
    return { organization, key, token };
  }

  const main = await addOrganization("main", options.plan ?? "scale", options.maxEntries ?? null);

  async function request(method: string, path: string, opts: RequestOptions = {}) {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? main.token : opts.token;
    if (token !== null) headers.authorization ??= `Bearer ${token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
      headers["content-type"] ??= "application/json";
    }
    const response = await app.handle(new Request(`http://localhost${path}`, { method, headers, body }));
    const text = await response.text();
    let json: any = undefined;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: response.status, headers: response.headers, text, json };
  }

  return {
    app,
    store,
    sqlite,
    authenticator,
    org: main.organization,
    token: main.token,
    keyId: main.key.id,
    addOrganization,
    request,
    put: (entry: Record<string, unknown>, opts: RequestOptions = {}) => request("PUT", "/api/v1/datastore/entries", { ...opts, body: { entry } }),
    get: (key: string, query = "", opts: RequestOptions = {}) => request("GET", `/api/v1/datastore/entries/${key}${query}`, opts),
    list: (query = "", opts: RequestOptions = {}) => request("GET", `/api/v1/datastore${query}`, opts),
    clock: {
      now: () => now,
      advance: (ms: number) => void (now += ms),
      set: (ms: number) => void (now = ms),
    },
  };
}

/** A fresh world on its own in-memory database. */
export const createWorld = (options: WorldOptions = {}) => buildWorld(MEMORY, options);

export type World = Awaited<ReturnType<typeof createWorld>>;

/**
 * Like createWorld, but on a database FILE at `path` (WAL, opened as the CLI opens it), for tests
 * that need a real file: size limits (PRAGMA max_page_count), bulk rows, a second connection.
 * `close()` checkpoints and closes the database.
 */
export async function createFileWorld(path: string, options: WorldOptions = {}) {
  const world = await buildWorld(path, options);
  return { ...world, path, close: () => world.store.close() };
}

export type FileWorld = Awaited<ReturnType<typeof createFileWorld>>;
