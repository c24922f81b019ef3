import { Type } from "@sinclair/typebox";
import { t } from "elysia";
import { ERRORS } from "../errors";

// The key alphabet of SPEC §1, shared by keys, namespaces and prefixes.
export const KEY_CHARS = "A-Za-z0-9_.:/-";
export const NAME_PATTERN = `^[${KEY_CHARS}]{1,255}$`;
const FILTER_PATTERN = `^[${KEY_CHARS}]{0,255}$`;

export const MAX_VALUE_BYTES = 65_536;
export const MAX_VALUE_DEPTH = 1000;
export const MAX_DESCRIPTION_CHARS = 1000;
export const MAX_TTL_SECONDS = 315_360_000;
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 50;
export const DEFAULT_NAMESPACE = "default";

export const MESSAGES = {
  name: "must be 1-255 characters of A-Z a-z 0-9 _ . - : /",
  dotSegment: "must not have . or .. as a /-separated segment",
  filter: "must be 0-255 characters of A-Z a-z 0-9 _ . - : /",
  value: "is required: any JSON value except null",
  valueSize: `must be at most ${MAX_VALUE_BYTES} bytes as JSON`,
  valueNumber: "must not contain a number outside the range of a double",
  valueDepth: `must not nest arrays and objects more than ${MAX_VALUE_DEPTH} levels deep`,
  description: `must be a string of at most ${MAX_DESCRIPTION_CHARS} characters, or null`,
  // Text is stored as UTF-8: a lone surrogate (valid in JSON escapes) could not come back as sent.
  unicode: "must be valid Unicode text (no lone surrogate)",
  ttl: `must be an integer from 1 to ${MAX_TTL_SECONDS}`,
  page: "must be an integer greater than or equal to 1",
  pageSize: `must be an integer from 1 to ${MAX_PAGE_SIZE}`,
};

const timestamp = (description: string) =>
  t.String({ format: "date-time", description, examples: ["2026-03-15T10:00:00Z"] });

export const Entry = t.Object(
  {
    id: t.String({ description: "Stable across updates of a live entry", examples: ["ds_8f3kq2m9x7c4v1b5n6z0"] }),
    key: t.String({ examples: ["config:api:timeout"] }),
    namespace: t.String({ examples: ["production"] }),
    value: t.Any({ description: "Any JSON value except null, returned as stored", examples: [30] }),
    description: t.Union([t.String(), t.Null()], { examples: ["API timeout in seconds"] }),
    expires_at: t.Union([timestamp("When the entry stops being live"), t.Null()]),
    created_at: timestamp("When the entry was created"),
    updated_at: timestamp("When the entry was last written"),
  },
  { description: "A datastore entry" },
);

export const EntryInput = t.Object(
  {
  key: t.String({
    pattern: NAME_PATTERN,
    error: MESSAGES.name,
    description: `1-255 characters of ${KEY_CHARS}, case-sensitive; no \`.\` or \`..\` segment between slashes`,
    examples: ["config:api:timeout"],
  }),
  namespace: t.Optional(
    t.String({ pattern: NAME_PATTERN, error: MESSAGES.name, description: "Defaults to `default`", examples: ["production"] }),
  ),
  value: t.Any({
    error: MESSAGES.value,
    description: "Any JSON value except null; at most 65,536 bytes as JSON and 1,000 levels of nesting",
    examples: [30],
  }),
  description: t.Optional(
    t.Union([t.String(), t.Null()], { error: MESSAGES.description, description: "At most 1,000 characters", examples: ["API timeout in seconds"] }),
  ),
  // TypeBox's own Integer: Elysia's t.Integer would also accept the string "60".
  ttl_seconds: t.Optional(
    t.Union([Type.Integer({ minimum: 1, maximum: MAX_TTL_SECONDS }), t.Null()], {
      error: MESSAGES.ttl,
      description: "Seconds until the entry expires; absent or null for never",
      examples: [3600],
    }),
  ),
  },
  { additionalProperties: true },
);

// Unknown fields, inside `entry` or beside it, are ignored rather than refused.
export const UpsertBody = t.Object({ entry: EntryInput }, { additionalProperties: true });

export const EntryResponse = t.Object({ data: Entry });

// Unknown query parameters (a cache-buster, say) are ignored, as a hosted API would.
const query = { additionalProperties: true };

export const ListQuery = t.Object({
  namespace: t.Optional(t.String({ pattern: FILTER_PATTERN, error: MESSAGES.filter, description: "Exact namespace; empty or absent for all" })),
  prefix: t.Optional(
    t.String({ pattern: FILTER_PATTERN, error: MESSAGES.filter, description: "Literal, case-sensitive key prefix; empty or absent for none" }),
  ),
  // Digit strings rather than t.Integer: Elysia's integer coercion accepts `1.0` and `1e1`, and
  // its range errors lose the parameter's name. 15 digits keep page arithmetic exact.
  page: t.Optional(t.String({ pattern: "^[1-9][0-9]{0,14}$", error: MESSAGES.page, description: "Page number: an integer from 1", default: "1" })),
  page_size: t.Optional(
    t.String({ pattern: "^(100|[1-9][0-9]?)$", error: MESSAGES.pageSize, description: "Entries per page: an integer from 1 to 100", default: String(DEFAULT_PAGE_SIZE) }),
  ),
}, query);

export const ListResponse = t.Object({
  data: t.Array(Entry),
  page: t.Integer(),
  page_size: t.Integer(),
  total_count: t.Integer({ description: "Live entries matching the filters, across all pages" }),
  total_pages: t.Integer({ description: "ceil(total_count / page_size); 0 when nothing matches" }),
});

export const NamespaceQuery = t.Object({
  namespace: t.Optional(t.String({ description: "Defaults to `default`" })),
}, query);

export const KeyParams = t.Object({
  // Elysia decodes `:key` itself and fails a bad %-sequence; such a key cannot exist, and a
  // path parameter's `error` is the 404 message (see error-handler.ts).
  key: t.String({
    error: ERRORS.entryNotFound.message,
    description: "The entry's key; slashes may be sent raw or as %2F",
    examples: ["config:api:timeout"],
  }),
});

export const NamespacesResponse = t.Object({
  data: t.Array(t.String(), { description: "Namespaces holding at least one live entry, ascending by byte" }),
});
