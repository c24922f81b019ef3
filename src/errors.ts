import { t, type TSchema } from "elysia";

/**
 * The closed set of errors the API answers with: status and public message. Messages are
 * always safe to show; a raw cause is only ever logged. OpenAPI error responses are generated
 * from this same table (errorResponses), so the docs cannot drift from what is sent.
 */
export const ERRORS = {
  badRequest: { status: 400, message: "Bad request" },
  unauthorized: { status: 401, message: "Authentication required" },
  planForbidden: { status: 403, message: "Datastore is not available on your plan" },
  notFound: { status: 404, message: "Not found" },
  entryNotFound: { status: 404, message: "Entry not found" },
  organizationNotFound: { status: 404, message: "Organization not found" },
  apiKeyNotFound: { status: 404, message: "API key not found" },
  methodNotAllowed: { status: 405, message: "Method not allowed" },
  payloadTooLarge: { status: 413, message: "Request body is larger than 1048576 bytes" },
  unsupportedMediaType: { status: 415, message: "Content-Type must be application/json" },
  validation: { status: 422, message: "Validation failed" },
  entryLimit: { status: 422, message: "Entry limit reached" },
  rateLimited: { status: 429, message: "Too many requests" },
  internal: { status: 500, message: "Internal server error" },
  unavailable: { status: 503, message: "The database is busy or unavailable; retry shortly" },
} as const;

export type ErrorKind = keyof typeof ERRORS;
export type FieldErrors = Record<string, string[]>;

export interface ValidationIssue {
  path: string;
  message: string;
  schema?: { error?: unknown };
}

/** Adds `message` to a field's messages, once. */
export function addFieldError(errors: FieldErrors, field: string, message: string) {
  const list = (errors[field] ??= []);
  if (!list.includes(message)) list.push(message);
}

/** Groups validation issues by their top-level field, preferring a schema's own message. */
export function fieldErrors(issues: ValidationIssue[], depth = 0): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of issues) {
    const field = issue.path.split("/").filter(Boolean)[depth] ?? "body";
    addFieldError(errors, field, typeof issue.schema?.error === "string" ? issue.schema.error : issue.message);
  }
  return errors;
}

export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly kind: ErrorKind,
    readonly options: { message?: string; body?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(options.message ?? ERRORS[kind].message);
    this.status = ERRORS[kind].status;
  }

  static badRequest(message: string, errors?: FieldErrors) {
    return new ApiError("badRequest", { message, body: errors ? { errors } : undefined });
  }
  static validation(errors: FieldErrors) {
    return new ApiError("validation", { body: { errors } });
  }
  static entryLimit(limit: number) {
    return new ApiError("entryLimit", { body: { limit } });
  }
  /** Closes the connection too: otherwise the server would go on reading the refused body. */
  static payloadTooLarge() {
    return new ApiError("payloadTooLarge", { headers: { Connection: "close" } });
  }
  static methodNotAllowed(allow: readonly string[]) {
    return new ApiError("methodNotAllowed", { headers: { Allow: allow.join(", ") } });
  }
  static unavailable(retryAfterSeconds = 1) {
    return new ApiError("unavailable", { headers: { "Retry-After": String(retryAfterSeconds) } });
  }

  toResponse(): Response {
    return jsonResponse(this.status, { error: this.message, ...this.options.body }, this.options.headers);
  }
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

const ErrorBody = t.Object({
  error: t.String({ description: "What went wrong, safe to show to a user" }),
  errors: t.Optional(
    t.Record(t.String(), t.Array(t.String()), { description: "Field (or query parameter) name → messages" }),
  ),
  limit: t.Optional(t.Integer({ description: "The organization's entry limit (on `Entry limit reached`)" })),
  request_id: t.Optional(t.String({ description: "Quote it when reporting a 500" })),
});

/** OpenAPI responses for the given error kinds (kinds sharing a status share one response). */
export function errorResponses(...kinds: ErrorKind[]): Record<number, TSchema> {
  const byStatus = new Map<number, string[]>();
  for (const kind of kinds) {
    const { status, message } = ERRORS[kind];
    byStatus.set(status, [...(byStatus.get(status) ?? []), `\`${message}\``]);
  }
  return Object.fromEntries([...byStatus].map(([status, messages]) => [status, t.Object(ErrorBody.properties, { description: messages.join(" or ") })]));
}
