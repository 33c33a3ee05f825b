/** Named exit codes; scripts rely on them, so they only ever gain members. */
export const Exit = {
  OK: 0,
  /** At least one name failed; each failure has its own line on stderr. */
  FAILED: 1,
  /** The command line or configuration is wrong. */
  USAGE: 2,
  /** The agent's certificate is not signed yet and it was told not to wait (waitforcert 0). */
  NOT_SIGNED: 3,
  /** The agent's certificate does not match its private key. */
  KEY_MISMATCH: 4,
  /** The CA changed: the server's certificate no longer verifies against the saved CA certificate. */
  CA_CHANGED: 5,
  /** The agent's certificate is revoked. */
  REVOKED: 6,
  /** The agent's certificate (or its CA's) is not yet valid: clock skew. (Expired has its own code since the fix differs.) */
  VALIDITY: 7,
  /** The server could not be reached or answered something unexpected. */
  UNAVAILABLE: 8,
  /** Gave up waiting for a signature after maxwaitforcert. */
  TIMED_OUT: 9,
  /** The agent's certificate (or its CA's) has expired: enroll again. */
  EXPIRED: 10,
} as const;

export type ExitCode = (typeof Exit)[keyof typeof Exit];
