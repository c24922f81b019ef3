import { swagger } from "@elysiajs/swagger";
import { Elysia, t } from "elysia";
import type { Authenticator, Clock } from "./auth";
import { datastoreRoutes } from "./datastore/routes";
import { errorHandler } from "./error-handler";
import { ApiError } from "./errors";
import { apiKeyRoutes } from "./keys/routes";
import type { Logger } from "./log";
import { preflight } from "./preflight";
import type { RateLimiter } from "./rate-limit";
import type { Store } from "./store/types";
import { VERSION } from "./version";

export interface AppDeps {
  store: Store;
  authenticator: Authenticator;
  clock: Clock;
  logger: Logger;
  rateLimiter?: RateLimiter | null;
}

/** The whole HTTP API as an Elysia instance. It never listens: `serve` and the tests call it. */
export function createApp({ store, authenticator, clock, logger, rateLimiter = null }: AppDeps) {
  return new Elysia({ normalize: false })
    .use(errorHandler(logger))
    .use(
      swagger({
        path: "/swagger",
        documentation: {
          info: {
            title: "Datastore API",
            version: VERSION,
            description: "Self-hosted key-value Datastore, compatible with the Hooklistener Datastore API.",
          },
          components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "An `hklst_` API key" } } },
          security: [{ bearer: [] }],
        },
      }),
    )
    .get(
      "/healthz",
      async () => {
        try {
          await store.ping();
        } catch {
          throw ApiError.unavailable();
        }
        return { status: "ok" as const };
      },
      { response: { 200: t.Object({ status: t.Literal("ok") }) }, detail: { tags: ["Operations"], summary: "Health check", security: [] } },
    )
    .use(preflight(authenticator, rateLimiter, clock))
    .use(datastoreRoutes({ store, clock }))
    .use(apiKeyRoutes({ store, clock }));
}

export type App = ReturnType<typeof createApp>;
