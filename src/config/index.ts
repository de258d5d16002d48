export { ConfigSchema, SCOPES, SECRET, ENV_ALIAS, isSecretSchema } from './schema.ts';
export type { CrossdockConfig, Scope } from './schema.ts';
export { loadConfig, scalarKeys, envNameOf, expectedForm, keyOf, SECRET_PLACEHOLDER } from './load-config.ts';
export type { LoadedConfig, LoadConfigOptions, ScalarKey } from './load-config.ts';
