// Sends the end-to-end tests' data set to a running arbor, for trying the UI by hand:
//   node e2e/seed-cli.mjs [otlp-http host:port, default 127.0.0.1:4318] [--big]
import { bigTrace, dataset, send } from './seed.mjs';

const args = process.argv.slice(2);
const target = args.find((a) => !a.startsWith('--')) ?? '127.0.0.1:4318';
const now = Date.now();
await send(target, dataset(now));
if (args.includes('--big')) await send(target, bigTrace(BigInt(now - 60_000) * 1_000_000n));
console.log(`sent the data set to ${target}${args.includes('--big') ? ' with the 50,000-span trace' : ''}`);
