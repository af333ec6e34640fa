/** Email helpers shared by the email adapters. */
import type { EmailAddress } from 'messagepipe';

/** Characters that force a display name into quotes (RFC 5322 `specials`, plus the quote itself). */
const NEEDS_QUOTES = /[()<>[\]:;@\\,."]/;

/**
 * Formats an address as a header value: `ann@example.com`, `Ann Lee <ann@example.com>`, or with a quoted
 * display name when it holds specials (`"Lee, Ann" <ann@example.com>`). Non-ASCII names are left as they are:
 * every provider API that takes a formatted address encodes the header itself. Names were checked for line
 * breaks when the message was validated.
 */
export function formatAddress(address: EmailAddress): string {
  if (!address.name) return address.email;
  const name = NEEDS_QUOTES.test(address.name)
    ? `"${address.name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
    : address.name;
  return `${name} <${address.email}>`;
}

/** Base64 of the bytes (attachment contents for JSON APIs), without copying the buffer. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** The bytes as a Node `Buffer` sharing the same memory (for SDKs that want a Buffer). */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
