// Journeys: business flows between connected systems, configured in YAML (systems, journeys,
// mappings, ownership) and started by the composition root with `startJourneys`.
export {
  JourneysConfigFragment,
  JourneysConfigSchema,
  SystemConfigSchema,
  OrderVisibilityConfigSchema,
  MappingsConfigSchema,
  OwnershipConfigSchema,
  CASE_FIELD_KEYS,
} from './config.ts';
export type {
  JourneysConfig,
  SystemConfig,
  OrderVisibilityConfig,
  MappingsConfig,
  CaseFieldKey,
} from './config.ts';
export { buildOrderVisibility, journeysConfigIssues, startJourneys } from './start-journeys.ts';
export type {
  StartJourneysOptions,
  RunningJourneys,
  JourneysStats,
  OrderVisibilitySetup,
} from './start-journeys.ts';
export { openSystemConnector, systemBudgetSettings, systemConfigIssues } from './system-connectors.ts';
export {
  journeysMigrations,
  OrderVisibilityJourney,
  ERP_PROFILES,
  HELPDESK_PROFILES,
} from './order-visibility/index.ts';
export type { OrderVisibilityStats } from './order-visibility/index.ts';
export { registerDemoCommand, runDemo, startDemoPipeline } from './demo/index.ts';
export type { DemoOptions, DemoResult, DemoPipeline, DemoPipelineOptions } from './demo/index.ts';
export {
  JourneyWriteFailedError,
  JourneyWriteFailedDef,
  JourneyConfigInvalidError,
  JourneyConfigInvalidDef,
} from './errors.ts';
