/**
 * The JSON API's error vocabulary: every CaError kind, plus what only HTTP can go wrong
 * with. Each kind has one status; a new kind without one does not compile.
 */
import type { CaErrorKind } from "../../ca/errors.js";
import { STATUS_BY_KIND } from "../errors.js";

export type ApiErrorKind =
  | CaErrorKind | "forbidden" | "unsupported-media-type" | "payload-too-large" | "internal"
  | "unauthenticated" | "csrf" | "locked-out" | "unavailable";

export const API_STATUS: Readonly<Record<ApiErrorKind, number>> = Object.freeze({
  ...STATUS_BY_KIND,
  forbidden: 403,
  "unsupported-media-type": 415,
  "payload-too-large": 413,
  internal: 500,
  unauthenticated: 401,
  csrf: 403,
  "locked-out": 429,
  // The store could not be reached; Retry-After says when to try again.
  unavailable: 503,
});

/** The body of every JSON API error. */
export interface ApiErrorBody {
  kind: ApiErrorKind;
  message: string;
}
