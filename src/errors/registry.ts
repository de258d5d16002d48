// The one registry of error codes. Every part of Crossdock defines its failures here with
// `defineError`, so docs/errors.md (rendered by `npm run docs`) lists them all and no two parts
// can claim one code.
import { CrossdockError, type CrossdockErrorOptions, type ErrorDefinition } from './crossdock-error.ts';

const definitions = new Map<string, ErrorDefinition>();

/** Registers a code; throws at import time if the code is taken, so clashes never ship. */
export function defineError(definition: ErrorDefinition): ErrorDefinition {
  if (!/^[A-Z][A-Z0-9_]*$/.test(definition.code)) {
    throw new Error(`error code ${definition.code} must be SCREAMING_SNAKE_CASE`);
  }
  if (definitions.has(definition.code)) {
    throw new Error(`error code ${definition.code} is defined twice`);
  }
  definitions.set(definition.code, definition);
  return definition;
}

export function listErrorDefinitions(): ErrorDefinition[] {
  return [...definitions.values()].sort((a, b) => a.code.localeCompare(b.code));
}

export function errorDefinition(code: string): ErrorDefinition | undefined {
  return definitions.get(code);
}

// ---------------------------------------------------------------------------------------------
// Generic errors used across parts.

export const InternalErrorDef = defineError({
  code: 'INTERNAL',
  status: 500,
  retryable: true,
  title: 'Internal error',
  description:
    'An unexpected failure inside Crossdock. The response carries a correlation id; the log line with that id has the cause.',
});
export class InternalError extends CrossdockError {
  constructor(options: CrossdockErrorOptions = {}) {
    super(InternalErrorDef, 'internal error', {}, options);
  }
}

export const ValidationFailedDef = defineError({
  code: 'VALIDATION_FAILED',
  status: 400,
  retryable: false,
  title: 'Request failed validation',
  description:
    'A request body, query or parameter does not match its schema. `errors` lists each field (as a JSON pointer) and what was expected.',
});
export class ValidationFailedError extends CrossdockError {
  constructor(
    message: string,
    readonly errors: readonly { pointer: string; message: string }[],
  ) {
    super(ValidationFailedDef, message, { errors });
  }
}

export const NotFoundDef = defineError({
  code: 'NOT_FOUND',
  status: 404,
  retryable: false,
  title: 'Not found',
  description: 'No route or resource answers at this address for this tenant.',
});
export class NotFoundError extends CrossdockError {
  constructor(what: string) {
    super(NotFoundDef, `${what} not found`, { what });
  }
}

export const UnauthenticatedDef = defineError({
  code: 'UNAUTHENTICATED',
  status: 401,
  retryable: false,
  title: 'Authentication required',
  description:
    'The request carries no credential or an unknown one. Send `Authorization: Bearer <api key>` with a key from the `auth.apiKeys` configuration.',
});
export class UnauthenticatedError extends CrossdockError {
  constructor(reason: string) {
    super(UnauthenticatedDef, reason);
  }
}

export const ForbiddenDef = defineError({
  code: 'FORBIDDEN',
  status: 403,
  retryable: false,
  title: 'Not allowed',
  description: 'The credential is valid but lacks the scope or tenant this request needs.',
});
export class ForbiddenError extends CrossdockError {
  constructor(reason: string, context: Record<string, unknown> = {}) {
    super(ForbiddenDef, reason, context);
  }
}

export const PayloadTooLargeDef = defineError({
  code: 'PAYLOAD_TOO_LARGE',
  status: 413,
  retryable: false,
  title: 'Request body too large',
  description: 'The body exceeds `server.bodyLimitBytes`. Split the request or raise the limit.',
});

export const ServiceUnavailableDef = defineError({
  code: 'SERVICE_UNAVAILABLE',
  status: 503,
  retryable: true,
  title: 'Service unavailable',
  description:
    'Crossdock is starting, shutting down, or a dependency it needs (store, NATS) is unreachable. Retry after the `Retry-After` delay.',
});
export class ServiceUnavailableError extends CrossdockError {
  constructor(reason: string, options: CrossdockErrorOptions = {}) {
    super(ServiceUnavailableDef, reason, {}, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration.

export const ConfigInvalidDef = defineError({
  code: 'CONFIG_INVALID',
  status: 500,
  retryable: false,
  title: 'Configuration is invalid',
  description:
    'A configuration value (from the YAML file or an environment override) does not match the schema in docs/config.md. The message names the key, the value (unless it is a secret) and the expected form. `crossdock` exits with code 2.',
});
export interface ConfigIssue {
  /** Dotted key, e.g. `server.port`. */
  readonly key: string;
  /** The rejected value, or `<secret>` when it is or came from a secret. */
  readonly value: string;
  /** What the schema expects there. */
  readonly expected: string;
}
export class ConfigInvalidError extends CrossdockError {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(
      ConfigInvalidDef,
      issues.map((i) => `${i.key}: got ${i.value}, expected ${i.expected}`).join('\n'),
      { issues },
    );
  }
}
