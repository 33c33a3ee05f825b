/** The CA's lifecycle commands: backup, restore, regenerate, extend (one registration for main.ts). */
import type { Command } from "commander";
import type { Io } from "../io.js";
import * as backupRestore from "./backup-restore.js";
import * as extend from "./extend.js";
import * as regenerate from "./regenerate.js";

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  backupRestore.register(ca, io, setCode);
  regenerate.register(ca, io, setCode);
  extend.register(ca, io, setCode);
}
