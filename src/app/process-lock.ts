// The embedded mode is one process per SQLite database: `crossdock start` takes `<database>.lock`
// (holding its process id) and refuses to start while a live process holds it. A lock left by a
// process that died (SIGKILL, power loss) is taken over. The effect ledger relies on it to take over
// a predecessor's unfinished writes at once (see `EffectLedgerOptions.exclusive`).
import fs from 'node:fs';
import path from 'node:path';
import { StoreLockedError } from '../store/errors.ts';

export interface ProcessLock {
  readonly file: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function acquireProcessLock(databaseFile: string): ProcessLock {
  const file = `${databaseFile}.lock`;
  // Taken before the store opens, which would create the folder.
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      return {
        file,
        release() {
          try {
            if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
          } catch {
            // Already gone.
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: number;
    try {
      holder = Number(fs.readFileSync(file, 'utf8').trim());
    } catch {
      continue; // Released meanwhile: try again.
    }
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
      throw new StoreLockedError(file, holder);
    }
    // Left by a process that is gone (or unreadable): take it over.
    fs.rmSync(file, { force: true });
  }
  throw new StoreLockedError(file, NaN);
}
