/** Top-level commands beyond `fleetca ca` (server, agent), registered here so main.ts stays one screen. */
import type { Command } from "commander";
import * as agent from "./agent.js";
import * as consoleUsers from "./console/index.js";
import type { Io } from "./io.js";
import * as server from "./server.js";

export function registerExtensions(program: Command, io: Io, setCode: (c: number) => void): void {
  // `fleetca server` and `fleetca agent` register themselves here.
  agent.register(program, io, setCode);
  server.register(program, io, setCode);
  consoleUsers.register(program, io, setCode);
}
