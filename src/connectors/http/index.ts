// The shared HTTP client connectors talk through, and its parts (rate budget, circuit breaker, trace context).
export { HttpClient, HTTP_METHODS, parseRetryAfter } from './http-client.ts';
export type {
  HttpClientOptions,
  HttpMethod,
  HttpRequest,
  HttpResponse,
  RetryOptions,
} from './http-client.ts';
export { PRIORITIES, TokenBucketRateBudget, abortReason } from './rate-budget.ts';
export type { Priority, RateBudget, Release, TokenBucketOptions } from './rate-budget.ts';
export { CIRCUIT_STATES, CircuitRejection, createCircuitBreaker } from './circuit-breaker.ts';
export type { CircuitBreaker, CircuitBreakerOptions, CircuitState } from './circuit-breaker.ts';
export {
  childTraceContext,
  currentTraceContext,
  formatTraceparent,
  newTraceContext,
  parseTraceparent,
  withTraceContext,
} from './trace-context.ts';
export type { TraceContext } from './trace-context.ts';
