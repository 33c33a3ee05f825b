/** Object identifiers fleetca reads or writes, and Puppet's short names for its own arcs. */
export const OID = {
  commonName: "2.5.4.3",
  rsaEncryption: "1.2.840.113549.1.1.1",
  sha256WithRSA: "1.2.840.113549.1.1.11",
  sha384WithRSA: "1.2.840.113549.1.1.12",
  sha512WithRSA: "1.2.840.113549.1.1.13",
  sha1WithRSA: "1.2.840.113549.1.1.5",
  rsaPss: "1.2.840.113549.1.1.10",
  ecPublicKey: "1.2.840.10045.2.1",
  ecdsaSha256: "1.2.840.10045.4.3.2",
  ecdsaSha384: "1.2.840.10045.4.3.3",
  ecdsaSha512: "1.2.840.10045.4.3.4",
  ecdsaSha1: "1.2.840.10045.4.1",
  ed25519: "1.3.101.112",
  ed448: "1.3.101.113",
  prime256v1: "1.2.840.10045.3.1.7",
  secp384r1: "1.3.132.0.34",
  extensionRequest: "1.2.840.113549.1.9.14",
  challengePassword: "1.2.840.113549.1.9.7",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  crlNumber: "2.5.29.20",
  crlReason: "2.5.29.21",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  netscapeComment: "2.16.840.1.113730.1.13",
  crlDistributionPoints: "2.5.29.31",
  authorityInfoAccess: "1.3.6.1.5.5.7.1.1",
  /** AccessDescription methods of authorityInfoAccess (RFC 5280 4.2.2.1). */
  adOcsp: "1.3.6.1.5.5.7.48.1",
  adCaIssuers: "1.3.6.1.5.5.7.48.2",
} as const;

/** Puppet's registered arcs (1.3.6.1.4.1.34380.1.*). */
export const PUPPET_ARC = "1.3.6.1.4.1.34380.1";
export const PP_REG_CERT_EXT = `${PUPPET_ARC}.1`;
export const PP_PRIV_CERT_EXT = `${PUPPET_ARC}.2`;
export const PP_AUTH_CERT_EXT = `${PUPPET_ARC}.3`;
export const PP_CLI_AUTH = `${PUPPET_ARC}.3.39`;

/** Puppet's short names for extension OIDs (as in its csr_attributes.yaml documentation). */
export const PUPPET_SHORT_NAMES: Readonly<Record<string, string>> = Object.freeze({
  pp_uuid: `${PP_REG_CERT_EXT}.1`,
  pp_instance_id: `${PP_REG_CERT_EXT}.2`,
  pp_image_name: `${PP_REG_CERT_EXT}.3`,
  pp_preshared_key: `${PP_REG_CERT_EXT}.4`,
  pp_cost_center: `${PP_REG_CERT_EXT}.5`,
  pp_product: `${PP_REG_CERT_EXT}.6`,
  pp_project: `${PP_REG_CERT_EXT}.7`,
  pp_application: `${PP_REG_CERT_EXT}.8`,
  pp_service: `${PP_REG_CERT_EXT}.9`,
  pp_employee: `${PP_REG_CERT_EXT}.10`,
  pp_created_by: `${PP_REG_CERT_EXT}.11`,
  pp_environment: `${PP_REG_CERT_EXT}.12`,
  pp_role: `${PP_REG_CERT_EXT}.13`,
  pp_software_version: `${PP_REG_CERT_EXT}.14`,
  pp_department: `${PP_REG_CERT_EXT}.15`,
  pp_cluster: `${PP_REG_CERT_EXT}.16`,
  pp_provisioner: `${PP_REG_CERT_EXT}.17`,
  pp_region: `${PP_REG_CERT_EXT}.18`,
  pp_datacenter: `${PP_REG_CERT_EXT}.19`,
  pp_zone: `${PP_REG_CERT_EXT}.20`,
  pp_network: `${PP_REG_CERT_EXT}.21`,
  pp_securitypolicy: `${PP_REG_CERT_EXT}.22`,
  pp_cloudplatform: `${PP_REG_CERT_EXT}.23`,
  pp_apptier: `${PP_REG_CERT_EXT}.24`,
  pp_hostname: `${PP_REG_CERT_EXT}.25`,
  pp_owner: `${PP_REG_CERT_EXT}.26`,
  pp_authorization: `${PP_AUTH_CERT_EXT}.1`,
  pp_auth_role: `${PP_AUTH_CERT_EXT}.13`,
  pp_cli_auth: PP_CLI_AUTH,
});

const SHORT_BY_OID = new Map(Object.entries(PUPPET_SHORT_NAMES).map(([k, v]) => [v, k]));

export function shortNameOf(oid: string): string | undefined {
  return SHORT_BY_OID.get(oid);
}

/** Resolves a Puppet short name or a dotted OID; undefined when it is neither. */
export function resolveOid(nameOrOid: string): string | undefined {
  if (/^\d+(\.\d+)+$/.test(nameOrOid)) return nameOrOid;
  return PUPPET_SHORT_NAMES[nameOrOid];
}

export const isAuthorizationExtension = (oid: string): boolean => oid.startsWith(`${PP_AUTH_CERT_EXT}.`);
export const isPuppetExtension = (oid: string): boolean =>
  oid.startsWith(`${PP_REG_CERT_EXT}.`) || oid.startsWith(`${PP_PRIV_CERT_EXT}.`) || oid.startsWith(`${PP_AUTH_CERT_EXT}.`);
