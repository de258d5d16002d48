// The contract suite run against the in-memory FAKE connector: proves the suite runs end to end and
// that a connector honouring the contract passes it. Real connectors run it in test/peers/ and the
// sandbox connectors' own test files.
import { randomUUID } from 'node:crypto';
import { effectMarker } from '../../src/connectors/connector.ts';
import { runConnectorContract } from './contract.ts';
import { MemorySystem, memoryConnector } from './support/memory-connector.ts';

runConnectorContract('in-memory fake', () => {
  const system = new MemorySystem();
  return Promise.resolve({
    connector: memoryConnector(system),
    broken: memoryConnector(system, { reachable: false }),
    secrets: [],
    produce: (stream: string) =>
      Promise.resolve(stream === 'item' ? [system.upsert(), system.upsert(), system.upsert('1')] : []),
    command: () => ({ type: 'note.add', idempotencyKey: randomUUID(), args: { text: 'hello' } }),
    effectCarriesKey: (id, command) =>
      Promise.resolve(system.notes.find((n) => n.id === id)?.marker === effectMarker(command.idempotencyKey)),
    ambiguousWrite: (_command, applied) => {
      system.nextWriteAmbiguous = { applied };
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  });
});
