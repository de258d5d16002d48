export { createLogger, silentLogger, scrubbingDestination, REDACTED, LOG_LEVELS } from './logger.ts';
export type { Logger, LoggerOptions, LogLevel } from './logger.ts';
export { createMetricsRegistry } from './metrics.ts';
export type { MetricsRegistry } from './metrics.ts';
