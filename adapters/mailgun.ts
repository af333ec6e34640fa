import { type Adapter, ProviderError } from 'messagepipe';

/** Placeholder until the mailgun adapter lands: every call fails over with ADAPTER_MISSING. */
export function mailgun(): Adapter<'email'> {
  return {
    provider: 'mailgun',
    channel: 'email',
    async send() {
      throw new ProviderError('ADAPTER_MISSING', 'The mailgun adapter is not available in this version', {
        provider: 'mailgun',
      });
    },
  };
}
