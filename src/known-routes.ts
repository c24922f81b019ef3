/**
 * Every path the API serves, with its methods and who may call it. Elysia answers a wrong
 * method with a plain not-found, so this table is consulted before routing to give 405 (with
 * Allow), and to authenticate before any body is read or validated (SPEC §4 order).
 */
export type Access = "public" | "key" | "datastore";

export interface KnownRoute {
  pattern: RegExp;
  methods: readonly string[];
  access: Access;
  /** Whether a PUT/POST here carries a JSON body. */
  body?: boolean;
}

const ROUTES: KnownRoute[] = [
  { pattern: /^\/healthz$/, methods: ["GET"], access: "public" },
  { pattern: /^\/swagger(\/json)?$/, methods: ["GET"], access: "public" },
  { pattern: /^\/api\/v1\/datastore$/, methods: ["GET"], access: "datastore" },
  { pattern: /^\/api\/v1\/datastore\/namespaces$/, methods: ["GET"], access: "datastore" },
  { pattern: /^\/api\/v1\/datastore\/entries$/, methods: ["PUT"], access: "datastore", body: true },
  { pattern: /^\/api\/v1\/datastore\/entries\/.+$/, methods: ["GET", "DELETE"], access: "datastore" },
  { pattern: /^\/api\/v1\/organizations$/, methods: ["GET"], access: "key" },
  { pattern: /^\/api\/v1\/organizations\/[^/]+\/api-keys$/, methods: ["GET", "POST"], access: "key", body: true },
  { pattern: /^\/api\/v1\/organizations\/[^/]+\/api-keys\/[^/]+$/, methods: ["DELETE"], access: "key" },
];

/** The path of a request URL, undecoded, without the query. */
export function rawPath(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

/**
 * The known route for a path. Like Elysia, one trailing slash is ignored (`/entries/` is
 * `/entries`), except where it belongs to an entry key (`/entries/a/` is the key `a/`).
 */
export function findRoute(path: string): KnownRoute | undefined {
  const exact = ROUTES.find((route) => route.pattern.test(path));
  if (exact || !path.endsWith("/") || path === "/") return exact;
  const trimmed = path.slice(0, -1);
  return ROUTES.find((route) => route.pattern.test(trimmed));
}
