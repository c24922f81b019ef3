import { API_KEY_PREFIX, isWellFormedKey } from "./ids";
import { LOG_LEVELS, type LogLevel } from "./log";

/** A mistake in flags, arguments or environment: one line to stderr, exit code 2. */
export class UsageError extends Error {}

export type Env = Record<string, string | undefined>;

export const DEFAULT_DB = "./data/datastore.db";

export interface ServeConfig {
  host: string;
  port: number;
  db: string;
  dev: boolean;
  logLevel: LogLevel;
  /** DATASTORE_BOOTSTRAP_KEY: seeds the first key of a new database instead of a random one. */
  bootstrapKey: string | null;
  /** normal: a commit survives a process crash; full: it also survives power loss (fsync). */
  durability: Durability;
  /** Server processes sharing the port (SO_REUSEPORT) and the database file. */
  workers: number;
  /** Requests per second allowed per API key (null = no limit), and the burst above it. */
  rateLimit: { perSecond: number; burst: number } | null;
}

export const DURABILITIES = ["normal", "full"] as const;
export type Durability = (typeof DURABILITIES)[number];
export const MAX_WORKERS = 64;

export interface ServeFlags {
  host?: string;
  port?: string;
  db?: string;
  dev?: boolean;
  durability?: string;
  workers?: string;
  rateLimit?: string;
  rateLimitBurst?: string;
}

export function parsePort(text: string, source: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 0 || port > 65535) throw new UsageError(`${source} must be a port number from 0 to 65535, got "${text}"`);
  return port;
}

function parseBoolean(text: string, source: string): boolean {
  if (/^(1|true|yes|on)$/i.test(text)) return true;
  if (/^(0|false|no|off|)$/i.test(text)) return false;
  throw new UsageError(`${source} must be true or false, got "${text}"`);
}

/** A whole number in [min, max], or a UsageError naming its source. */
export function parseWholeNumber(text: string, source: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new UsageError(`${source} must be a whole number from ${min} to ${max}, got "${text}"`);
  return value;
}

export function parseLogLevel(text: string, source: string): LogLevel {
  const level = text.toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`${source} must be one of ${LOG_LEVELS.join(", ")}, got "${text}"`);
  return level;
}

/** The database file: --db, else DATASTORE_DB, else ./data/datastore.db. */
export const resolveDbPath = (flag: string | undefined, env: Env) => flag ?? (env.DATASTORE_DB || DEFAULT_DB);

/** The flag if given, else the environment variable if set and not empty; with its name for errors. */
function setting(flag: string | undefined, flagName: string, env: Env, envName: string) {
  if (flag !== undefined) return { text: flag, source: flagName };
  const value = env[envName];
  return value === undefined || value === "" ? null : { text: value, source: envName };
}

/** Defaults, overlaid by the environment, overlaid by flags; then validated. Pure. */
export function loadServeConfig(flags: ServeFlags, env: Env): ServeConfig {
  const port = setting(flags.port, "--port", env, "PORT");
  const durability = setting(flags.durability, "--durability", env, "DATASTORE_DURABILITY");
  const workers = setting(flags.workers, "--workers", env, "DATASTORE_WORKERS");
  const rate = setting(flags.rateLimit, "--rate-limit", env, "DATASTORE_RATE_LIMIT");
  const burst = setting(flags.rateLimitBurst, "--rate-limit-burst", env, "DATASTORE_RATE_LIMIT_BURST");
  if (durability && !(DURABILITIES as readonly string[]).includes(durability.text)) {
    throw new UsageError(`${durability.source} must be normal or full, got "${durability.text}"`);
  }
  const perSecond = rate && parseWholeNumber(rate.text, rate.source, 1, 1_000_000);
  const bootstrapKey = env.DATASTORE_BOOTSTRAP_KEY || null;
  if (bootstrapKey !== null && !isWellFormedKey(bootstrapKey)) {
    throw new UsageError(`DATASTORE_BOOTSTRAP_KEY must be ${API_KEY_PREFIX} followed by at least 32 of A-Z a-z 0-9 _ -`);
  }
  const config: ServeConfig = {
    host: flags.host ?? (env.HOST || "127.0.0.1"),
    port: port ? parsePort(port.text, port.source) : 8080,
    db: resolveDbPath(flags.db, env),
    dev: flags.dev ?? (env.DATASTORE_DEV !== undefined && parseBoolean(env.DATASTORE_DEV, "DATASTORE_DEV")),
    logLevel: env.LOG_LEVEL ? parseLogLevel(env.LOG_LEVEL, "LOG_LEVEL") : "info",
    bootstrapKey,
    durability: (durability?.text ?? "normal") as Durability,
    workers: workers ? parseWholeNumber(workers.text, workers.source, 1, MAX_WORKERS) : 1,
    rateLimit: perSecond ? { perSecond, burst: burst ? parseWholeNumber(burst.text, burst.source, 1, 10_000_000) : 2 * perSecond } : null,
  };
  // Each worker would pick its own free port: they must share one.
  if (config.workers > 1 && config.port === 0) throw new UsageError("--workers needs a fixed --port, not 0");
  if (burst && !rate) throw new UsageError(`${burst.source} needs --rate-limit`);
  return config;
}

export const isLoopback = (host: string) => host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
