// Waiting on conditions with a deadline, for the end-to-end checks.

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** poll calls fn every intervalMs until it returns a truthy value or timeoutMs passes. */
export async function poll(what, timeoutMs, fn, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}
