/**
 * `fleetca console adduser NAME --role viewer|operator|admin`, `passwd NAME [--role R]`,
 * `deluser NAME`, `users [--format json]`: the console's users, kept by the CA's store
 * (so every server on a shared PostgreSQL store sees them), run on the CA host.
 */
import type { Command } from "commander";
import { CONSOLE_ROLES, parseRole } from "../../ca/console/accounts.js";
import { ConsoleAccess } from "../../ca/console/access.js";
import { openCa, settingsFrom, type CommonFlags } from "../context.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { caOptions, guarded } from "../shared.js";
import { readPassword } from "./secret.js";

type Flags = CommonFlags & { role?: string; passwordFile?: string; format?: string };

async function open(flags: Flags, io: Io) {
  const { store, by } = await openCa(settingsFrom({ config: flags.config, cadir: flags.cadir, store: flags.store }, io));
  return { access: new ConsoleAccess(store), by };
}

export function register(program: Command, io: Io, setCode: (c: number) => void): void {
  const console = program.command("console").description("manage the web console's users (on the CA host)");
  const roles = CONSOLE_ROLES.join("|");

  caOptions(console.command("adduser").argument("<name>", "the user's login name").description("add a console user; the password is read from --password-file, FLEETCA_CONSOLE_PASSWORD, the terminal or stdin"))
    .requiredOption("--role <role>", `what the user may do: ${roles}`)
    .option("--password-file <file>", "read the password from the first line of this file")
    .action(
      guarded(io, setCode, async (...args) => {
        const [name, flags] = args as [string, Flags];
        const role = parseRole(flags.role ?? "");
        const password = await readPassword(io, flags.passwordFile);
        const { access, by } = await open(flags, io);
        await access.addUser(name, role, password, by);
        io.out(`Added console user ${name} (${role}).`);
        return Exit.OK;
      }),
    );

  caOptions(console.command("passwd").argument("<name>", "the user's login name").description("set a console user's password (and role); their sessions end"))
    .option("--role <role>", `also change the role: ${roles}`)
    .option("--password-file <file>", "read the password from the first line of this file")
    .action(
      guarded(io, setCode, async (...args) => {
        const [name, flags] = args as [string, Flags];
        const role = flags.role === undefined ? undefined : parseRole(flags.role);
        const password = await readPassword(io, flags.passwordFile);
        const { access, by } = await open(flags, io);
        const user = await access.changeUser(name, { password, role }, by);
        io.out(`Changed the password of console user ${name} (${user.role}); their sessions have ended.`);
        return Exit.OK;
      }),
    );

  caOptions(console.command("deluser").argument("<name>", "the user's login name").description("delete a console user and end their sessions")).action(
    guarded(io, setCode, async (...args) => {
      const [name, flags] = args as [string, Flags];
      const { access, by } = await open(flags, io);
      await access.deleteUser(name, by);
      io.out(`Deleted console user ${name}.`);
      return Exit.OK;
    }),
  );

  caOptions(console.command("users").description("list the console users"))
    .option("--format <format>", "text (default) or json", "text")
    .action(
      guarded(io, setCode, async (...args) => {
        const [flags] = args as [Flags];
        if (flags.format !== "text" && flags.format !== "json") {
          io.err(`Error: --format must be text or json, not "${flags.format}"`);
          return Exit.USAGE;
        }
        const { access } = await open(flags, io);
        const users = await access.listUsers();
        if (flags.format === "json") {
          io.out(JSON.stringify(users.map((u) => ({ name: u.name, role: u.role, createdAt: u.createdAt.toISOString(), updatedAt: u.updatedAt.toISOString() }))));
        } else if (users.length === 0) {
          io.err("No console users yet: add one with `fleetca console adduser NAME --role admin`.");
        } else {
          for (const u of users) io.out(`${u.name.padEnd(24)} ${u.role.padEnd(8)} password set ${u.updatedAt.toISOString()}`);
        }
        return Exit.OK;
      }),
    );
}
