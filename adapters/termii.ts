import { type Adapter, ProviderError } from 'messagepipe';

/** Placeholder until the termii adapter lands: every call fails over with ADAPTER_MISSING. */
export function termii(): Adapter<'sms'> {
  return {
    provider: 'termii',
    channel: 'sms',
    async send() {
      throw new ProviderError('ADAPTER_MISSING', 'The termii adapter is not available in this version', {
        provider: 'termii',
      });
    },
  };
}
