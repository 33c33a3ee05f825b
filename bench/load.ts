/**
 * The load generator on its own, against any Puppet-compatible CA URL:
 *
 *   node --import tsx bench/load.ts --url https://127.0.0.1:8140 -n 2000 -c 16 [--agent-key ec|rsa]
 *        [--prefix agent] [--submit-only] [--poll-ms 100 --max-polls 0]
 *
 * Agent names are <prefix>-NNNNNN.bench.test; a CA refuses a name it already has a
 * certificate for, so use a fresh --prefix (or a fresh CA) per run. Prints one JSON object.
 */
import { parseArgs } from "node:util";
import { agentIdentities, type AgentKeyType } from "./lib/agents.js";
import { runLoad } from "./lib/load.js";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    n: { type: "string", short: "n", default: "100" },
    c: { type: "string", short: "c", default: "16" },
    "agent-key": { type: "string", default: "ec" },
    prefix: { type: "string", default: `load${Date.now().toString(36)}` },
    offset: { type: "string", default: "0" },
    "submit-only": { type: "boolean", default: false },
    "poll-ms": { type: "string", default: "100" },
    "max-polls": { type: "string", default: "0" },
  },
});

if (!values.url) {
  console.error("usage: bench/load.ts --url https://HOST:PORT [-n N] [-c C] [--agent-key ec|rsa] [--prefix P] [--submit-only]");
  process.exit(2);
}
const keyType = values["agent-key"] as AgentKeyType;
if (keyType !== "ec" && keyType !== "rsa") {
  console.error("--agent-key must be ec or rsa");
  process.exit(2);
}
const n = Number(values.n);
const offset = Number(values.offset);
const agents = (await agentIdentities(n + offset, keyType, values.prefix)).slice(offset);
const result = await runLoad({
  url: values.url,
  agents,
  concurrency: Number(values.c),
  submitOnly: values["submit-only"],
  pollMs: Number(values["poll-ms"]),
  maxPolls: Number(values["max-polls"]),
});
console.log(JSON.stringify(result, null, 2));
process.exitCode = result.failed === 0 ? 0 : 1;
