import { USE_FLUSH_MS, type Authenticator, type Clock } from "./auth";
import type { Logger } from "./log";
import type { Store } from "./store/types";

export const SWEEP_INTERVAL_MS = 30_000;
export const SWEEP_BATCH = 500;

/**
 * Purges expired rows in small batches, yielding to requests between batches so no batch
 * holds the write lock for long. Correctness never depends on it: reads filter expiry.
 */
export async function sweepExpired(store: Store, clock: Clock): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await store.purgeExpired(clock(), SWEEP_BATCH);
    total += deleted;
    if (deleted < SWEEP_BATCH) return total;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** Starts the periodic jobs of a running server; the returned function stops them and flushes. */
export function startBackgroundJobs(deps: { store: Store; authenticator: Authenticator; clock: Clock; logger: Logger; sweep: boolean }) {
  const { store, authenticator, clock, logger } = deps;
  const run = (name: string, job: () => Promise<unknown>) => () =>
    job().catch((error) => logger.warn(`${name} failed; will retry`, { error: String(error) }));

  const sweep =
    deps.sweep &&
    setInterval(
      run("expiry sweep", async () => {
        const purged = await sweepExpired(store, clock);
        if (purged > 0) logger.debug("purged expired entries", { purged });
      }),
      SWEEP_INTERVAL_MS,
    );
  const flush = setInterval(run("last_used_at flush", () => authenticator.flushKeyUse()), USE_FLUSH_MS);

  return async function stop() {
    if (sweep) clearInterval(sweep);
    clearInterval(flush);
    await authenticator.flushKeyUse();
  };
}
