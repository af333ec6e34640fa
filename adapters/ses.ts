import { type Adapter, ProviderError } from 'messagepipe';

/** Placeholder until the ses adapter lands: every call fails over with ADAPTER_MISSING. */
export function ses(): Adapter<'email'> {
  return {
    provider: 'ses',
    channel: 'email',
    async send() {
      throw new ProviderError('ADAPTER_MISSING', 'The ses adapter is not available in this version', {
        provider: 'ses',
      });
    },
  };
}
