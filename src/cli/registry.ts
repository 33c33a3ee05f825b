/** Top-level commands beyond `fleetca ca` (server, agent), registered here so main.ts stays one screen. */
import type { Command } from "commander";
import type { Io } from "./io.js";

export function registerExtensions(_program: Command, _io: Io, _setCode: (c: number) => void): void {
  // `fleetca server` and `fleetca agent` register themselves here.
}
