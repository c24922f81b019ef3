import { describe, expect, test } from "bun:test";
import { loadServeConfig, UsageError } from "../src/config";

/** The UsageError thrown by loading this config (fails the test if none is thrown). */
function usageError(flags: Parameters<typeof loadServeConfig>[0], env: Record<string, string>): UsageError {
  try {
    loadServeConfig(flags, env);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error("expected a UsageError, got a config");
}

describe("loadServeConfig defaults", () => {
  test("with no flags and an empty environment, serves 127.0.0.1:8080 on ./data/datastore.db, not in dev mode", () => {
    expect(loadServeConfig({}, {})).toEqual({
      host: "127.0.0.1",
      port: 8080,
      db: "./data/datastore.db",
      dev: false,
      logLevel: "info",
      bootstrapKey: null,
      durability: "normal",
      workers: 1,
      rateLimit: null,
    });
  });

  test("empty environment variables count as unset", () => {
    const config = loadServeConfig({}, { HOST: "", PORT: "", DATASTORE_DB: "", LOG_LEVEL: "", DATASTORE_BOOTSTRAP_KEY: "" });
    expect(config).toMatchObject({ host: "127.0.0.1", port: 8080, db: "./data/datastore.db", logLevel: "info", bootstrapKey: null });
  });

  test("ignores unrelated environment variables", () => {
    expect(loadServeConfig({}, { PATH: "/usr/bin", HOME: "/root", DB: "x.db" })).toEqual(loadServeConfig({}, {}));
  });
});

describe("loadServeConfig environment", () => {
  test("applies HOST, PORT, DATASTORE_DB, DATASTORE_DEV and LOG_LEVEL", () => {
    const env = { HOST: "0.0.0.0", PORT: "9090", DATASTORE_DB: "/var/lib/ds.db", DATASTORE_DEV: "true", LOG_LEVEL: "debug" };
    expect(loadServeConfig({}, env)).toEqual({
      host: "0.0.0.0",
      port: 9090,
      db: "/var/lib/ds.db",
      dev: true,
      logLevel: "debug",
      bootstrapKey: null,
      durability: "normal",
      workers: 1,
      rateLimit: null,
    });
  });

  test("reads DATASTORE_BOOTSTRAP_KEY", () => {
    const key = "hklst_" + "a".repeat(43);
    expect(loadServeConfig({}, { DATASTORE_BOOTSTRAP_KEY: key }).bootstrapKey).toBe(key);
  });

  test.each([
    ["1", true],
    ["true", true],
    ["TRUE", true],
    ["yes", true],
    ["on", true],
    ["0", false],
    ["false", false],
    ["no", false],
    ["off", false],
    ["", false],
  ])("DATASTORE_DEV=%p means dev %p", (value, dev) => {
    expect(loadServeConfig({}, { DATASTORE_DEV: value }).dev).toBe(dev);
  });

  test.each(["debug", "info", "warn", "error", "silent"])("LOG_LEVEL=%s is accepted", (level) => {
    expect(loadServeConfig({}, { LOG_LEVEL: level }).logLevel).toBe(level as any);
  });

  test("LOG_LEVEL is case-insensitive", () => {
    expect(loadServeConfig({}, { LOG_LEVEL: "WARN" }).logLevel).toBe("warn");
  });

  test("PORT=0 asks for any free port", () => {
    expect(loadServeConfig({}, { PORT: "0" }).port).toBe(0);
  });
});

describe("loadServeConfig flags", () => {
  test("each flag beats its environment variable", () => {
    const env = { HOST: "0.0.0.0", PORT: "9090", DATASTORE_DB: "/env.db", DATASTORE_DEV: "false" };
    const config = loadServeConfig({ host: "::1", port: "7070", db: "/flag.db", dev: true }, env);
    expect(config).toMatchObject({ host: "::1", port: 7070, db: "/flag.db", dev: true });
  });

  test("a valid --port beats an invalid PORT (the environment is not consulted)", () => {
    expect(loadServeConfig({ port: "7070" }, { PORT: "not-a-port" }).port).toBe(7070);
  });

  test("--dev beats an invalid DATASTORE_DEV", () => {
    expect(loadServeConfig({ dev: true }, { DATASTORE_DEV: "maybe" }).dev).toBe(true);
  });

  test("flags without environment apply over the defaults", () => {
    expect(loadServeConfig({ host: "0.0.0.0", port: "1", db: "x.db" }, {})).toMatchObject({ host: "0.0.0.0", port: 1, db: "x.db", dev: false });
  });
});

describe("loadServeConfig validation", () => {
  test.each(["abc", "-1", "65536", "80.5", "8080x", " 8080", "1e3", "0x50"])("PORT=%p is a UsageError naming PORT", (port) => {
    const error = usageError({}, { PORT: port });
    expect(error.message).toContain("PORT");
    expect(error.message).toContain(`"${port}"`);
  });

  test("a bad --port is a UsageError naming --port, not PORT", () => {
    const error = usageError({ port: "99999" }, { PORT: "8080" });
    expect(error.message).toStartWith("--port ");
    expect(error.message).toContain('"99999"');
  });

  test("PORT=65535 is the highest port accepted", () => {
    expect(loadServeConfig({}, { PORT: "65535" }).port).toBe(65535);
    expect(usageError({}, { PORT: "65536" }).message).toContain("PORT");
  });

  test("a bad LOG_LEVEL is a UsageError naming LOG_LEVEL and the levels", () => {
    const error = usageError({}, { LOG_LEVEL: "loud" });
    expect(error.message).toContain("LOG_LEVEL");
    expect(error.message).toContain('"loud"');
    expect(error.message).toContain("debug, info, warn, error");
  });

  test.each(["maybe", "2", "enabled"])("DATASTORE_DEV=%p is a UsageError naming DATASTORE_DEV", (value) => {
    const error = usageError({}, { DATASTORE_DEV: value });
    expect(error.message).toContain("DATASTORE_DEV");
    expect(error.message).toContain(`"${value}"`);
  });

  test("error messages are one line", () => {
    const envs: Record<string, string>[] = [{ PORT: "x" }, { LOG_LEVEL: "x" }, { DATASTORE_DEV: "x" }];
    for (const env of envs) {
      expect(usageError({}, env).message).not.toContain("\n");
    }
  });
});

describe("loadServeConfig durability, workers and rate limit", () => {
  test("reads --durability, --workers and --rate-limit, with the burst twice the rate by default", () => {
    expect(loadServeConfig({ durability: "full", workers: "4", rateLimit: "50" }, {})).toMatchObject({
      durability: "full",
      workers: 4,
      rateLimit: { perSecond: 50, burst: 100 },
    });
  });

  test("reads DATASTORE_DURABILITY, DATASTORE_WORKERS, DATASTORE_RATE_LIMIT and DATASTORE_RATE_LIMIT_BURST", () => {
    const env = { DATASTORE_DURABILITY: "full", DATASTORE_WORKERS: "2", DATASTORE_RATE_LIMIT: "10", DATASTORE_RATE_LIMIT_BURST: "15" };
    expect(loadServeConfig({}, env)).toMatchObject({ durability: "full", workers: 2, rateLimit: { perSecond: 10, burst: 15 } });
  });

  test("a flag beats the environment for durability, workers and the rate limit", () => {
    const env = { DATASTORE_DURABILITY: "full", DATASTORE_WORKERS: "2", DATASTORE_RATE_LIMIT: "10" };
    expect(loadServeConfig({ durability: "normal", workers: "3", rateLimit: "7" }, env)).toMatchObject({
      durability: "normal",
      workers: 3,
      rateLimit: { perSecond: 7, burst: 14 },
    });
  });

  test.each([
    [{ durability: "fast" }, "--durability"],
    [{ workers: "0" }, "--workers"],
    [{ workers: "65" }, "--workers"],
    [{ workers: "two" }, "--workers"],
    [{ rateLimit: "0" }, "--rate-limit"],
    [{ rateLimit: "1.5" }, "--rate-limit"],
    [{ rateLimitBurst: "5" }, "--rate-limit-burst"],
    [{ workers: "2", port: "0" }, "--workers"],
  ])("refuses %p with a UsageError naming %s", (flags, name) => {
    expect(usageError(flags, {}).message).toContain(name);
  });

  test.each([
    ["no prefix", "x".repeat(43)],
    ["too short", "hklst_" + "a".repeat(31)],
    ["a bad character", "hklst_" + "a".repeat(40) + "!"],
  ])("refuses a DATASTORE_BOOTSTRAP_KEY with %s, without echoing it", (_, key) => {
    const message = usageError({}, { DATASTORE_BOOTSTRAP_KEY: key }).message;
    expect(message).toContain("DATASTORE_BOOTSTRAP_KEY");
    expect(message).not.toContain(key);
  });
});
