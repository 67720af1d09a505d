export * from './git-token';
export * from './repo-url';
export * from './prompt';
export * from './mcp-config';
export * from './instructions';
export * from './model-config';
export * from './downloads';
export * from './git';
