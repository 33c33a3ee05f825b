/**
 * The CA's own inventory line. Puppet's inventory.txt starts with the CA certificate
 * (`0x0001 ... /CN=Puppet CA: host`), but CaMaterial carries no InventoryEntry, so unless
 * the caller passes one, the store reads the four fields it needs from ca_crt.pem.
 * This is the one place the store looks inside a certificate, and it uses Node's built-in
 * X509Certificate rather than the pki layer's library, which stores must not import.
 */
import { X509Certificate } from "node:crypto";
import type { InventoryEntry } from "../../ca/store.js";

/** The inventory entry of the first certificate in `certPem`, or undefined if it does not parse. */
export function caInventoryEntry(certPem: string): InventoryEntry | undefined {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(certPem)?.[0];
  if (!first) return undefined;
  try {
    const cert = new X509Certificate(first);
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return undefined;
    // Node gives "C=US\nCN=Puppet CA: host"; Puppet writes OpenSSL's "/C=US/CN=Puppet CA: host".
    const subject = `/${cert.subject.split("\n").join("/")}`;
    return { serial: BigInt(`0x${cert.serialNumber}`), notBefore, notAfter, subject };
  } catch {
    return undefined;
  }
}
