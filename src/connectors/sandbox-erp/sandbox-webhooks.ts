// Inbound webhooks of the sandbox systems, which sign the Standard Webhooks way and send
// `{ type, timestamp, data: { object, id, version, updated_at, record } }`: verification with the
// subscription's whsec_ secret, and parsing into source records of the connector's streams.
import { Webhook } from 'standardwebhooks';
import type { InboundWebhook, SourceRecord, WebhookHandler, WebhookParseResult } from '../connector.ts';
import { WebhookPayloadInvalidError, WebhookSignatureInvalidError } from '../errors.ts';
import { isoMillis } from './updated-since-cursor.ts';

export type SandboxRecord = Record<string, unknown> & { id: string | number; updated_at: string };

/**
 * `streamOf` maps the payload's `data.object` to a stream name, or undefined for objects the
 * connector does not capture (acknowledged and ignored).
 */
export function sandboxWebhookHandler<P extends SandboxRecord>(
  system: string,
  secret: string | undefined,
  streamOf: (object: string) => string | undefined,
): WebhookHandler<P> {
  const verifier = secret === undefined || secret === '' ? undefined : new Webhook(secret);
  return {
    verify(request: InboundWebhook): void {
      if (verifier === undefined)
        throw new WebhookSignatureInvalidError(system, 'no webhookSecret configured');
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (value !== undefined) headers[name] = typeof value === 'string' ? value : value.join(', ');
      }
      try {
        verifier.verify(request.rawBody, headers);
      } catch (error) {
        throw new WebhookSignatureInvalidError(
          system,
          error instanceof Error ? error.message : String(error),
        );
      }
    },
    parse(request: InboundWebhook): WebhookParseResult<P> {
      let body: { type?: unknown; data?: { object?: unknown; record?: unknown } };
      try {
        body = JSON.parse(request.rawBody.toString('utf8')) as typeof body;
      } catch {
        throw new WebhookPayloadInvalidError(system, 'not JSON');
      }
      const object = body.data?.object;
      if (typeof body.type !== 'string' || typeof object !== 'string') {
        throw new WebhookPayloadInvalidError(system, 'missing type or data.object');
      }
      const stream = streamOf(object);
      if (stream === undefined) return { records: [], pollStreams: [] };
      const record = body.data?.record as P | undefined;
      const idOk = typeof record?.id === 'string' || typeof record?.id === 'number';
      if (record === undefined || !idOk || typeof record.updated_at !== 'string') {
        throw new WebhookPayloadInvalidError(system, 'data.record lacks id or updated_at');
      }
      return { records: [toSourceRecord(stream, record)], pollStreams: [] };
    },
  };
}

/**
 * The sandbox systems stamp `updated_at` to the second, so two changes of one record within a second
 * would share a version key and the second would be taken for a conflicting repeat. Their rows carry a
 * `version` that grows by one per write: it becomes the microseconds of `updatedAt`, which keeps the
 * key unique per change and its order within the second (versions wrap after a million, far beyond
 * what one record sees).
 */
export function sourceUpdatedAt(row: { updated_at: string; version?: unknown }): string {
  const millis = isoMillis(row.updated_at);
  if (typeof row.version !== 'number' || !Number.isInteger(row.version)) return millis;
  const micros = String(row.version % 1_000_000).padStart(6, '0');
  return `${millis.slice(0, 19)}.${micros}Z`;
}

export function toSourceRecord<P extends SandboxRecord>(stream: string, row: P): SourceRecord<P> {
  return { stream, externalId: String(row.id), updatedAt: sourceUpdatedAt(row), payload: row };
}
