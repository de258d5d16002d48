// Request Tracker 5 connector: REST 2.0 client, ticket and transaction capture, commands, mapping.
export {
  RequestTrackerConnector,
  requestTrackerConnectorFactory,
  RtConfigSchema,
  CaseCommentArgs,
  CaseCreateArgs,
  CaseUpdateArgs,
  RT_COMMANDS,
} from './rt-connector.ts';
export type { RtConfig, CaseComment, CaseCreate, CaseUpdate } from './rt-connector.ts';
export { TicketUpdateCoalescer } from './ticket-update-coalescer.ts';
export type { TicketChange, SendUpdate } from './ticket-update-coalescer.ts';
export { wallClock, zoneOffsetMs, safeLowerBound, rtInstant } from './rt-time.ts';
export {
  mapRtRecord,
  mapTicket,
  mapTransaction,
  requestorEmail,
  casePriority,
  RT_CASE_STATES,
  RT_MILESTONES,
} from './rt-mapping.ts';
export { RT_RATE_DEFAULTS } from './rt-connector.ts';
