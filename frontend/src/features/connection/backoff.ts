/** Full-jitter exponential backoff: a uniform delay in [0, min(cap, base * 2^(attempt - 1))). */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/** The first retry comes within 250 ms; none waits more than 5 s. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, capMs: 5_000 };

export function backoffDelay(attempt: number, random: () => number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}
