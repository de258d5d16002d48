// Run ids: ULID-formatted (26 Crockford base32 characters, time first), so new runs append at the end
// of the run-id indexes instead of scattering over them. Randomness comes from a pooled buffer because
// one `randomBytes` call per character (as the `ulid` package does) shows up in start-heavy profiles.
import { randomBytes } from 'node:crypto';

const ENCODING = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let pool = Buffer.alloc(0);
let offset = 0;

export function newRunId(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ENCODING[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  if (offset + 16 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  let random = '';
  for (let i = 0; i < 16; i++) random += ENCODING[pool[offset++]! & 31]!;
  return time + random;
}
