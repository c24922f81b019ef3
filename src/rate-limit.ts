import { ApiError } from "./errors";

export interface RateLimitOptions {
  perSecond: number;
  burst: number;
}

// A bucket unseen for a minute, and long enough to have refilled, can be forgotten.
const FORGET_AFTER_MS = 60_000;

/**
 * A token bucket per API key: `burst` requests at once, refilled at `perSecond`. In memory,
 * per process: with --workers N, each worker keeps its own buckets.
 */
export function createRateLimiter({ perSecond, burst }: RateLimitOptions) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refilledAfterMs = Math.max(FORGET_AFTER_MS, (burst / perSecond) * 1000);
  let lastSweep = 0;

  function forgetIdle(now: number) {
    if (Math.abs(now - lastSweep) < FORGET_AFTER_MS) return;
    lastSweep = now;
    for (const [key, bucket] of buckets) if (now - bucket.at > refilledAfterMs) buckets.delete(key);
  }

  return {
    /** Takes one request from the key's bucket; the RateLimit-* headers to send, or throws 429. */
    take(keyId: string, now: number): Record<string, string> {
      forgetIdle(now);
      const bucket = buckets.get(keyId) ?? { tokens: burst, at: now };
      // A wall clock stepping back refills nothing (and takes nothing away).
      bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * perSecond);
      bucket.at = now;
      buckets.set(keyId, bucket);
      const allowed = bucket.tokens >= 1;
      if (allowed) bucket.tokens -= 1;
      const headers = {
        "RateLimit-Limit": String(burst),
        "RateLimit-Remaining": String(Math.floor(bucket.tokens)),
        // Seconds until the bucket is full again.
        "RateLimit-Reset": String(Math.ceil((burst - bucket.tokens) / perSecond)),
      };
      if (!allowed) {
        const retryAfter = String(Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond)));
        throw new ApiError("rateLimited", { headers: { ...headers, "Retry-After": retryAfter } });
      }
      return headers;
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
