export {
  EVENT_TYPES,
  EVENT_TYPE_NAMES,
  CLOUDEVENTS_TYPE_PREFIX,
  cloudEventsType,
  eventTypeFromCloudEvents,
  isEventType,
} from './event-types.ts';
export type { EventType } from './event-types.ts';
export { toCloudEvent, entitySubject, entityKeyString } from './envelope.ts';
export type { CloudEvent, EntityKey, JsonObject, JsonValue, LoggedEvent, NewEvent } from './envelope.ts';
export { eventsMigrations } from './migrations.ts';
export { appendEvents, EventLog, EVENTS_NOTIFY_CHANNEL } from './event-log.ts';
export type { AppendedEvent, EventLogOptions, ReadFilter } from './event-log.ts';
export { EventDispatcher, ConsumerRunner } from './dispatcher.ts';
export type {
  ConsumerOptions,
  DeliveryContext,
  DispatcherOptions,
  EventHandler,
  RetryOptions,
} from './dispatcher.ts';
export { EventsAdmin } from './events-admin.ts';
export type { ConsumerInfo, DeadLetter, ReplayRequest, ReplayStarted, TenantScope } from './events-admin.ts';
export { EventMetrics } from './event-metrics.ts';
export { WebhookService } from './webhooks.ts';
export { EventService } from './event-service.ts';
export type { EventServiceOptions } from './event-service.ts';
export { eventsAdminRoutes } from './events-admin-routes.ts';
export type { EventsAdminRoutesOptions } from './events-admin-routes.ts';
export { eventStreamRoutes } from './event-stream-routes.ts';
export type { EventStreamRoutesOptions } from './event-stream-routes.ts';
export { inboundHookRoutes } from './inbound-hook-routes.ts';
export type {
  InboundHookRoutesOptions,
  InboundHookSystem,
  InboundHookRequest,
  InboundHeaders,
} from './inbound-hook-routes.ts';
export type { WebhookEndpoint, CreateWebhookEndpoint, WebhookOptions } from './webhooks.ts';
export { enforceRetention } from './retention.ts';
export type { RetentionPolicy, RetentionResult, LaggingConsumer } from './retention.ts';
export type { EventStore, EventTx, EventMigration, Dialect } from './store-port.ts';
export {
  EventInvalidError,
  EventInvalidDef,
  EventConsumerNotFoundError,
  EventConsumerNotFoundDef,
  DeadLetterNotFoundError,
  DeadLetterNotFoundDef,
  DeadLetterResolvedError,
  DeadLetterResolvedDef,
  WebhookDeliveryFailedError,
  WebhookDeliveryFailedDef,
  WebhookEndpointNotFoundError,
  WebhookEndpointNotFoundDef,
  InboundHookSignatureInvalidError,
  InboundHookSignatureInvalidDef,
  InboundHookUnknownSystemError,
  InboundHookUnknownSystemDef,
  InboundHookNotCommittedError,
  InboundHookNotCommittedDef,
  EventsNatsUnavailableError,
  EventsNatsUnavailableDef,
} from './errors.ts';
export { registerEventsCommands, formatDeadLetter } from './cli.ts';
export type { EventsCommandsContext } from './cli.ts';
export { HttpEventsClient, localEventsApi } from './events-admin-api.ts';
export type { EventsAdminApi, HttpEventsClientOptions, TailQuery } from './events-admin-api.ts';
export { NatsRelay, entityPartition, eventSubject, subjectToken } from './nats-relay.ts';
export type { NatsRelayOptions } from './nats-relay.ts';
export { PartitionedNatsConsumer, fromCloudEvent } from './nats-partition-consumer.ts';
export type { PartitionedConsumerOptions } from './nats-partition-consumer.ts';
export { EventCluster } from './event-cluster.ts';
export type { EventClusterOptions } from './event-cluster.ts';
export { EventsConfigFragment, EventsConfigSchema, NatsConfigSchema, clusterOptionsOf } from './config.ts';
export type { EventsConfig, NatsConfig } from './config.ts';
