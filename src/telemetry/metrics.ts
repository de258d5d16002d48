// Prometheus metrics. One registry per service instance (not the global default), so tests and
// several in-process instances never share counters.
import { Registry, collectDefaultMetrics } from 'prom-client';

export type MetricsRegistry = Registry;

export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): MetricsRegistry {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'crossdock_' });
  return registry;
}
