// Sync engine: capture (poll and webhook) into canonical state, identities and links, field ownership,
// echo suppression, the effect ledger with check-before-retry, desired state with coalesced writes.
export { syncMigrations } from './migrations.ts';
export { CaptureEngine, MapperRegistry } from './capture-engine.ts';
export type {
  CapturedChange,
  CaptureEngineOptions,
  ChangeSink,
  IngestOptions,
  IngestResult,
  PollOptions,
  PollPage,
  PollResult,
} from './capture-engine.ts';
export type { MappedLink, MappedRecord, MappingContext, RecordMapper } from './mapping.ts';
export {
  correlationGraph,
  findCanonicalId,
  findExternalId,
  linkEntities,
  registerIdentity,
  resolveIdentity,
} from './identity.ts';
export type { CorrelationGraph, EntityRef, ExternalRef, LinkEdge } from './identity.ts';
export { normalizeSourceTime } from './source-time.ts';
export { normalizeValue } from './normalize-value.ts';
export { EchoMemory, DEFAULT_MAX_CAUSATION_DEPTH, listDeadLetters, writeDeadLetter } from './echo-memory.ts';
export type { ChangeClass, DeadLetterRow, EchoMemoryOptions } from './echo-memory.ts';
export { FieldOwnership, DEFAULT_OWNERSHIP, listViolations } from './field-ownership.ts';
export type {
  EntityOwnership,
  FieldOwnershipOptions,
  OwnershipCheck,
  OwnershipConfig,
  OwnershipViolation,
  ViolationRow,
} from './field-ownership.ts';
export { EffectLedger, EFFECT_STATUSES, effectIdempotencyKey } from './effect-ledger.ts';
export type {
  EffectLedgerOptions,
  EffectRecord,
  EffectRequest,
  EffectResult,
  EffectStatus,
  PerformOptions,
} from './effect-ledger.ts';
export { CRASH_POINTS, crashPoint } from './crash-points.ts';
export type { CrashPoint } from './crash-points.ts';
export { setDesired, Propagator } from './desired-state.ts';
export type {
  CommandBuilder,
  DesiredRecord,
  DesiredTarget,
  PropagateResult,
  PropagatorOptions,
} from './desired-state.ts';
export { compileJsonataMapping } from './jsonata-mapping.ts';
export type { JsonataLinkConfig, JsonataMappingConfig } from './jsonata-mapping.ts';
export { propagationWorkflow, startPropagation, PROPAGATION_WORKFLOW } from './propagation-workflow.ts';
export type { PropagationOutput } from './propagation-workflow.ts';
export { Poller } from './poller.ts';
export type { PollJob, PollerOptions } from './poller.ts';
export { SyncEvents } from './sync-events.ts';
export type { SyncEventMap, SyncEventName, SyncListener } from './sync-events.ts';
export {
  SyncTimestampInvalidError,
  SyncTimestampInvalidDef,
  SyncMapperMissingError,
  SyncMapperMissingDef,
  SyncMappingFailedError,
  SyncMappingFailedDef,
  SyncMappingInvalidError,
  SyncMappingInvalidDef,
  SyncEffectUnverifiableError,
  SyncEffectUnverifiableDef,
  SyncEffectConflictError,
  SyncEffectConflictDef,
  SyncEffectInFlightError,
  SyncEffectInFlightDef,
  SyncRecordCollisionError,
  SyncRecordCollisionDef,
  SyncCausationDepthExceededError,
  SyncCausationDepthExceededDef,
} from './errors.ts';
