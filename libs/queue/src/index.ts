export * from './task-queue.types';
export * from './task-queue.service';
export * from './queue.module';
export * from './payload-vault';
export * from './task-lane';
export * from './cancel-registry';
export * from './job-options';
export * from './job-data-check';
