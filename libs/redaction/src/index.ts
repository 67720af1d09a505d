export * from './masking';
export * from './secret-masker';
export * from './secret-names';
export * from './service-secrets';
export * from './walk';
export * from './stream-scrub';
