// Failures of the sync engine: capture, mapping, identity, effect ledger, loop suppression, ownership.
// Each says whether retrying can help; the ones that need a person end in a dead letter or a task.
import { CrossdockError, defineError } from '../errors/index.ts';

export const SyncTimestampInvalidDef = defineError({
  code: 'SYNC_TIMESTAMP_INVALID',
  status: 422,
  retryable: false,
  title: 'A source record has an unreadable update time',
  description:
    'A connector gave a record whose `updatedAt` is not an ISO 8601 time (e.g. `2026-11-27T14:43:20.000Z`). The record is not captured; fix the connector or its mapping of the system field the cursor follows.',
});
export class SyncTimestampInvalidError extends CrossdockError {
  constructor(readonly value: string) {
    super(SyncTimestampInvalidDef, `not an ISO 8601 time: ${JSON.stringify(value)}`, { value });
  }
}

export const SyncMapperMissingDef = defineError({
  code: 'SYNC_MAPPER_MISSING',
  status: 500,
  retryable: false,
  title: 'No mapping for a captured stream',
  description:
    'Records arrived for a (system, stream) that has no mapping to the canonical model registered with the capture engine. Register a built-in mapper or a JSONata mapping for that stream.',
});
export class SyncMapperMissingError extends CrossdockError {
  constructor(
    readonly system: string,
    readonly stream: string,
  ) {
    super(SyncMapperMissingDef, `no mapping for ${system}/${stream}`, { system, stream });
  }
}

export const SyncMappingFailedDef = defineError({
  code: 'SYNC_MAPPING_FAILED',
  status: 422,
  retryable: false,
  title: 'A mapping could not turn a source record into a canonical change',
  description:
    'A built-in mapper or a JSONata expression failed on a payload, or produced something that is not a canonical change (an object of fields). The raw payload is kept; fix the mapping and re-run it over stored payloads (`remap`).',
});
export class SyncMappingFailedError extends CrossdockError {
  constructor(
    readonly system: string,
    readonly stream: string,
    readonly externalId: string,
    readonly reason: string,
    cause?: unknown,
  ) {
    super(
      SyncMappingFailedDef,
      `mapping ${system}/${stream} failed on ${externalId}: ${reason}`,
      { system, stream, externalId, reason },
      { cause },
    );
  }
}

export const SyncMappingInvalidDef = defineError({
  code: 'SYNC_MAPPING_INVALID',
  status: 400,
  retryable: false,
  title: 'A JSONata mapping does not compile',
  description:
    'A configured custom-field mapping has an expression JSONata cannot parse. `field` names the mapping entry and `reason` the parser message.',
});
export class SyncMappingInvalidError extends CrossdockError {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(SyncMappingInvalidDef, `mapping of ${field} does not compile: ${reason}`, { field, reason });
  }
}

export const SyncEffectUnverifiableDef = defineError({
  code: 'SYNC_EFFECT_UNVERIFIABLE',
  status: 409,
  retryable: false,
  title: 'An earlier write may have happened and cannot be checked',
  description:
    'A write to another system was sent before and its outcome is unknown (timeout, or a crash before the outcome was recorded), and the connector offers neither a native idempotency key nor `findEffect` for that command. Sending it again could double it, so Crossdock stops: check the target system by hand, then resolve the effect in the ledger.',
});
export class SyncEffectUnverifiableError extends CrossdockError {
  constructor(
    readonly system: string,
    readonly businessKey: string,
  ) {
    super(
      SyncEffectUnverifiableDef,
      `${system}: effect ${businessKey} may have been applied and cannot be looked up`,
      { system, businessKey },
    );
  }
}

export const SyncEffectConflictDef = defineError({
  code: 'SYNC_EFFECT_CONFLICT',
  status: 409,
  retryable: false,
  title: 'One business key was used for two different commands',
  description:
    'The effect ledger already holds this business key with another command type. A business key names one effect (e.g. case + milestone kind + version); give a different effect a different key.',
});
export class SyncEffectConflictError extends CrossdockError {
  constructor(
    readonly system: string,
    readonly businessKey: string,
    readonly recordedType: string,
    readonly requestedType: string,
  ) {
    super(
      SyncEffectConflictDef,
      `${system}: business key ${businessKey} is recorded for ${recordedType}, not ${requestedType}`,
      { system, businessKey, recordedType, requestedType },
    );
  }
}

export const SyncCausationDepthExceededDef = defineError({
  code: 'SYNC_CAUSATION_DEPTH_EXCEEDED',
  status: 508,
  retryable: false,
  title: 'A chain of changes caused by Crossdock writes is too long',
  description:
    'A change was caused by a Crossdock write that was caused by another, and so on, beyond `sync.maxCausationDepth` (default 8). This is how a sync loop shows itself (two systems rewriting a field the other keeps changing back). The change is not propagated; it is kept as a dead letter (`sync_dead_letters`) for an operator.',
});
export class SyncCausationDepthExceededError extends CrossdockError {
  constructor(
    readonly entityKey: string,
    readonly depth: number,
    readonly maxDepth: number,
  ) {
    super(
      SyncCausationDepthExceededDef,
      `change of ${entityKey} has causation depth ${depth}, above the limit ${maxDepth}`,
      { entityKey, depth, maxDepth },
    );
  }
}

export const SyncEffectInFlightDef = defineError({
  code: 'SYNC_EFFECT_IN_FLIGHT',
  status: 409,
  retryable: true,
  title: 'The same effect is being sent by another attempt',
  description:
    'Another attempt of this business effect was handed to the target system less than `sync.effectAttemptLeaseMs` (default 60 s) ago and has not recorded its outcome. Sending now could double the effect, so this attempt waits: retry after `retryAfterMs`. If that attempt died (process crash), the retry looks the effect up in the target before sending.',
});
export class SyncEffectInFlightError extends CrossdockError {
  constructor(
    readonly system: string,
    readonly businessKey: string,
    retryAfterMs: number,
  ) {
    super(
      SyncEffectInFlightDef,
      `${system}: effect ${businessKey} is being sent by another attempt`,
      { system, businessKey },
      { retryAfterMs },
    );
  }
}

export const SyncRecordCollisionDef = defineError({
  code: 'SYNC_RECORD_COLLISION',
  status: 409,
  retryable: false,
  title: 'Two different versions of a record carry the same update time',
  description:
    "A system delivered a record with the same id and update time as one captured before, but with different content: two changes within the system's timestamp resolution (Request Tracker stores whole seconds). Capture cannot tell which is newer, so the later one is not applied; it is kept as a sync dead letter with both payloads. The next change of the record, or a connector that makes update times unique (e.g. sub-second digits from a change counter), resolves it.",
});
export class SyncRecordCollisionError extends CrossdockError {
  constructor(
    readonly system: string,
    readonly stream: string,
    readonly externalId: string,
    readonly updatedAt: string,
  ) {
    super(
      SyncRecordCollisionDef,
      `${system}/${stream} ${externalId}: different content at the same update time ${updatedAt}`,
      { system, stream, externalId, updatedAt },
    );
  }
}
