/** The CA's lifecycle commands: backup, restore, regenerate, extend (one registration for main.ts). */
import type { Command } from "commander";
import type { Io } from "../io.js";
import * as backupRestore from "./backup-restore.js";

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  backupRestore.register(ca, io, setCode);
}
