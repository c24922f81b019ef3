import type { Organization, Plan } from "./store/types";

/** Entries each plan allows (null = unlimited); `free` has no datastore at all. */
const PLAN_ENTRY_LIMITS: Record<Plan, number | null> = {
  free: 0,
  starter: 100,
  team: 1000,
  scale: null,
};

/** The plan alone decides the gate: `free` is refused whatever its max_entries. */
export const hasDatastore = (org: Organization) => org.plan !== "free";

/** Live entries the organization may hold: its own override, else its plan's. */
export const entryLimit = (org: Organization) => org.maxEntries ?? PLAN_ENTRY_LIMITS[org.plan];
