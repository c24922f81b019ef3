import { Elysia } from "elysia";
import type { Clock } from "../auth";
import { readJsonObject } from "../body";
import { ApiError, errorResponses } from "../errors";
import { entryLimit } from "../plans";
import type { KeyOwner, Store } from "../store/types";
import { entryKeyFromUrl, namespaceOrDefault } from "./entry-key";
import {
  DEFAULT_PAGE_SIZE,
  EntryResponse,
  KeyParams,
  ListQuery,
  ListResponse,
  NamespaceQuery,
  NamespacesResponse,
  UpsertBody,
} from "./model";
import { entryJson, entryResponse, jsonText } from "./present";
import { parseUpsertBody } from "./validate";

const AUTH_ERRORS = ["unauthorized", "planForbidden"] as const;
const tags = ["Datastore"];

export function datastoreRoutes({ store, clock }: { store: Store; clock: Clock }) {
  /** Shared by GET and DELETE of `/entries/<key>`: the key and namespace, or 404. */
  function locate(url: string, namespace: string | undefined) {
    const key = entryKeyFromUrl(url);
    const ns = namespaceOrDefault(namespace);
    if (key === null || ns === null) throw new ApiError("entryNotFound");
    return { key, namespace: ns };
  }

  const getEntry = async ({ request, query, owner }: { request: Request; query: { namespace?: string }; owner: KeyOwner }) => {
    const { key, namespace } = locate(request.url, query.namespace);
    const entry = await store.getEntry(owner.organization.id, namespace, key, clock());
    if (!entry) throw new ApiError("entryNotFound");
    return entryResponse(entry);
  };

  const deleteEntry = async ({ request, query, owner }: { request: Request; query: { namespace?: string }; owner: KeyOwner }) => {
    const { key, namespace } = locate(request.url, query.namespace);
    const entry = await store.deleteEntry(owner.organization.id, namespace, key, clock());
    if (!entry) throw new ApiError("entryNotFound");
    return entryResponse(entry);
  };

  // parseUpsertBody runs as a derive (before Elysia's own body validation) so that one 422
  // lists every invalid field, including the rules the schema cannot say.
  const upsertRoute = new Elysia({ name: "datastore-upsert" })
    .decorate("owner", undefined as unknown as KeyOwner)
    .derive({ as: "local" }, ({ body }) => ({ write: parseUpsertBody(body as Record<string, unknown>) }))
    .put(
      "/api/v1/datastore/entries",
      async ({ write, owner }) => {
        const result = await store.upsertEntry(owner.organization.id, write, entryLimit(owner.organization), clock());
        if (!result.ok) throw ApiError.entryLimit(result.limit);
        return entryResponse(result.entry);
      },
      {
        parse: ({ request }) => readJsonObject(request),
        body: UpsertBody,
        response: {
          200: EntryResponse,
          ...errorResponses("badRequest", ...AUTH_ERRORS, "payloadTooLarge", "unsupportedMediaType", "validation", "entryLimit"),
        },
        detail: {
          tags,
          summary: "Create or replace an entry",
          description:
            "Creates the entry, or replaces the value, description and expiry of the live entry at that namespace and key (keeping its id and created_at).",
        },
      },
    );

  const entryDocs = {
    query: NamespaceQuery,
    params: KeyParams,
    response: { 200: EntryResponse, ...errorResponses(...AUTH_ERRORS, "entryNotFound") },
  };

  return (
    new Elysia({ name: "datastore-routes" })
      .decorate("owner", undefined as unknown as KeyOwner)
      .get(
        "/api/v1/datastore",
        async ({ query, owner }) => {
          const page = Number(query.page ?? 1);
          const pageSize = Number(query.page_size ?? DEFAULT_PAGE_SIZE);
          const result = await store.listEntries(
            owner.organization.id,
            { namespace: query.namespace || null, prefix: query.prefix || null, offset: (page - 1) * pageSize, limit: pageSize },
            clock(),
          );
          const totalPages = Math.ceil(result.totalCount / pageSize);
          return jsonText(
            `{"data":[${result.entries.map(entryJson).join(",")}],"page":${page},"page_size":${pageSize},` +
              `"total_count":${result.totalCount},"total_pages":${totalPages}}`,
          );
        },
        {
          query: ListQuery,
          response: { 200: ListResponse, ...errorResponses("badRequest", ...AUTH_ERRORS) },
          detail: { tags, summary: "List entries", description: "Ordered by namespace, then key, both by byte." },
        },
      )
      .use(upsertRoute)
      .get("/api/v1/datastore/entries/:key", getEntry, {
        ...entryDocs,
        detail: { tags, summary: "Get an entry" },
      })
      .delete("/api/v1/datastore/entries/:key", deleteEntry, {
        ...entryDocs,
        detail: { tags, summary: "Delete an entry", description: "Answers with the entry as it was." },
      })
      // Keys with raw slashes (`a/b/c`): the `:key` route stops at the first slash. Swagger leaves
      // wildcard routes out of the document, so the `:key` routes above document both.
      .get("/api/v1/datastore/entries/*", getEntry, { query: NamespaceQuery })
      .delete("/api/v1/datastore/entries/*", deleteEntry, { query: NamespaceQuery })
      .get("/api/v1/datastore/namespaces", async ({ owner }) => ({ data: await store.listNamespaces(owner.organization.id, clock()) }), {
        response: { 200: NamespacesResponse, ...errorResponses(...AUTH_ERRORS) },
        detail: { tags, summary: "List namespaces holding live entries" },
      })
  );
}
