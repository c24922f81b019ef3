import { Elysia, t } from "elysia";
import type { Clock } from "../auth";
import { readJsonObject } from "../body";
import { isoSeconds } from "../datastore/present";
import { ApiError, errorResponses } from "../errors";
import { apiKeyPrefix, hashApiKey, newApiKeySecret } from "../ids";
import type { ApiKeyRecord, KeyOwner, Store } from "../store/types";
import { MESSAGES } from "../datastore/model";
import { ApiKeyList, CreateApiKeyBody, CreatedApiKey, OrganizationList } from "./model";

const tags = ["API keys"];

const presentKey = (key: ApiKeyRecord) => ({
  id: key.id,
  name: key.name,
  created_at: isoSeconds(key.createdAt),
  last_used_at: key.lastUsedAt === null ? null : isoSeconds(key.lastUsedAt),
  revoked_at: key.revokedAt === null ? null : isoSeconds(key.revokedAt),
});

/** Another organization's id answers exactly like an id that does not exist. */
function ownOrganization(owner: KeyOwner, orgId: string) {
  if (orgId !== owner.organization.id) throw new ApiError("organizationNotFound");
  return owner.organization;
}

export function apiKeyRoutes({ store, clock }: { store: Store; clock: Clock }) {
  return new Elysia({ name: "api-key-routes" })
    .decorate("owner", undefined as unknown as KeyOwner)
    .get("/api/v1/organizations", ({ owner }) => [{ id: owner.organization.id, name: owner.organization.name }], {
      response: { 200: OrganizationList, ...errorResponses("unauthorized") },
      detail: { tags, summary: "The organization of the calling key" },
    })
    .get(
      "/api/v1/organizations/:org_id/api-keys",
      async ({ owner, params }) => ({ data: (await store.listApiKeys(ownOrganization(owner, params.org_id).id)).map(presentKey) }),
      {
        response: { 200: ApiKeyList, ...errorResponses("unauthorized", "organizationNotFound") },
        detail: { tags, summary: "List the organization's API keys" },
      },
    )
    .post(
      "/api/v1/organizations/:org_id/api-keys",
      async ({ owner, params, body, set }) => {
        const org = ownOrganization(owner, params.org_id);
        // Stored as UTF-8, a lone surrogate could not come back as sent.
        if (!body.name.isWellFormed()) throw ApiError.validation({ name: [MESSAGES.unicode] });
        const secret = newApiKeySecret();
        const key = await store.createApiKey(
          { organizationId: org.id, name: body.name, keyHash: hashApiKey(secret), keyPrefix: apiKeyPrefix(secret) },
          clock(),
        );
        set.status = 201;
        const { id, name, ...times } = presentKey(key);
        return { id, name, key: secret, ...times };
      },
      {
        parse: ({ request }) => readJsonObject(request),
        body: CreateApiKeyBody,
        response: {
          201: CreatedApiKey,
          ...errorResponses("badRequest", "unauthorized", "organizationNotFound", "payloadTooLarge", "unsupportedMediaType", "validation"),
        },
        detail: { tags, summary: "Create an API key", description: "The clear key is in this answer only." },
      },
    )
    .delete(
      "/api/v1/organizations/:org_id/api-keys/:key_id",
      async ({ owner, params, set }) => {
        const org = ownOrganization(owner, params.org_id);
        const key = await store.findApiKey(params.key_id);
        if (!key || key.organizationId !== org.id) throw new ApiError("apiKeyNotFound");
        await store.revokeApiKey(key.id, clock());
        set.status = 204;
      },
      {
        response: { 204: t.Void({ description: "Revoked" }), ...errorResponses("unauthorized", "organizationNotFound", "apiKeyNotFound") },
        detail: { tags, summary: "Revoke an API key", description: "The key stops working at once. Revoking a revoked key changes nothing." },
      },
    );
}
