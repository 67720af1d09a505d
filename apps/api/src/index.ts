export * from './api.module';
export * from './http-app';
export { API_DEFAULTS, type ApiModuleOptions } from './api-options';
