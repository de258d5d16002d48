#!/usr/bin/env node
// The `crossdock` command. Runs the TypeScript sources through tsx's loader so that a fresh clone
// needs no build step before `npm start`.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
