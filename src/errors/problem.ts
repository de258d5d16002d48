// RFC 9457 problem details for every HTTP error the API returns.
import { CrossdockError } from './crossdock-error.ts';
import { InternalError } from './registry.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  retryable: boolean;
  correlationId?: string;
  [extension: string]: unknown;
}

/** `type` URI of a code; the fragment is the code's heading in docs/errors.md. */
export function problemType(code: string): string {
  return `urn:crossdock:error:${code}`;
}

export function toProblem(error: CrossdockError, instance?: string, correlationId?: string): ProblemDetails {
  const problem: ProblemDetails = {
    ...error.context,
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    detail: error.message,
    code: error.code,
    retryable: error.retryable,
  };
  if (instance !== undefined) problem.instance = instance;
  if (correlationId !== undefined) problem.correlationId = correlationId;
  return problem;
}

/** Anything thrown becomes a CrossdockError; unknown failures become INTERNAL, hiding their message. */
export function asCrossdockError(error: unknown): CrossdockError {
  if (error instanceof CrossdockError) return error;
  return new InternalError({ cause: error });
}
