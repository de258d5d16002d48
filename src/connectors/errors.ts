// Failures of connectors and of the shared HTTP client they talk through. Each says whether a retry
// can help and, for writes, whether the effect is known: a timeout after the request was sent is
// AMBIGUOUS (the system may have applied it), so the caller checks before retrying.
import { CrossdockError, defineError, type CrossdockErrorOptions } from '../errors/index.ts';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** Where a failed request stood when it failed, which decides what a retry of a write may do. */
export const DELIVERY = {
  /** The request never reached the system (refused connection, open circuit, no budget): no effect. */
  notSent: 'not-sent',
  /** The system answered: its answer says whether anything happened. */
  answered: 'answered',
  /** Sent, but no complete answer (timeout, reset mid-response): the effect is unknown. */
  unknown: 'unknown',
} as const;
export type Delivery = (typeof DELIVERY)[keyof typeof DELIVERY];

// A type alias, not an interface, so it is assignable to the registry's `Record<string, unknown>`.
type ConnectorErrorContext = {
  /** Target system name, e.g. `tryton`. */
  readonly system: string;
  /** HTTP method and URL path (never the query string, which may hold secrets). */
  readonly operation?: string;
};

/** Base of every connector failure: knows its system and whether the request reached it. */
export abstract class ConnectorError extends CrossdockError {
  readonly system: string;
  abstract readonly delivery: Delivery;
  constructor(
    definition: Parameters<typeof defineError>[0],
    message: string,
    context: ConnectorErrorContext & Record<string, unknown>,
    options: CrossdockErrorOptions = {},
  ) {
    super(definition, message, context, options);
    this.system = context.system;
  }
  /** True when a write that failed this way may have been applied (check before retrying). */
  get ambiguous(): boolean {
    return this.delivery === DELIVERY.unknown;
  }
}

export const ConnectorTimeoutDef = defineError({
  code: 'CONNECTOR_TIMEOUT',
  status: 504,
  retryable: true,
  title: 'The external system did not answer in time',
  description:
    'A request to a connected system (ERP, helpdesk, ...) got no complete answer within its timeout (`http.timeoutMs`). For a read this is retried with backoff. For a write the effect is unknown: the system may have applied it, so the engine first looks the effect up (`findEffect`, or the idempotency key) before sending it again. Raise the timeout if the system is merely slow.',
});
export class ConnectorTimeoutError extends ConnectorError {
  readonly delivery = DELIVERY.unknown;
  constructor(
    context: ConnectorErrorContext & { readonly timeoutMs: number },
    options: CrossdockErrorOptions = {},
  ) {
    super(
      ConnectorTimeoutDef,
      `${context.system}: no answer within ${context.timeoutMs} ms (${context.operation ?? 'request'})`,
      context,
      options,
    );
  }
}

export const ConnectorUnavailableDef = defineError({
  code: 'CONNECTOR_UNAVAILABLE',
  status: 503,
  retryable: true,
  title: 'The external system is unavailable',
  description:
    'A connected system answered 5xx, 429, or the connection failed. Retried with exponential backoff and jitter, honouring the `Retry-After` header the system sent (`retryAfterMs`). If it persists the circuit breaker opens (`CONNECTOR_CIRCUIT_OPEN`). Check the system is up and reachable from Crossdock.',
});
export class ConnectorUnavailableError extends ConnectorError {
  readonly delivery: Delivery;
  constructor(
    context: ConnectorErrorContext & { readonly httpStatus?: number; readonly reason: string },
    delivery: Delivery,
    options: CrossdockErrorOptions = {},
  ) {
    super(ConnectorUnavailableDef, `${context.system}: ${context.reason}`, context, options);
    this.delivery = delivery;
  }
}

export const ConnectorRequestRejectedDef = defineError({
  code: 'CONNECTOR_REQUEST_REJECTED',
  status: 502,
  retryable: false,
  title: 'The external system rejected the request',
  description:
    "A connected system answered 4xx (other than 401/403/408/429) to a request: the request itself is wrong for that system (unknown record, invalid field). Sending it again unchanged will fail again, so it is not retried; the failure becomes a task with the system's answer (`httpStatus`, `detail`) as evidence.",
});
export class ConnectorRequestRejectedError extends ConnectorError {
  readonly delivery = DELIVERY.answered;
  constructor(
    context: ConnectorErrorContext & { readonly httpStatus: number; readonly detail: string },
    options: CrossdockErrorOptions = {},
  ) {
    super(
      ConnectorRequestRejectedDef,
      `${context.system}: HTTP ${context.httpStatus} ${context.detail}`,
      context,
      options,
    );
  }
}

