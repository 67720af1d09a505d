import { pidOfWorkerId, spreadOverWorkers } from './worker-spread';

describe('pidOfWorkerId', () => {
  it('reads the pid of a liveness id, whatever the host name', () => {
    expect(pidOfWorkerId('bench-host:4242:0a1b2c3d')).toBe(4242);
    expect(pidOfWorkerId('pod-7f9c:with:colons:17:ffffffff')).toBe(17);
  });

  it('is undefined for what is not a liveness id', () => {
    expect(pidOfWorkerId(undefined)).toBeUndefined();
    expect(pidOfWorkerId('')).toBeUndefined();
    expect(pidOfWorkerId('bench-host:4242')).toBeUndefined();
    expect(pidOfWorkerId('bench-host:pid:0a1b2c3d')).toBeUndefined();
    expect(pidOfWorkerId('bench-host:4242:XYZ')).toBeUndefined();
  });
});

describe('spreadOverWorkers', () => {
  it('counts the jobs of each worker in the order of the pids', () => {
    const jobs = ['h:300:aa', 'h:100:bb', 'h:300:cc', 'h:200:dd', 'h:300:ee', 'h:100:ff'];
    expect(spreadOverWorkers(jobs, [100, 200, 300])).toEqual({ jobsPerWorker: [2, 1, 3], unattributed: 0 });
  });

  it('keeps a worker that ran nothing at 0 and counts jobs of no listed worker apart', () => {
    const jobs = ['h:100:aa', undefined, 'h:999:bb', 'not-a-worker', 'h:100:cc'];
    expect(spreadOverWorkers(jobs, [100, 200])).toEqual({ jobsPerWorker: [2, 0], unattributed: 3 });
  });

  it('has nothing to count without jobs', () => {
    expect(spreadOverWorkers([], [100, 200, 300])).toEqual({ jobsPerWorker: [0, 0, 0], unattributed: 0 });
  });
});
