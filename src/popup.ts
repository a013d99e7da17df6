// The sign-in popup window: opened at the user's click (before anything is
// awaited, so popup blockers count the gesture) and watched for being closed.
import { TranslationBundle } from '@jupyterlab/translation';

import { CartoAuthError } from './errors';

/** Open the (empty) sign-in window; throws `popup_blocked` when the browser refuses. */
export function openSignInPopup(trans: TranslationBundle): Window {
  const popup = window.open(
    '',
    'jupyterlab-carto-auth-signin',
    'popup,width=520,height=720'
  );
  if (!popup) {
    throw new CartoAuthError(
      'popup_blocked',
      trans.__(
        'The browser blocked the CARTO sign-in window. Allow pop-ups for this site, or paste an access code instead.'
      ),
      true
    );
  }
  return popup;
}

/** Rejects when the user closes the popup before the callback arrived. */
export function watchPopup(
  popup: Window,
  signal: AbortSignal,
  trans: TranslationBundle
): Promise<never> {
  return new Promise((_, reject) => {
    const timer = setInterval(() => {
      if (signal.aborted) {
        clearInterval(timer);
      } else if (popup.closed) {
        clearInterval(timer);
        // Grace period: the callback may be on its way as the window closes.
        setTimeout(
          () =>
            reject(
              new CartoAuthError(
                'popup_closed',
                trans.__(
                  'The CARTO sign-in window was closed before sign-in finished. Click Sign in to CARTO to try again, or paste an access code.'
                ),
                true
              )
            ),
          1500
        );
      }
    }, 400);
  });
}
