// Exit codes of the `crossdock` command, and the one way the CLI reports a failure.
import { ConfigInvalidError, isCrossdockError } from '../errors/index.ts';

export const EXIT = {
  ok: 0,
  /** A failure while running (a peer unreachable, a run that failed). */
  failure: 1,
  /** Bad input: invalid configuration, unknown option, bad argument. Nothing was changed. */
  usage: 2,
} as const;

/** Prints a failure for a person and returns the exit code it deserves. */
export function reportFailure(error: unknown): number {
  if (error instanceof ConfigInvalidError) {
    console.error('crossdock: configuration is invalid:');
    for (const issue of error.issues)
      console.error(`  ${issue.key}: got ${issue.value}, expected ${issue.expected}`);
    console.error('See docs/config.md for every key, its default and its environment variable.');
    return EXIT.usage;
  }
  const sys = error as NodeJS.ErrnoException & { address?: string; port?: number };
  if (sys?.code === 'EADDRINUSE') {
    console.error(
      `crossdock: ${sys.address ?? 'address'}:${sys.port ?? '?'} is already in use. Stop what listens there, ` +
        'or pick another port with --port N or CROSSDOCK_PORT (the demo sandbox also needs 7401-7404).',
    );
    return EXIT.failure;
  }
  if (isCrossdockError(error)) {
    console.error(`crossdock: ${error.message} (${error.code})`);
    return error.status >= 400 && error.status < 500 ? EXIT.usage : EXIT.failure;
  }
  console.error(`crossdock: ${(error as Error)?.stack ?? String(error)}`);
  return EXIT.failure;
}
