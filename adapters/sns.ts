import { type Adapter, ProviderError } from 'messagepipe';

/** Placeholder until the sns adapter lands: every call fails over with ADAPTER_MISSING. */
export function sns(): Adapter<'sms'> {
  return {
    provider: 'sns',
    channel: 'sms',
    async send() {
      throw new ProviderError('ADAPTER_MISSING', 'The sns adapter is not available in this version', {
        provider: 'sns',
      });
    },
  };
}
