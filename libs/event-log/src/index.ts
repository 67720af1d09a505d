export * from './redis-keys';
export * from './event-log.repository';
export * from './callback-fold';
export * from './relay-backlog';
export * from './responses-fold';
export * from './protocol-fold';
export { commitListSummary } from './workbench-fold';
