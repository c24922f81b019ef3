import type { Database } from "bun:sqlite";
import type { KeyOwner } from "../types";

// Bounds memory when many distinct tokens are seen (dev mode creates one per token).
const MAX_CACHED = 10_000;

/**
 * Key lookups by hash, cached so that a request costs neither a join nor a row read. The
 * cache is dropped the moment it may be stale:
 * - a change made through this connection (revoke, plan change) clears it directly;
 * - a change made by another process (a worker, the CLI) moves `auth_epoch` (triggers); this
 *   process notices through PRAGMA data_version, which changes only when another connection
 *   has committed, and then reads the epoch. Entry writes by other workers change
 *   data_version but not the epoch, so they cost one extra read, not a cold cache.
 *
 * data_version is read once per turn of the event loop, not once per request: a request that
 * was sent after a revocation had committed (and been acknowledged) arrives on its socket
 * after that commit, so it is read in a later turn than any check made before the commit. The
 * per-request read was 12% of a cached GET's CPU time.
 */
export function createAuthCache(sqlite: Database) {
  const dataVersion = sqlite.query<{ data_version: number }, []>("PRAGMA data_version");
  const currentEpoch = sqlite.query<{ epoch: number }, []>("SELECT epoch FROM auth_epoch WHERE id = 1");
  const owners = new Map<string, KeyOwner>();
  let seenVersion = -1;
  let seenEpoch = -1;
  let checkedThisTurn = false;
  const nextTurn = () => (checkedThisTurn = false);

  function dropIfStale() {
    if (checkedThisTurn) return;
    checkedThisTurn = true;
    setImmediate(nextTurn);
    const version = dataVersion.get()!.data_version;
    if (version === seenVersion) return;
    seenVersion = version;
    const epoch = currentEpoch.get()?.epoch ?? 0;
    if (epoch !== seenEpoch) owners.clear();
    seenEpoch = epoch;
  }

  return {
    get(keyHash: string): KeyOwner | undefined {
      dropIfStale();
      return owners.get(keyHash);
    },
    set(keyHash: string, owner: KeyOwner) {
      if (owners.size >= MAX_CACHED) owners.clear();
      owners.set(keyHash, owner);
    },
    clear() {
      owners.clear();
    },
  };
}

export type AuthCache = ReturnType<typeof createAuthCache>;
