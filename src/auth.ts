import { ApiError } from "./errors";
import { API_KEY_PREFIX, apiKeyPrefix, hashApiKey, isWellFormedKey } from "./ids";
import type { Logger } from "./log";
import type { KeyOwner, Store } from "./store/types";

export type Clock = () => number;

const BEARER = /^bearer +(\S+) *$/i;

// last_used_at may lag by up to a minute (SPEC §1): a use is queued only when the stored
// time is older than this, and the queue is written every USE_FLUSH_MS off the request path.
const USE_RECORD_AFTER_MS = 30_000;
export const USE_FLUSH_MS = 30_000;

export interface Authenticator {
  /** The key's owner, or throws 401. */
  authenticate(request: Request): Promise<KeyOwner>;
  /** Writes the queued last_used_at times. */
  flushKeyUse(): Promise<void>;
}

export function createAuthenticator(options: { store: Store; clock: Clock; dev: boolean; logger: Logger }): Authenticator {
  const { store, clock, dev, logger } = options;
  const pendingUse = new Map<string, number>();
  // SHA-256 of recently seen tokens: hashing is a tenth of a cached request's cost.
  const hashes = new Map<string, string>();
  const hashOf = (token: string) => {
    let hash = hashes.get(token);
    if (hash === undefined) {
      if (hashes.size >= 10_000) hashes.clear();
      hash = hashApiKey(token);
      hashes.set(token, hash);
    }
    return hash;
  };
  // When each key's use was last queued: the owner may come from a cache holding an old
  // last_used_at, so this, not the row, decides whether a use is worth recording.
  const lastQueued = new Map<string, number>();

  async function findOrCreateDevOwner(token: string, keyHash: string): Promise<KeyOwner | null> {
    const org = { name: `dev-${keyHash.slice(0, 16)}`, plan: "scale" as const, maxEntries: null };
    const key = { name: "dev token", keyHash, keyPrefix: apiKeyPrefix(token) };
    const created = await store.createOrganizationWithKey(org, key, clock());
    if (created) logger.info("dev mode: created an organization for a new token", { org: created.organization.id, key: key.keyPrefix });
    // A concurrent first use may have created it a moment earlier.
    return created ?? (await store.findKeyOwner(keyHash));
  }

  return {
    async authenticate(request) {
      const token = BEARER.exec(request.headers.get("authorization") ?? "")?.[1];
      const wellFormed = token !== undefined && (dev ? token.startsWith(API_KEY_PREFIX) : isWellFormedKey(token));
      if (!wellFormed) throw new ApiError("unauthorized");
      const keyHash = hashOf(token);
      const owner = (await store.findKeyOwner(keyHash)) ?? (dev ? await findOrCreateDevOwner(token, keyHash) : null);
      if (!owner || owner.key.revokedAt !== null) throw new ApiError("unauthorized");
      const now = clock();
      const previous = lastQueued.get(owner.key.id) ?? (owner.key.lastUsedAt ?? -Infinity) * 1000;
      if (now - previous >= USE_RECORD_AFTER_MS) {
        if (lastQueued.size >= 10_000) lastQueued.clear();
        lastQueued.set(owner.key.id, now);
        pendingUse.set(owner.key.id, now);
      }
      return owner;
    },

    async flushKeyUse() {
      if (pendingUse.size === 0) return;
      const uses = new Map(pendingUse);
      pendingUse.clear();
      await store.recordKeyUse(uses);
    },
  };
}
