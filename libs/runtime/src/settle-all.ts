/**
 * Like Promise.all, but waits for every step before it throws (none is left running behind a
 * failure: a clone still writing into a folder after its run ended), then throws the first failure
 * in the order given. `undefined` stands for a step not taken.
 */
export async function settleAll<T extends readonly unknown[]>(steps: readonly [...{ [K in keyof T]: Promise<T[K]> | T[K] }]): Promise<T> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
