/** `fleetca agent verify|show|clean`: the verbs that read or tidy the ssldir without talking to the CA. */
import type { Command } from "commander";
import { cleanSsldir, readClientCert, verifyLocal } from "../agent/local.js";
import { Ssldir } from "../agent/ssldir.js";
import { fingerprint } from "../pki/fingerprint.js";
import { describeCertificate } from "../pki/describe.js";
import { rfcName } from "../pki/name.js";
import { agentGuarded, agentSettings, nodeOptions, type AgentCliDeps } from "./agent-common.js";
import { Exit } from "./exit-codes.js";
import type { Io } from "./io.js";

export function registerLocalVerbs(agent: Command, io: Io, setCode: (c: number) => void, deps: AgentCliDeps): void {
  nodeOptions(agent.command("verify").description("check the saved key, certificate, CA certificate and CRL (offline)")).action(
    agentGuarded(io, setCode, async (flags) => {
      const s = agentSettings(flags, io);
      const { trust, cert } = await verifyLocal(new Ssldir(s.ssldir, s.certname), deps.clock());
      // Root first, then down to this node, as `puppet ssl verify` prints them.
      for (const ca of [...trust.chain].reverse()) io.out(`Verified CA certificate '${rfcName(ca.subject)}' fingerprint (SHA256) ${fingerprint(ca.der)}`);
      io.out(`Verified client certificate '${rfcName(cert.subject)}' fingerprint (SHA256) ${fingerprint(cert.der)}, valid until ${cert.notAfter.toISOString()}`);
      return Exit.OK;
    }),
  );
  nodeOptions(agent.command("show").description("print this node's certificate: subject, issuer, serial, validity, alt names, extensions")).action(
    agentGuarded(io, setCode, async (flags) => {
      const s = agentSettings(flags, io);
      const { cert } = await readClientCert(new Ssldir(s.ssldir, s.certname));
      for (const line of describeCertificate(cert)) io.out(line);
      return Exit.OK;
    }),
  );
  nodeOptions(agent.command("clean").description("remove this node's key, certificate and request (keeps the CA certificate and CRL unless --all)"))
    .option("--all", "also remove the saved CA certificate and CRL")
    .action(
      agentGuarded(io, setCode, async (flags) => {
        const s = agentSettings(flags, io);
        const ssldir = new Ssldir(s.ssldir, s.certname);
        const removed = await cleanSsldir(ssldir, Boolean((flags as { all?: boolean }).all));
        for (const r of removed) io.out(`Removed ${r.label} ${r.path}`);
        if (removed.length === 0) io.out(`Nothing to remove for ${s.certname} in ${s.ssldir}`);
        return Exit.OK;
      }),
    );
}
