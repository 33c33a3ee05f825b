/**
 * Every route of Puppet's CA API, relative to /puppet-ca/v1, with the rule that decides who
 * may call it (src/server/auth.ts). What each does is in its own file.
 */
import type { PuppetRoute } from "../route.js";
import { certificate } from "./certificate.js";
import { certificateRenewal } from "./certificate-renewal.js";
import { certificateRequest } from "./certificate-request.js";
import { certificateRevocationList } from "./certificate-revocation-list.js";
import { certificateStatus } from "./certificate-status.js";
import { certificateStatuses } from "./certificate-statuses.js";
import { clean } from "./clean.js";
import { expirations } from "./expirations.js";
import { generate } from "./generate.js";
import { sign } from "./sign.js";

export const PUPPET_CA_ROUTES: readonly PuppetRoute[] = [
  ...certificate, //                 GET                certificate/{ca,NAME}                   certificate
  ...certificateRevocationList, //   GET / PUT          certificate_revocation_list/ca / (bare)  crl / crl update
  ...certificateRequest, //          PUT GET / DELETE   certificate_request/NAME                csr / csr delete
  ...certificateStatus, //           GET PUT DELETE     certificate_status/NAME                 cert status
  ...certificateStatuses, //         GET                certificate_statuses/KEY?state=         cert statuses
  ...expirations, //                 GET                expirations                             expirations
  ...sign, //                        POST               sign, sign/all                          sign, sign all
  ...clean, //                       PUT                clean                                   cert clean
  ...certificateRenewal, //          POST               certificate_renewal                     certificate renewal
  ...generate, //                    POST               generate/NAME                           generate
];
