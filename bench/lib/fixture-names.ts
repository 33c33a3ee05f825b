/** The names of the cost curve's fixture: fixed width, so every certificate's TBS has one length per serial length. */
export function fixtureName(i: number): string {
  return `node-${String(i).padStart(7, "0")}.curve.test`;
}
