import { Elysia } from "elysia";
import type { Authenticator, Clock } from "./auth";
import { hasBody, isOversized, mediaType } from "./body";
import { ApiError } from "./errors";
import { findRoute, rawPath } from "./known-routes";
import { hasDatastore } from "./plans";
import type { RateLimiter } from "./rate-limit";
import type { KeyOwner } from "./store/types";

/**
 * Everything decided before routing, in SPEC §4's order of precedence: unknown route (left to
 * Elysia's 404) → 405 → 401 → 429 (rate limit, when configured: it needs the key) → 403 →
 * 413 → 415. Body parsing (400, and 413 for streamed bodies) and validation (422) follow in
 * the routes. (onRequest hooks are always global in Elysia: this runs for every request.)
 */
export function preflight(authenticator: Authenticator, rateLimiter: RateLimiter | null, clock: Clock) {
  return new Elysia({ name: "preflight" })
    .decorate("owner", undefined as unknown as KeyOwner)
    .onRequest(async (context) => {
      const { request } = context;
      const route = findRoute(rawPath(request.url));
      if (!route) return;
      if (!route.methods.includes(request.method)) throw ApiError.methodNotAllowed(route.methods);
      if (route.access === "public") return;
      const owner = await authenticator.authenticate(request);
      if (rateLimiter) Object.assign(context.set.headers, rateLimiter.take(owner.key.id, clock()));
      if (route.access === "datastore" && !hasDatastore(owner.organization)) throw new ApiError("planForbidden");
      if (route.body && hasBody(request)) {
        const json = mediaType(request.headers.get("content-type")) === "application/json";
        // A declared length is checked at once. A streamed body of the right type is counted
        // while it is parsed; one of the wrong type is counted (not kept) here, since 413
        // outranks 415.
        if (request.headers.has("content-length") || !json) {
          if (await isOversized(request)) throw ApiError.payloadTooLarge();
        }
        if (!json) throw new ApiError("unsupportedMediaType");
      }
      context.owner = owner;
    });
}
