import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// Every timestamp is whole seconds since the epoch (SPEC: the API shows whole seconds).

export const organizations = sqliteTable("organizations", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  plan: text("plan", { enum: ["free", "starter", "team", "scale"] }).notNull(),
  maxEntries: integer("max_entries"),
  createdAt: integer("created_at").notNull(),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    // SHA-256 of the clear key, hex. The clear key is never stored.
    keyHash: text("key_hash").notNull().unique(),
    // The first characters of the clear key, safe to log and show.
    keyPrefix: text("key_prefix").notNull(),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at"),
    revokedAt: integer("revoked_at"),
  },
  (table) => [index("api_keys_organization_idx").on(table.organizationId)],
);

export const entries = sqliteTable(
  "entries",
  {
    id: text("id").notNull(),
    organizationId: text("organization_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    namespace: text("namespace").notNull(),
    key: text("key").notNull(),
    // The value as JSON text (JSON.stringify of what the client sent).
    value: text("value").notNull(),
    description: text("description"),
    expiresAt: integer("expires_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (table) => [
    // The one unique index: point reads, upserts and prefix ranges all use it.
    uniqueIndex("entries_org_namespace_key_idx").on(table.organizationId, table.namespace, table.key),
    // Lets the sweep find expired rows without a scan; rows without expiry are left out.
    index("entries_expires_at_idx")
      .on(table.expiresAt)
      .where(sql`${table.expiresAt} IS NOT NULL`),
    // Counting live entries without reading rows: a range of the unique index counts every
    // entry, this one (rows with an expiry only) the expired ones among them.
    index("entries_expiring_idx")
      .on(table.organizationId, table.namespace, table.key, table.expiresAt)
      .where(sql`${table.expiresAt} IS NOT NULL`),
  ],
);

// One row whose `epoch` grows whenever a key is revoked or an organization changes (triggers in
// drizzle/0002). A server caches key lookups and drops its cache when the epoch moves, so a
// revocation by any process (another worker, the CLI) takes effect at once.
export const authEpoch = sqliteTable("auth_epoch", {
  id: integer("id").primaryKey(),
  epoch: integer("epoch").notNull(),
});
