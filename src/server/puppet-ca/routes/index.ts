/**
 * Every endpoint the server answers, one line each. Who may call them is decided by the
 * rule table in ../auth.ts, before routing; what each does is in its own file.
 */
import type { Endpoint } from "../deps.js";
import { certificate } from "./certificate.js";
import { certificateRenewal } from "./certificate-renewal.js";
import { certificateRequest } from "./certificate-request.js";
import { certificateRevocationList } from "./certificate-revocation-list.js";
import { certificateStatus } from "./certificate-status.js";
import { certificateStatuses, certificateStatusesBare } from "./certificate-statuses.js";
import { clean } from "./clean.js";
import { expirations } from "./expirations.js";
import { generate } from "./generate.js";
import { sign } from "./sign.js";
import { signAll } from "./sign-all.js";
import { statusSimple } from "./status.js";

export const ENDPOINTS: readonly Endpoint[] = [
  certificate, //                 GET                /puppet-ca/v1/certificate/{ca,NAME}
  certificateRevocationList, //   GET                /puppet-ca/v1/certificate_revocation_list/ca
  certificateRequest, //          GET PUT DELETE     /puppet-ca/v1/certificate_request/NAME
  certificateStatus, //           GET PUT DELETE     /puppet-ca/v1/certificate_status/NAME
  certificateStatuses, //         GET                /puppet-ca/v1/certificate_statuses/KEY?state=
  certificateStatusesBare, //     GET                /puppet-ca/v1/certificate_statuses/ (400)
  expirations, //                 GET                /puppet-ca/v1/expirations
  sign, //                        POST               /puppet-ca/v1/sign
  signAll, //                     POST               /puppet-ca/v1/sign/all
  clean, //                       PUT                /puppet-ca/v1/clean
  certificateRenewal, //          POST               /puppet-ca/v1/certificate_renewal
  generate, //                    POST               /puppet-ca/v1/generate/NAME
  statusSimple, //                GET                /status/v1/simple
];
