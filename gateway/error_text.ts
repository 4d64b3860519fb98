/** One line of text for a caught error, with its causes (fetch puts the useful part, "Connection refused", there). */

/** `message: cause message: ...` of an error, or the value as text. */
export function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 4; depth++) {
    if (!(e instanceof Error)) {
      parts.push(String(e));
      break;
    }
    parts.push(e.message);
    e = e.cause;
  }
  return parts.join(": ");
}
