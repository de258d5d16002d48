// The store's and the canonical model's own tables (ids 0001-0099). Other parts export theirs from
// their index; the composition root passes every list to `store.migrate`.
import type { Migration } from './migration.ts';

export const storeMigrations: Migration[] = [];
