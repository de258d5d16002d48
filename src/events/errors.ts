// Failures of the event log, registered in the one error registry (rendered into docs/errors.md).
import { CrossdockError, defineError } from '../errors/index.ts';

export const EventInvalidDef = defineError({
  code: 'EVENT_INVALID',
  status: 400,
  retryable: false,
  title: 'Event is invalid',
  description:
    'An event handed to the log names a type outside the event type map, an entity kind that does not match its type, or data that is not a JSON object. The message names the field.',
});
export class EventInvalidError extends CrossdockError {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(EventInvalidDef, message, { field });
  }
}

export const EventConsumerNotFoundDef = defineError({
  code: 'EVENT_CONSUMER_NOT_FOUND',
  status: 404,
  retryable: false,
  title: 'Event consumer not found',
  description:
    'No event consumer has this name. `crossdock events consumers` (or `GET /v1/admin/events/consumers`) lists them.',
});
export class EventConsumerNotFoundError extends CrossdockError {
  constructor(readonly consumer: string) {
    super(EventConsumerNotFoundDef, `event consumer ${consumer} not found`, { consumer });
  }
}

export const DeadLetterNotFoundDef = defineError({
  code: 'DEAD_LETTER_NOT_FOUND',
  status: 404,
  retryable: false,
  title: 'Dead letter not found',
  description: 'No dead letter has this id for your tenants. `crossdock events dlq list` lists them.',
});
export class DeadLetterNotFoundError extends CrossdockError {
  constructor(readonly deadLetterId: string) {
    super(DeadLetterNotFoundDef, `dead letter ${deadLetterId} not found`, { deadLetterId });
  }
}

export const DeadLetterResolvedDef = defineError({
  code: 'DEAD_LETTER_RESOLVED',
  status: 409,
  retryable: false,
  title: 'Dead letter already resolved',
  description:
    'The dead letter was already redriven or skipped; an operator action applies once. Its `status` and `resolvedAt` say what happened.',
});
export class DeadLetterResolvedError extends CrossdockError {
  constructor(
    readonly deadLetterId: string,
    readonly status_: string,
  ) {
    super(DeadLetterResolvedDef, `dead letter ${deadLetterId} is already ${status_}`, {
      deadLetterId,
      deadLetterStatus: status_,
    });
  }
}

export const WebhookDeliveryFailedDef = defineError({
  code: 'WEBHOOK_DELIVERY_FAILED',
  status: 502,
  retryable: true,
  title: 'Webhook delivery failed',
  description:
    'An outbound webhook endpoint did not answer 2xx in time. The delivery is retried with backoff in order; after repeated failures the endpoint is paused and shown as paused in `GET /v1/admin/events/webhooks` and the `crossdock_events_webhook_paused` metric. Resume it once the receiver is fixed.',
});
export class WebhookDeliveryFailedError extends CrossdockError {
  constructor(
    readonly endpointId: string,
    reason: string,
    readonly httpStatus?: number,
  ) {
    super(WebhookDeliveryFailedDef, `webhook ${endpointId}: ${reason}`, { endpointId, httpStatus });
  }
}

export const WebhookEndpointNotFoundDef = defineError({
  code: 'WEBHOOK_ENDPOINT_NOT_FOUND',
  status: 404,
  retryable: false,
  title: 'Webhook endpoint not found',
  description: 'No outbound webhook endpoint has this id for your tenants.',
});
export class WebhookEndpointNotFoundError extends CrossdockError {
  constructor(readonly endpointId: string) {
    super(WebhookEndpointNotFoundDef, `webhook endpoint ${endpointId} not found`, { endpointId });
  }
}

export const InboundHookSignatureInvalidDef = defineError({
  code: 'INBOUND_HOOK_SIGNATURE_INVALID',
  status: 401,
  retryable: false,
  title: 'Inbound webhook signature invalid',
  description:
    'A webhook received at `/hooks/{system}` carries no signature, a wrong one, or a timestamp outside the tolerance. Nothing was recorded. Check the shared secret configured for that system.',
});
export class InboundHookSignatureInvalidError extends CrossdockError {
  constructor(
    readonly system: string,
    reason: string,
  ) {
    super(InboundHookSignatureInvalidDef, `webhook from ${system} rejected: ${reason}`, { system });
  }
}

export const InboundHookUnknownSystemDef = defineError({
  code: 'INBOUND_HOOK_UNKNOWN_SYSTEM',
  status: 404,
  retryable: false,
  title: 'No inbound webhook for this system',
  description: 'No system with this name is configured to send webhooks to `/hooks/{system}`.',
});
export class InboundHookUnknownSystemError extends CrossdockError {
  constructor(readonly system: string) {
    super(InboundHookUnknownSystemDef, `no inbound webhook is configured for system ${system}`, { system });
  }
}

export const InboundHookNotCommittedDef = defineError({
  code: 'INBOUND_HOOK_NOT_COMMITTED',
  status: 503,
  retryable: true,
  title: 'Inbound webhook not committed',
  description:
    'A verified webhook could not be recorded (the store refused or is unavailable). It was not acknowledged, so the sender retries it; nothing was lost.',
});
export class InboundHookNotCommittedError extends CrossdockError {
  constructor(
    readonly system: string,
    cause: unknown,
  ) {
    super(InboundHookNotCommittedDef, `webhook from ${system} could not be committed`, { system }, { cause });
  }
}

export const EventsNatsUnavailableDef = defineError({
  code: 'EVENTS_NATS_UNAVAILABLE',
  status: 503,
  retryable: true,
  title: 'NATS is unreachable',
  description:
    'Cluster mode (`events.nats.url` set) could not reach NATS or JetStream when the service started. Check that the server runs with JetStream (`-js`), the URL and the credentials (`events.nats.token` or `user`/`password`). Once started, a process waits for NATS to come back instead (`/ready` reports it).',
});
export class EventsNatsUnavailableError extends CrossdockError {
  constructor(
    readonly servers: string,
    reason: string,
    cause?: unknown,
  ) {
    super(EventsNatsUnavailableDef, `NATS at ${servers} is unreachable: ${reason}`, { servers }, { cause });
  }
}
