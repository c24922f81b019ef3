import { Elysia } from "elysia";
import { rawPath } from "./known-routes";
import { ApiError, ERRORS, fieldErrors, jsonResponse, type ValidationIssue } from "./errors";
import type { Logger } from "./log";

// bun:sqlite error codes that mean "the database cannot take this now", not "a bug".
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|PROTOCOL)/;

/** Turns every error (ours, Elysia's, the database's) into the JSON of SPEC §4. */
export function errorHandler(logger: Logger) {
  return new Elysia({ name: "error-handler" }).onError({ as: "global" }, ({ code, error, request }) => {
    if (error instanceof ApiError) return error.toResponse();
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof ApiError) return cause.toResponse();
    switch (code) {
      case "NOT_FOUND":
        return new ApiError("notFound").toResponse();
      case "PARSE":
        return ApiError.badRequest("Request body is not valid JSON").toResponse();
      case "VALIDATION": {
        const errors = fieldErrors(error.all as ValidationIssue[]);
        if (error.type === "query") {
          const [name, messages] = Object.entries(errors)[0]!;
          return ApiError.badRequest(`Invalid query parameter ${name}: ${messages[0]}`, errors).toResponse();
        }
        // A path parameter that fails its schema names something that cannot exist.
        if (error.type === "params") {
          return new ApiError("notFound", { message: Object.values(errors)[0]![0] }).toResponse();
        }
        return ApiError.validation(errors).toResponse();
      }
    }
    const sqliteCode = (error as { code?: unknown }).code;
    if (typeof sqliteCode === "string" && UNAVAILABLE.test(sqliteCode)) {
      logger.warn("database unavailable", { code: sqliteCode, method: request.method, path: rawPath(request.url) });
      return ApiError.unavailable().toResponse();
    }
    const requestId = crypto.randomUUID();
    logger.error("unhandled error", {
      request_id: requestId,
      method: request.method,
      // The path only: a query string is the client's and may hold anything.
      path: rawPath(request.url),
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    return jsonResponse(ERRORS.internal.status, { error: ERRORS.internal.message, request_id: requestId });
  });
}
