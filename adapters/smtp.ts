import { type Adapter, ProviderError } from 'messagepipe';

/** Placeholder until the smtp adapter lands: every call fails over with ADAPTER_MISSING. */
export function smtp(): Adapter<'email'> {
  return {
    provider: 'smtp',
    channel: 'email',
    async send() {
      throw new ProviderError('ADAPTER_MISSING', 'The smtp adapter is not available in this version', {
        provider: 'smtp',
      });
    },
  };
}
