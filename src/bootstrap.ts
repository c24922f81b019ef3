import { apiKeyPrefix, hashApiKey, newApiKeySecret } from "./ids";
import type { Store } from "./store/types";

/**
 * On a database with no organization yet: creates `default` (plan scale) and its first API
 * key, seeded by DATASTORE_BOOTSTRAP_KEY when given (its format is checked with the config). Returns the clear key, or null when the
 * database already had an organization.
 */
export async function bootstrap(store: Store, now: number, seededKey: string | null): Promise<{ key: string; orgId: string } | null> {
  if ((await store.listOrganizations()).length > 0) return null;
  const key = seededKey ?? newApiKeySecret();
  const created = await store.createOrganizationWithKey(
    { name: "default", plan: "scale", maxEntries: null },
    { name: "bootstrap", keyHash: hashApiKey(key), keyPrefix: apiKeyPrefix(key) },
    now,
  );
  return created && { key, orgId: created.organization.id };
}
