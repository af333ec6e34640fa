import type { OutboundEmail } from 'messagepipe';

/** The first bytes of a PDF and a PNG: enough for an adapter to carry, small enough to compare. */
export const PDF = new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x2e, 0x34]);
export const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** An email that uses every field an email adapter maps: names, cc/bcc, reply-to, both bodies, attachments. */
export function sampleEmail(overrides: Partial<OutboundEmail> = {}): OutboundEmail {
  return {
    channel: 'email',
    from: { email: 'noreply@acme.test', name: 'Acme, Inc.' },
    to: [{ email: 'ann@example.test', name: 'Ann Lee' }, { email: 'bob@example.test' }],
    cc: [{ email: 'cat@example.test', name: 'Cat' }],
    bcc: [{ email: 'dan@example.test' }],
    replyTo: [{ email: 'support@acme.test', name: 'Support' }],
    subject: 'Welcome aboard',
    text: 'Hello Ann',
    html: '<p>Hello Ann <img src="cid:logo"></p>',
    attachments: [
      { filename: 'terms.pdf', content: PDF, contentType: 'application/pdf', disposition: 'attachment' },
      {
        filename: 'logo.png',
        content: PNG,
        contentType: 'image/png',
        contentId: 'logo',
        disposition: 'inline',
      },
    ],
    headers: { 'X-Campaign': 'spring' },
    tags: ['welcome', 'onboarding'],
    metadata: { userId: '42' },
    ...overrides,
  };
}
