/**
 * The driver: runs states until Done or Error, and is the only place that waits. It decides what "not signed
 * yet" means: stop at once (waitforcert 0), give up (maxwaitforcert spent), or sleep waitforcert and ask again.
 */
import { AgentError, isAgentError } from "./errors.js";
import { needCaCerts, needCrl } from "./step-trust.js";
import { needCert, needCsr, needKey, needSignedCert } from "./step-enroll.js";
import { renew, verify } from "./step-verify.js";
import type { State, StepContext } from "./states.js";

export type Outcome = Extract<State, { name: "Done" | "Error" }>;

/** Runs the bootstrap from `start` (NeedCACerts: the whole of it). Unexpected exceptions propagate as bugs. */
export async function runAgent(ctx: StepContext, start: State = { name: "NeedCACerts" }): Promise<Outcome> {
  await ctx.ssldir.ensureLayout();
  let state = start;
  for (;;) {
    switch (state.name) {
      case "Done":
      case "Error":
        return state;
      case "Wait":
        await ctx.deps.sleep(state.seconds * 1000);
        state = state.then;
        continue;
      case "NotSigned":
        state = decideWait(ctx, state);
        continue;
    }
    try {
      state = await step(ctx, state);
    } catch (e) {
      if (!isAgentError(e)) throw e;
      state = { name: "Error", error: e };
    }
  }
}

type Stepping = Exclude<State, { name: "Done" | "Error" | "Wait" | "NotSigned" }>;

function step(ctx: StepContext, s: Stepping): Promise<State> {
  switch (s.name) {
    case "NeedCACerts":
      return needCaCerts(ctx);
    case "NeedCRL":
      return needCrl(ctx, s.bundle);
    case "NeedKey":
      return needKey(ctx, s.trust);
    case "NeedCert":
      return needCert(ctx, s.trust, s.key);
    case "NeedCSR":
      return needCsr(ctx, s.trust, s.key);
    case "NeedSignedCert":
      return needSignedCert(ctx, s);
    case "Verify":
      return verify(ctx, s);
    case "Renew":
      return renew(ctx, s);
  }
}

function decideWait(ctx: StepContext, s: Extract<State, { name: "NotSigned" }>): State {
  const { opts, deps } = ctx;
  const name = opts.certname;
  // A request with alt names is refused by a plain sign (as Puppet's CA does): name the sign that takes it.
  const sign = { on: "ca", action: opts.dnsAltNames.length > 0 ? "sign-with-alt-names" : "sign", certname: name } as const;
  const waited = Math.max(0, Math.round((deps.clock().getTime() - s.retry.since.getTime()) / 1000));
  if (opts.waitforcert === 0) {
    deps.emit({ type: "not-signed", certname: name, waitedSeconds: waited, maxSeconds: opts.maxwaitforcert, reason: s.reason });
    if (s.reason) return { name: "Error", error: new AgentError("unavailable", s.reason) };
    return {
      name: "Error",
      error: new AgentError("not-signed", `Couldn't fetch certificate from CA server; you might still need to sign this agent's certificate (${name}). Exiting now because the waitforcert setting is set to 0.`, {
        remedies: [sign, { on: "agent", action: "bootstrap" }],
      }),
    };
  }
  const left = opts.maxwaitforcert === 0 ? Infinity : opts.maxwaitforcert - waited;
  if (left <= 0) {
    deps.emit({ type: "not-signed", certname: name, waitedSeconds: waited, maxSeconds: opts.maxwaitforcert, reason: s.reason });
    return {
      name: "Error",
      error: new AgentError("timed-out", `Gave up after waiting ${waited}s (maxwaitforcert) for the certificate for ${name} to be signed.`, {
        remedies: [sign, { on: "agent", action: "bootstrap" }],
      }),
    };
  }
  const seconds = Math.min(opts.waitforcert, left);
  deps.emit({ type: "not-signed", certname: name, waitedSeconds: waited, nextInSeconds: seconds, maxSeconds: opts.maxwaitforcert, reason: s.reason });
  return { name: "Wait", seconds, then: s.retry };
}
