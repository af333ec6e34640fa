import { type Adapter, ProviderError } from 'messagepipe';

/** Placeholder until the sendgrid adapter lands: every call fails over with ADAPTER_MISSING. */
export function sendgrid(): Adapter<'email'> {
  return {
    provider: 'sendgrid',
    channel: 'email',
    async send() {
      throw new ProviderError('ADAPTER_MISSING', 'The sendgrid adapter is not available in this version', {
        provider: 'sendgrid',
      });
    },
  };
}
