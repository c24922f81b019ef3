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
}

export interface ServeFlags {
  host?: string;
  port?: string;
  db?: string;
  dev?: boolean;
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

export function parseLogLevel(text: string, source: string): LogLevel {
  const level = text.toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`${source} must be one of ${LOG_LEVELS.join(", ")}, got "${text}"`);
  return level;
}

/** The database file: --db, else DATASTORE_DB, else ./data/datastore.db. */
export const resolveDbPath = (flag: string | undefined, env: Env) => flag ?? (env.DATASTORE_DB || DEFAULT_DB);

/** Defaults, overlaid by the environment, overlaid by flags; then validated. Pure. */
export function loadServeConfig(flags: ServeFlags, env: Env): ServeConfig {
  const portText = flags.port ?? env.PORT;
  return {
    host: flags.host ?? (env.HOST || "127.0.0.1"),
    port: portText === undefined || portText === "" ? 8080 : parsePort(portText, flags.port !== undefined ? "--port" : "PORT"),
    db: resolveDbPath(flags.db, env),
    dev: flags.dev ?? (env.DATASTORE_DEV !== undefined && parseBoolean(env.DATASTORE_DEV, "DATASTORE_DEV")),
    logLevel: env.LOG_LEVEL ? parseLogLevel(env.LOG_LEVEL, "LOG_LEVEL") : "info",
    bootstrapKey: env.DATASTORE_BOOTSTRAP_KEY || null,
  };
}

export const isLoopback = (host: string) => host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