export const ConnectorAuthFailedDef = defineError({
  code: 'CONNECTOR_AUTH_FAILED',
  status: 502,
  retryable: false,
  title: 'Crossdock could not authenticate to the external system',
  description:
    "A connected system refused Crossdock's credentials (HTTP 401/403, or a failed login). Connectors with sessions log in again once before reporting this. Check the connector's secrets (token, password) and that the integration user still exists and has the rights the connector needs.",
});
export class ConnectorAuthFailedError extends ConnectorError {
  readonly delivery = DELIVERY.answered;
  constructor(
    context: ConnectorErrorContext & { readonly httpStatus?: number; readonly detail: string },
    options: CrossdockErrorOptions = {},
  ) {
    super(
      ConnectorAuthFailedDef,
      `${context.system}: authentication failed: ${context.detail}`,
      context,
      options,
    );
  }
}

export const ConnectorCircuitOpenDef = defineError({
  code: 'CONNECTOR_CIRCUIT_OPEN',
  status: 503,
  retryable: true,
  title: 'Calls to the external system are paused',
  description:
    'Too many recent calls to this system failed, so the circuit breaker stopped sending requests for a while (`http.circuit.resetMs`) to let it recover. The request was not sent. It is retried after `retryAfterMs`; the breaker lets one trial request through and closes again when it succeeds.',
});
export class ConnectorCircuitOpenError extends ConnectorError {
  readonly delivery = DELIVERY.notSent;
  constructor(context: ConnectorErrorContext, options: CrossdockErrorOptions = {}) {
    super(
      ConnectorCircuitOpenDef,
      `${context.system}: circuit open, request not sent (${context.operation ?? 'request'})`,
      context,
      options,
    );
  }
}

export const ConnectorSystemErrorDef = defineError({
  code: 'CONNECTOR_SYSTEM_ERROR',
  status: 422,
  retryable: false,
  title: 'The external system refused the operation',
  description:
    'The system understood the request but its business rules refused it (for Tryton a `UserError`/`UserWarning`, e.g. "the sale must be confirmed"; for Request Tracker a 4xx with a message). `systemCode` and `detail` carry the system\'s own words. Retrying unchanged will not help; the failure becomes a task.',
});
export class ConnectorSystemError extends ConnectorError {
  readonly delivery = DELIVERY.answered;
  constructor(
    context: ConnectorErrorContext & { readonly systemCode: string; readonly detail: string },
    options: CrossdockErrorOptions = {},
  ) {
    super(
      ConnectorSystemErrorDef,
      `${context.system}: ${context.systemCode}: ${context.detail}`,
      context,
      options,
    );
  }
}

export const ConnectorProtocolErrorDef = defineError({
  code: 'CONNECTOR_PROTOCOL_ERROR',
  status: 502,
  retryable: false,
  title: 'The external system answered something unexpected',
  description:
    'A connected system answered with a body Crossdock cannot read (not JSON, wrong shape, an unknown encoding). Usually a version mismatch or a proxy in between; `detail` says what was expected.',
});
export class ConnectorProtocolError extends ConnectorError {
  readonly delivery = DELIVERY.answered;
  constructor(
    context: ConnectorErrorContext & { readonly detail: string },
    options: CrossdockErrorOptions = {},
  ) {
    super(
      ConnectorProtocolErrorDef,
      `${context.system}: unexpected answer: ${context.detail}`,
      context,
      options,
    );
  }
}

export const ConnectorUnknownStreamDef = defineError({
  code: 'CONNECTOR_UNKNOWN_STREAM',
  status: 400,
  retryable: false,
  title: 'Unknown stream',
  description:
    "A read named a stream the connector does not list. The streams a connector offers are listed by its `streams()` and in docs/connectors.md; check the capture configuration's stream names.",
});
export class ConnectorUnknownStreamError extends CrossdockError {
  constructor(
    readonly system: string,
    readonly stream: string,
  ) {
    super(ConnectorUnknownStreamDef, `${system}: no stream named ${stream}`, { system, stream });
  }
}

