import { type Adapter, ProviderError } from 'messagepipe';

/** Placeholder until the postmark adapter lands: every call fails over with ADAPTER_MISSING. */
export function postmark(): Adapter<'email'> {
  return {
    provider: 'postmark',
    channel: 'email',
    async send() {
      throw new ProviderError('ADAPTER_MISSING', 'The postmark adapter is not available in this version', {
        provider: 'postmark',
      });
    },
  };
}
