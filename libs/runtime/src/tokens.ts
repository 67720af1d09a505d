/** Nest injection tokens shared by every app. */
export const CONFIG = Symbol('CONFIG');
/** The shared ioredis command connection (never used for blocking reads). */
export const REDIS = Symbol('REDIS');
export const LOGGER = Symbol('LOGGER');