export const ConnectorUnknownCommandDef = defineError({
  code: 'CONNECTOR_UNKNOWN_COMMAND',
  status: 400,
  retryable: false,
  title: 'Unknown command',
  description:
    "A write named a command type the connector does not describe, or its arguments do not match the command's schema. The commands a connector accepts are in its `describe().commands` and in docs/connectors.md.",
});
export class ConnectorUnknownCommandError extends CrossdockError {
  constructor(
    readonly system: string,
    readonly commandType: string,
    detail = 'unknown command',
  ) {
    super(ConnectorUnknownCommandDef, `${system}: ${commandType}: ${detail}`, {
      system,
      commandType,
      detail,
    });
  }
}

export const ConnectorCursorInvalidDef = defineError({
  code: 'CONNECTOR_CURSOR_INVALID',
  status: 400,
  retryable: false,
  title: 'Stored cursor is not valid for this stream',
  description:
    "The cursor the engine stored for a stream cannot be read by the connector (it was written by another connector version or edited by hand). Reset the stream's cursor to re-read from the beginning (records are deduplicated by id and updated time) or set it to a known point.",
});
export class ConnectorCursorInvalidError extends CrossdockError {
  constructor(
    readonly system: string,
    readonly stream: string,
    detail: string,
  ) {
    super(ConnectorCursorInvalidDef, `${system}/${stream}: invalid cursor: ${detail}`, {
      system,
      stream,
      detail,
    });
  }
}

export const WebhookSignatureInvalidDef = defineError({
  code: 'WEBHOOK_SIGNATURE_INVALID',
  status: 401,
  retryable: false,
  title: 'Webhook signature is missing or invalid',
  description:
    "An inbound webhook at /hooks/{system} did not carry a valid signature for the system's configured secret (or its timestamp is outside the tolerance). It was not accepted. Check that the secret configured in the sending system matches the connector's webhook secret.",
});
export class WebhookSignatureInvalidError extends CrossdockError {
  constructor(
    readonly system: string,
    reason: string,
  ) {
    super(WebhookSignatureInvalidDef, `${system}: webhook rejected: ${reason}`, { system, reason });
  }
}

export const WebhookPayloadInvalidDef = defineError({
  code: 'WEBHOOK_PAYLOAD_INVALID',
  status: 400,
  retryable: false,
  title: 'Webhook body cannot be read',
  description:
    'An inbound webhook had a valid signature but its body is not what the connector expects (not JSON, unknown event type, missing id). It was not accepted; `detail` says what is wrong.',
});
export class WebhookPayloadInvalidError extends CrossdockError {
  constructor(
    readonly system: string,
    detail: string,
  ) {
    super(WebhookPayloadInvalidDef, `${system}: webhook body invalid: ${detail}`, { system, detail });
  }
}

export const ConnectorConfigInvalidDef = defineError({
  code: 'CONNECTOR_CONFIG_INVALID',
  status: 500,
  retryable: false,
  title: 'Connector configuration is invalid',
  description:
    "A connector's configuration or secrets do not match its `configSchema` / `secrets` (see docs/connectors.md). The message names each field. The connector is not started.",
});
export class ConnectorConfigInvalidError extends CrossdockError {
  constructor(
    readonly system: string,
    readonly issues: readonly string[],
  ) {
    super(ConnectorConfigInvalidDef, `${system}: invalid configuration: ${issues.join('; ')}`, {
      system,
      issues,
    });
  }
}

/** True when `error` is a connector failure whose write may nevertheless have been applied. */
export function isAmbiguous(error: unknown): boolean {
  return error instanceof ConnectorError && error.ambiguous;
}

/** What a value breaks of a schema, one `path message` line per issue, for config and args errors. */
export function schemaIssues(schema: TSchema, value: unknown, separator = ' '): string[] {
  return [...Value.Errors(schema, value)].map((e) => `${e.path || '/'}${separator}${e.message}`);
}

/** Checks a command's args against its schema; throws the typed error naming each bad field. */
export function assertCommandArgs(system: string, type: string, schema: TSchema, args: unknown): void {
  if (Value.Check(schema, args)) return;
  throw new ConnectorUnknownCommandError(
    system,
    type,
    `invalid args: ${schemaIssues(schema, args).join('; ')}`,
  );
}
