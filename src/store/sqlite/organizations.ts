import { asc, eq, or } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { organizations } from "../../db/schema";
import { newOrganizationId } from "../../ids";
import type { Organization, Store } from "../types";
import type { AuthCache } from "./auth-cache";
import { toSeconds } from "./time";

type OrganizationStore = Pick<
  Store,
  "createOrganization" | "listOrganizations" | "findOrganization" | "updateOrganizationPlan"
>;

export function createOrganizationStore(db: BunSQLiteDatabase, cache: AuthCache): OrganizationStore {
  return {
    async createOrganization(org, now) {
      const row: Organization = { id: newOrganizationId(), ...org, createdAt: toSeconds(now) };
      db.insert(organizations).values(row).run();
      return row;
    },

    async listOrganizations() {
      return db.select().from(organizations).orderBy(asc(organizations.createdAt), asc(organizations.id)).all();
    },

    async findOrganization(idOrName) {
      // An id wins over a name that happens to look like another organization's id.
      const rows = db
        .select()
        .from(organizations)
        .where(or(eq(organizations.id, idOrName), eq(organizations.name, idOrName)))
        .all();
      return rows.find((row) => row.id === idOrName) ?? rows[0] ?? null;
    },

    async updateOrganizationPlan(orgId, plan, maxEntries) {
      cache.clear();
      const rows = db.update(organizations).set({ plan, maxEntries }).where(eq(organizations.id, orgId)).returning().all();
      return rows[0] ?? null;
    },
  };
}
