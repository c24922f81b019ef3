import type { Database } from "bun:sqlite";
import { asc, eq, isNull, and } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { apiKeys, organizations } from "../../db/schema";
import { newApiKeyId, newOrganizationId } from "../../ids";
import type { ApiKeyRecord, KeyOwner, Organization, Store } from "../types";
import type { AuthCache } from "./auth-cache";
import { toSeconds } from "./time";

type ApiKeyStore = Pick<
  Store,
  "createApiKey" | "listApiKeys" | "findApiKey" | "revokeApiKey" | "findKeyOwner" | "createOrganizationWithKey" | "recordKeyUse"
>;

const KEY_COLUMNS = {
  id: apiKeys.id,
  organizationId: apiKeys.organizationId,
  name: apiKeys.name,
  keyPrefix: apiKeys.keyPrefix,
  createdAt: apiKeys.createdAt,
  lastUsedAt: apiKeys.lastUsedAt,
  revokedAt: apiKeys.revokedAt,
};

type OwnerRow = ApiKeyRecord & { orgName: string; plan: Organization["plan"]; maxEntries: number | null; orgCreatedAt: number };

export function createApiKeyStore(db: BunSQLiteDatabase, sqlite: Database, cache: AuthCache): ApiKeyStore {
  // Every authenticated request runs this: a prepared statement, not a built query.
  const owner = sqlite.query<OwnerRow, [string]>(
    `SELECT k.id, k.organization_id AS organizationId, k.name, k.key_prefix AS keyPrefix, k.created_at AS createdAt,
            k.last_used_at AS lastUsedAt, k.revoked_at AS revokedAt,
            o.name AS orgName, o.plan, o.max_entries AS maxEntries, o.created_at AS orgCreatedAt
     FROM api_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.key_hash = ?`,
  );
  const touch = sqlite.query<null, [number, string, number]>(
    "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
  );

  const insertKey = (key: Omit<ApiKeyRecord, "lastUsedAt" | "revokedAt"> & { keyHash: string }) =>
    db.insert(apiKeys).values(key).returning(KEY_COLUMNS).all()[0]!;

  const createWithKey = sqlite.transaction(
    (org: Parameters<ApiKeyStore["createOrganizationWithKey"]>[0], key: Parameters<ApiKeyStore["createOrganizationWithKey"]>[1], now: number) => {
      if (owner.get(key.keyHash)) return null;
      const organization: Organization = { id: newOrganizationId(), ...org, createdAt: toSeconds(now) };
      db.insert(organizations).values(organization).run();
      const record = insertKey({ id: newApiKeyId(), organizationId: organization.id, ...key, createdAt: toSeconds(now) });
      return { key: record, organization };
    },
  );

  return {
    async createApiKey(key, now) {
      return insertKey({ id: newApiKeyId(), ...key, createdAt: toSeconds(now) });
    },

    async listApiKeys(orgId) {
      return db.select(KEY_COLUMNS).from(apiKeys).where(eq(apiKeys.organizationId, orgId)).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id)).all();
    },

    async findApiKey(keyId) {
      return db.select(KEY_COLUMNS).from(apiKeys).where(eq(apiKeys.id, keyId)).all()[0] ?? null;
    },

    async revokeApiKey(keyId, now) {
      cache.clear();
      db.update(apiKeys).set({ revokedAt: toSeconds(now) }).where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt))).run();
      return db.select(KEY_COLUMNS).from(apiKeys).where(eq(apiKeys.id, keyId)).all()[0] ?? null;
    },

    async findKeyOwner(keyHash): Promise<KeyOwner | null> {
      const cached = cache.get(keyHash);
      if (cached) return cached;
      const row = owner.get(keyHash);
      if (!row) return null;
      const { orgName, plan, maxEntries, orgCreatedAt, ...key } = row;
      const found = { key, organization: { id: key.organizationId, name: orgName, plan, maxEntries, createdAt: orgCreatedAt } };
      cache.set(keyHash, found);
      return found;
    },

    async createOrganizationWithKey(org, key, now) {
      return createWithKey.immediate(org, key, now);
    },

    async recordKeyUse(uses) {
      sqlite.transaction(() => {
        for (const [keyId, at] of uses) touch.run(toSeconds(at), keyId, toSeconds(at));
      })();
    },
  };
}
