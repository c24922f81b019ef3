import type { Database } from "bun:sqlite";

export interface WriteQueueOptions {
  /** How long a write may wait for the database lock before it fails (→ 503). */
  deadlineMs: number;
  /** Pause between attempts while another process holds the write lock. */
  retryMs: number;
  /** Most writes committed in one transaction. */
  maxBatch: number;
}

interface Pending<T> {
  apply: () => T;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
  since: number;
}

const isBusy = (error: unknown) => /^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown }).code));

/**
 * Group commit. Writes are queued; once per turn of the event loop, everything queued is
 * applied in ONE write transaction (BEGIN IMMEDIATE) and committed, and only then is each
 * write's promise settled: nothing is acknowledged before the transaction holding it has
 * committed. Writes that arrive while a commit runs wait for the next one, so under load one
 * commit (and one fsync with synchronous=FULL) serves many writes. Each write runs its own
 * checks inside the transaction, in arrival order, so per-key atomicity and the entry limit
 * hold exactly as with one transaction per write.
 *
 * While another process holds the write lock, the batch is retried after `retryMs` without
 * blocking the event loop (reads go on), until `deadlineMs`; then its writes fail with
 * SQLITE_BUSY, which the API answers with 503.
 */
export function createWriteQueue(sqlite: Database, options: WriteQueueOptions) {
  let queue: Pending<unknown>[] = [];
  let scheduled = false;

  const commit = sqlite.transaction((batch: Pending<unknown>[]) => batch.map((write) => write.apply()));

  function schedule(delayMs = 0) {
    if (scheduled) return;
    scheduled = true;
    if (delayMs === 0) setImmediate(flush);
    else setTimeout(flush, delayMs);
  }

  /** Commits one batch and settles its writes; false when the lock is held and it is worth waiting. */
  function commitBatch(batch: Pending<unknown>[]): boolean {
    try {
      const results = commit.immediate(batch);
      batch.forEach((write, i) => write.resolve(results[i]));
    } catch (error) {
      if (isBusy(error) && Date.now() - batch[0]!.since < options.deadlineMs) return false;
      if (isBusy(error) || batch.length === 1) {
        for (const write of batch) write.reject(error);
        return true;
      }
      // One write's failure must not fail the others: retry them one transaction each.
      for (const write of batch) {
        try {
          write.resolve(commit.immediate([write])[0]);
        } catch (single) {
          write.reject(single);
        }
      }
    }
    return true;
  }

  function flush() {
    scheduled = false;
    const batch = queue.slice(0, options.maxBatch);
    queue = queue.slice(batch.length);
    if (commitBatch(batch)) {
      if (queue.length > 0) schedule();
    } else {
      // Scheduled only here, so a queue longer than one batch cannot turn the wait into a
      // busy loop of attempts.
      queue = [...batch, ...queue];
      schedule(options.retryMs);
    }
  }

  return {
    enqueue<T>(apply: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ apply, resolve: resolve as (value: unknown) => void, reject, since: Date.now() });
        schedule();
      });
    },
  };
}
