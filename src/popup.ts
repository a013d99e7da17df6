// The sign-in popup window: opened at the user's click (before anything is
// awaited, so popup blockers count the gesture), cut from its opener before
// it leaves the lab's origin, and watched for being closed.
import { TranslationBundle } from '@jupyterlab/translation';

import { CartoAuthError } from './errors';

/**
 * Open the (empty, same-origin) sign-in window, with no `opener`: the
 * provider's pages and anything they lead to get no handle on the lab.
 * Throws `popup_blocked` when the browser refuses.
 *
 * The window is new for each attempt (`_blank`): one left on the provider's
 * page by an earlier attempt can no longer be reached from here, as the
 * browser lets only a window's opener (or its origin) close or navigate it.
 * The callback pages close themselves; the lab closes the window while it is
 * still on its own origin.
 */
export function openSignInPopup(trans: TranslationBundle): Window {
  const popup = window.open('', '_blank', 'popup,width=520,height=720');
  if (popup) {
    // Still about:blank, same-origin: the lab may cut the link (HTML
    // "disown the opener"). The lab keeps its own handle on the window.
    popup.opener = null;
  }
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
