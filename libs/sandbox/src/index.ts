export * from './launch-spec';
export * from './bwrap-launcher';
export * from './sandbox-probe';
export * from './sandbox.service';
export * from './local-repository';
