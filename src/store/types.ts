// The storage interface: plain data in, plain data out, every method a Promise so that a
// PostgreSQL engine can implement it unchanged. Times are milliseconds since the epoch on the
// way in (`now`) and whole seconds on the way out (rows), as stored.

export const PLANS = ["free", "starter", "team", "scale"] as const;
export type Plan = (typeof PLANS)[number];

export interface Organization {
  id: string;
  name: string;
  plan: Plan;
  /** Overrides the plan's entry limit when not null. */
  maxEntries: number | null;
  createdAt: number;
}

export interface ApiKeyRecord {
  id: string;
  organizationId: string;
  name: string;
  keyPrefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** What a bearer key resolves to: its key row and its organization. */
export interface KeyOwner {
  key: ApiKeyRecord;
  organization: Organization;
}

export interface EntryRecord {
  id: string;
  namespace: string;
  key: string;
  /** JSON text of the value, as stored. */
  value: string;
  description: string | null;
  expiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface EntryWrite {
  namespace: string;
  key: string;
  /** JSON text of the value. */
  value: string;
  description: string | null;
  ttlSeconds: number | null;
}

export interface ListQuery {
  namespace: string | null;
  prefix: string | null;
  offset: number;
  limit: number;
}

export interface Page {
  entries: EntryRecord[];
  totalCount: number;
}

export type UpsertResult = { ok: true; entry: EntryRecord } | { ok: false; limit: number };

export interface NewApiKey {
  organizationId: string;
  name: string;
  keyHash: string;
  keyPrefix: string;
}

export interface Store {
  // Entries: `limit` is the organization's entry limit (null = unlimited).
  getEntry(orgId: string, namespace: string, key: string, now: number): Promise<EntryRecord | null>;
  listEntries(orgId: string, query: ListQuery, now: number): Promise<Page>;
  listNamespaces(orgId: string, now: number): Promise<string[]>;
  upsertEntry(orgId: string, write: EntryWrite, limit: number | null, now: number): Promise<UpsertResult>;
  deleteEntry(orgId: string, namespace: string, key: string, now: number): Promise<EntryRecord | null>;
  /** Deletes up to `batchSize` expired rows; returns how many it deleted. */
  purgeExpired(now: number, batchSize: number): Promise<number>;

  // Organizations.
  createOrganization(org: { name: string; plan: Plan; maxEntries: number | null }, now: number): Promise<Organization>;
  listOrganizations(): Promise<Organization[]>;
  /** By id, or else by name. */
  findOrganization(idOrName: string): Promise<Organization | null>;
  updateOrganizationPlan(orgId: string, plan: Plan, maxEntries: number | null): Promise<Organization | null>;

  // API keys.
  createApiKey(key: NewApiKey, now: number): Promise<ApiKeyRecord>;
  listApiKeys(orgId: string): Promise<ApiKeyRecord[]>;
  findApiKey(keyId: string): Promise<ApiKeyRecord | null>;
  /** Marks the key revoked (keeping an earlier revocation time); null when there is no such key. */
  revokeApiKey(keyId: string, now: number): Promise<ApiKeyRecord | null>;
  findKeyOwner(keyHash: string): Promise<KeyOwner | null>;
  /** Creates an organization and its one key in one transaction (first start, dev mode); null if the hash exists. */
  createOrganizationWithKey(
    org: { name: string; plan: Plan; maxEntries: number | null },
    key: Omit<NewApiKey, "organizationId">,
    now: number,
  ): Promise<KeyOwner | null>;
  recordKeyUse(uses: Map<string, number>): Promise<void>;

  ping(): Promise<void>;
  close(): Promise<void>;
}
