// The time left before an instant, as the status item and the account panel
// show it. Its own module so the status item (start-up) does not pull in
// the dialogs (loaded on first use).
import { TranslationBundle } from '@jupyterlab/translation';

/** Human text for the time left before a given epoch-ms instant. */
export function timeLeft(
  expiresAt: number,
  trans: TranslationBundle,
  now = Date.now()
): string {
  const seconds = Math.max(0, Math.round((expiresAt - now) / 1000));
  if (seconds >= 3600) {
    return trans.__(
      '%1 h %2 min',
      Math.floor(seconds / 3600),
      Math.floor((seconds % 3600) / 60)
    );
  }
  if (seconds >= 60) {
    return trans.__('%1 min', Math.floor(seconds / 60));
  }
  return trans.__('%1 s', seconds);
}
