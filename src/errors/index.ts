export { CrossdockError, isCrossdockError } from './crossdock-error.ts';
export type { CrossdockErrorOptions, ErrorDefinition } from './crossdock-error.ts';
export {
  defineError,
  listErrorDefinitions,
  errorDefinition,
  InternalError,
  InternalErrorDef,
  ValidationFailedError,
  ValidationFailedDef,
  NotFoundError,
  NotFoundDef,
  UnauthenticatedError,
  UnauthenticatedDef,
  ForbiddenError,
  ForbiddenDef,
  PayloadTooLargeDef,
  ServiceUnavailableError,
  ServiceUnavailableDef,
  ConfigInvalidError,
  ConfigInvalidDef,
} from './registry.ts';
export type { ConfigIssue } from './registry.ts';
export { toProblem, asCrossdockError, problemType, PROBLEM_CONTENT_TYPE } from './problem.ts';
export type { ProblemDetails } from './problem.ts';
