/**
 * A regeneration's state as JSON, the one spelling both stores keep it in (the file store's
 * tracking file head, PostgreSQL's jsonb row): dates as ISO strings, the serial as hex.
 */
import type { RegenerationState } from "../ca/store.js";

export interface RegenerationJson {
  mode: RegenerationState["mode"];
  startedAt: string;
  oldCaFingerprint: string;
  newCaFingerprint: string;
  firstNewSerial: string;
  overlapUntil?: string;
  oldCaCertPem?: string;
  oldCrlPem?: string;
}

export function regenerationToJson(state: RegenerationState): RegenerationJson {
  return {
    mode: state.mode,
    startedAt: state.startedAt.toISOString(),
    oldCaFingerprint: state.oldCaFingerprint,
    newCaFingerprint: state.newCaFingerprint,
    firstNewSerial: state.firstNewSerial.toString(16),
    ...(state.overlapUntil ? { overlapUntil: state.overlapUntil.toISOString() } : {}),
    ...(state.oldCaCertPem ? { oldCaCertPem: state.oldCaCertPem } : {}),
    ...(state.oldCrlPem ? { oldCrlPem: state.oldCrlPem } : {}),
  };
}

export function regenerationFromJson(j: RegenerationJson): RegenerationState {
  return {
    mode: j.mode,
    startedAt: new Date(j.startedAt),
    oldCaFingerprint: j.oldCaFingerprint,
    newCaFingerprint: j.newCaFingerprint,
    firstNewSerial: BigInt(`0x${j.firstNewSerial}`),
    ...(j.overlapUntil ? { overlapUntil: new Date(j.overlapUntil) } : {}),
    ...(j.oldCaCertPem ? { oldCaCertPem: j.oldCaCertPem } : {}),
    ...(j.oldCrlPem ? { oldCrlPem: j.oldCrlPem } : {}),
  };
}
