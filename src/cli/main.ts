// The `crossdock` command line. Subcommands that change state act through the running server's
// authenticated admin API when one is up (so its in-memory schedulers see the change), and on the
// store directly otherwise.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/index.ts';
import { VERSION } from '../app/version.ts';
import { startService } from '../app/service.ts';
import { migrateStore, openConfiguredStore } from '../app/store-setup.ts';
import { createLogger, type LogLevel } from '../telemetry/index.ts';
import { registerEventsCommands } from '../events/index.ts';
import { registerRunsCommands } from '../workflow/index.ts';
import { journeysConfigIssues, registerDemoCommand } from '../journeys/index.ts';
import { addTargetOptions, eventsApiLender, runsAdminLender } from './admin-context.ts';
import { registerSyncCommands } from './sync-command.ts';
import { EXIT, reportFailure } from './exit.ts';

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError(
      `--port: got ${JSON.stringify(value)}, expected an integer from 0 to 65535`,
    );
  }
  return n;
}

export function buildProgram(): Command {
  const program = new Command('crossdock')
    .description('Keeps a distributor’s ERP, helpdesk and logistics systems in sync.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('start')
    .description('run the Crossdock service (embedded SQLite unless the config says postgres)')
    .option('-c, --config <file>', 'YAML configuration file (see docs/config.md)')
    .option('--demo', 'also start the sandbox ERP, helpdesk, carrier and storefront with generated traffic')
    .option('-p, --port <n>', 'HTTP port (default 7400; env CROSSDOCK_PORT)', parsePort)
    .action(async (opts: { config?: string; demo?: boolean; port?: number }) => {
      const loaded = loadConfig({
        ...(opts.config !== undefined ? { file: opts.config } : {}),
        overrides: { 'server.port': opts.port },
      });
      const logger = createLogger({ level: loaded.config.log.level as LogLevel, secrets: loaded.secrets });
      const service = await startService({ loaded, logger, demo: opts.demo === true });
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals += 1;
        if (signals > 1) {
          logger.warn({ signal }, 'second signal: exiting now');
          process.exit(EXIT.failure);
        }
        logger.info({ signal }, 'signal received');
        service.stop().then(
          () => process.exit(EXIT.ok),
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            process.exit(EXIT.failure);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });

  program
    .command('migrate')
    .description('apply pending database migrations (start does this too) and report them')
    .option('-c, --config <file>', 'YAML configuration file (see docs/config.md)')
    .action(async (opts: { config?: string }) => {
      const loaded = loadConfig(opts.config !== undefined ? { file: opts.config } : {});
      const logger = createLogger({ level: 'warn', secrets: loaded.secrets });
      const store = await openConfiguredStore(loaded.config, { logger });
      try {
        const result = await migrateStore(store);
        for (const id of result.applied) console.log(`applied ${id}`);
        console.log(
          `${store.dialect}: ${result.applied.length} applied, ${result.alreadyApplied.length} already applied`,
        );
      } finally {
        await store.close();
      }
    });

  const config = program.command('config').description('inspect and validate configuration');
  config
    .command('validate')
    .description('check a configuration file and the environment overrides against the schema')
    .argument('<file>', 'YAML configuration file')
    .action((file: string) => {
      const { config: c } = loadConfig({ file });
      const issues = journeysConfigIssues(c);
      if (issues.length > 0) {
        console.error(`crossdock: ${file}: the journeys or their systems are configured wrongly:`);
        for (const issue of issues) console.error(`  ${issue}`);
        process.exitCode = EXIT.usage;
        return;
      }
      console.log(
        `${file}: valid (store ${c.store.dialect}, port ${c.server.port}, tenants ${c.tenants.map((t) => t.id).join(', ')}, ${c.auth.apiKeys.length} API keys)`,
      );
    });

  registerDemoCommand(program);
  registerSyncCommands(program);

  // Admin command groups act through a running server's API, or on the store when none runs. The
  // lenders read the group's --config/--server options when a subcommand runs.
  const runs: Command = addTargetOptions(
    registerRunsCommands(program, { withAdmin: runsAdminLender(() => runs) }),
  );
  const events: Command = addTargetOptions(
    registerEventsCommands(program, { withApi: eventsApiLender(() => events) }),
  );

  return program;
}

export async function main(argv: readonly string[]): Promise<number | undefined> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return undefined;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; usage mistakes exit 2 like config errors.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportFailure(error);
  }
}

const code = await main(process.argv.slice(2));
if (code !== undefined) process.exit(code);
