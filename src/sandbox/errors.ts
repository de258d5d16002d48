// Failures of the sandbox systems that a caller in our own code may handle (bad fault settings,
// a traffic run that a sandbox refused). Errors the simulated systems answer over HTTP are part of
// each system's own API and documented in docs/sandbox.md, not here.
import { CrossdockError, defineError } from '../errors/index.ts';

export const SandboxFaultsInvalidDef = defineError({
  code: 'SANDBOX_FAULTS_INVALID',
  status: 400,
  retryable: false,
  title: 'Sandbox fault settings are invalid',
  description:
    'A fault setting given to a sandbox system (at start or through `/_sandbox/faults`) is out of range: rates are fractions between 0 and 1, durations and delays are non-negative milliseconds. The message names the key.',
});
export class SandboxFaultsInvalidError extends CrossdockError {
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(SandboxFaultsInvalidDef, `${key} ${reason}`, { key });
  }
}

export const SandboxRequestFailedDef = defineError({
  code: 'SANDBOX_REQUEST_FAILED',
  status: 502,
  retryable: false,
  title: 'A sandbox system refused a traffic-generator request',
  description:
    'The traffic generator got an answer it cannot retry (4xx other than 429, or 5xx after all retries) from a sandbox system. The message has the system, method, path, status and body; it usually means the generator and the sandbox disagree on a state transition.',
});
export class SandboxRequestFailedError extends CrossdockError {
  constructor(
    readonly system: string,
    readonly method: string,
    readonly path: string,
    readonly httpStatus: number,
    body: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      SandboxRequestFailedDef,
      `${system} ${method} ${path} answered ${httpStatus}: ${body.slice(0, 300)}`,
      { system, method, path, httpStatus },
      options,
    );
  }
}
