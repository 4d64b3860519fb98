/** Byte-array helpers shared by the request reader and the upstream client. */

/** Copies byte chunks, in order, into one new array (size: their total length, when the caller already has it). */
export function joinBytes(parts: readonly Uint8Array[], size?: number): Uint8Array<ArrayBuffer> {
  let total = size ?? 0;
  if (size === undefined) { for (const part of parts) total += part.byteLength; }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
