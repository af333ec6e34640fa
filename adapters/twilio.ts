import { type Adapter, ProviderError } from 'messagepipe';

/** Placeholder until the twilio adapter lands: every call fails over with ADAPTER_MISSING. */
export function twilio(): Adapter<'sms'> {
  return {
    provider: 'twilio',
    channel: 'sms',
    async send() {
      throw new ProviderError('ADAPTER_MISSING', 'The twilio adapter is not available in this version', {
        provider: 'twilio',
      });
    },
  };
}
