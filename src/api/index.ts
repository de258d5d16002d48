export { buildApp } from './build-app.ts';
export type { AppDeps, ReadinessCheck, RoutePlugin } from './build-app.ts';
export { ApiKeyAuthenticator, hasScope, mayActFor, presentedKey } from './auth.ts';
export type { Principal, ApiKeySpec } from './auth.ts';
export { correlationIdFrom } from './correlation.ts';
