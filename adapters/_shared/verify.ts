/** What credential checks share: telling "these credentials are bad" apart from "they may not call the check". */
import type { ProviderError, VerifyResult } from 'messagepipe';

/**
 * The verdict for a check the provider refused with a permission error (an authenticated key that may not call
 * it, e.g. an AWS key allowed only `sns:Publish` or `ses:SendEmail`): nothing is known about the credentials, so
 * the dispatcher records them as `unchecked` and keeps the provider in the failover chain. `check` names the
 * operation, e.g. `GetSMSAttributes`.
 */
export function cannotCheck(check: string, error: ProviderError): VerifyResult {
  return {
    valid: null,
    reason: `These credentials may not call ${check}, so they cannot be checked with these permissions: ${error.message}`,
  };
}
