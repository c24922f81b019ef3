import { UsageError } from "./config";
import { API_KEY_PREFIX, apiKeyPrefix, hashApiKey, isWellFormedKey, newApiKeySecret } from "./ids";
import type { Store } from "./store/types";

/**
 * On a database with no organization yet: creates `default` (plan scale) and its first API
 * key, seeded by DATASTORE_BOOTSTRAP_KEY when given. Returns the clear key, or null when the
 * database already had an organization.
 */
export async function bootstrap(store: Store, now: number, seededKey: string | null): Promise<{ key: string; orgId: string } | null> {
  if (seededKey !== null && !isWellFormedKey(seededKey)) {
    throw new UsageError(`DATASTORE_BOOTSTRAP_KEY must be ${API_KEY_PREFIX} followed by at least 32 of A-Z a-z 0-9 _ -`);
  }
  if ((await store.listOrganizations()).length > 0) return null;
  const key = seededKey ?? newApiKeySecret();
  const created = await store.createOrganizationWithKey(
    { name: "default", plan: "scale", maxEntries: null },
    { name: "bootstrap", keyHash: hashApiKey(key), keyPrefix: apiKeyPrefix(key) },
    now,
  );
  return created && { key, orgId: created.organization.id };
}
