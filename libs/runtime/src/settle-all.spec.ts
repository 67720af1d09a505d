import { settleAll } from './settle-all';

describe('settleAll', () => {
  it('gives every value in order', async () => {
    await expect(settleAll([Promise.resolve(1), 'two', undefined, Promise.resolve([3])])).resolves.toEqual([1, 'two', undefined, [3]]);
  });

  it('waits for the slow steps before it throws the first failure in the order given', async () => {
    const finished: string[] = [];
    let release!: () => void;
    const slow = new Promise<void>((resolve) => (release = resolve)).then(() => void finished.push('slow'));
    const settled = settleAll([Promise.reject(new Error('first')), slow, Promise.reject(new Error('second'))]);
    let done = false;
    void settled.catch(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false); // the slow step still runs: no failure yet
    release();
    await expect(settled).rejects.toThrow('first');
    expect(finished).toEqual(['slow']);
  });
});
