/**
 * Reads one text field of a multipart/form-data body (RFC 7578) in place: the parts' headers are scanned and their
 * contents skipped, so an uploaded file is neither copied nor decoded. The body is forwarded upstream unchanged.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const latin1 = new TextDecoder("latin1");
const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;
const HEADERS_END = encoder.encode("\r\n\r\n");
const BOUNDARY = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i;
const DISPOSITION = /^content-disposition\s*:\s*form-data\s*;(.*)$/im;
const NAME = /(?:^|;)\s*name\s*=\s*(?:"([^"]*)"|([^\s;]+))/i;

/** The boundary of a `multipart/form-data; boundary=...` content type; undefined for any other content type. */
export function formBoundary(contentType: string | null): string | undefined {
  if (contentType === null || !/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const match = BOUNDARY.exec(contentType);
  return match ? (match[1] ?? match[2]) : undefined;
}

/**
 * The value of the first part named `name` that is not a file (UTF-8), or undefined when there is none. A body that
 * is not well-formed multipart yields what could be read before the fault.
 */
export function formField(body: Uint8Array, options: { boundary: string; name: string }): string | undefined {
  const dashBoundary = encoder.encode(`--${options.boundary}`);
  const delimiter = encoder.encode(`\r\n--${options.boundary}`);
  // The first boundary line opens the body, or follows a preamble and a line break.
  let at = startsWithAt(body, dashBoundary, 0) ? 0 : indexOfBytes(body, delimiter, 0);
  if (at < 0) return undefined;
  at += at === 0 ? dashBoundary.byteLength : delimiter.byteLength;
  for (;;) {
    if (body[at] === DASH && body[at + 1] === DASH) return undefined; // the closing boundary
    while (body[at] === 0x20 || body[at] === 0x09) at++; // transport padding
    if (body[at] !== CR || body[at + 1] !== LF) return undefined;
    const headersStart = at + 2;
    const headersEnd = indexOfBytes(body, HEADERS_END, headersStart - 2);
    if (headersEnd < 0) return undefined;
    const contentStart = headersEnd + HEADERS_END.byteLength;
    const contentEnd = indexOfBytes(body, delimiter, contentStart);
    if (contentEnd < 0) return undefined;
    const part = partName(latin1.decode(body.subarray(headersStart, headersEnd)));
    if (part !== undefined && part.name === options.name && !part.file) {
      return decoder.decode(body.subarray(contentStart, contentEnd));
    }
    at = contentEnd + delimiter.byteLength;
  }
}

/** The form field name of a part from its headers, and whether it is a file (has a filename). */
function partName(headers: string): { name: string; file: boolean } | undefined {
  const disposition = DISPOSITION.exec(headers);
  if (disposition === null) return undefined;
  const name = NAME.exec(disposition[1]);
  if (name === null) return undefined;
  return { name: name[1] ?? name[2], file: /(?:^|;)\s*filename\*?\s*=/i.test(disposition[1]) };
}

function startsWithAt(data: Uint8Array, bytes: Uint8Array, at: number): boolean {
  if (at + bytes.byteLength > data.byteLength) return false;
  for (let i = 0; i < bytes.byteLength; i++) if (data[at + i] !== bytes[i]) return false;
  return true;
}

/** The first index at or after `from` where `needle` occurs in `data`, or -1. */
function indexOfBytes(data: Uint8Array, needle: Uint8Array, from: number): number {
  const last = data.byteLength - needle.byteLength;
  for (let i = data.indexOf(needle[0], Math.max(0, from)); i >= 0 && i <= last; i = data.indexOf(needle[0], i + 1)) {
    if (startsWithAt(data, needle, i)) return i;
  }
  return -1;
}
