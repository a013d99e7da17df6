// Where a redirect URI leads, seen from the browser, and so which sign-in
// method fits by default: the popup when its callback can come back to this
// Jupyter server, the access-code paste otherwise.
import { ICartoSettings } from './settings';

/** Whether a redirect URI points at this machine's loopback interface. */
export function isLoopbackRedirect(uri: string): boolean {
  try {
    const host = new URL(uri).hostname;
    return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  } catch {
    return false;
  }
}

/**
 * Whether a redirect URI is the callback page this Jupyter server serves
 * (a user's own SPA client), rather than a localhost port to relay.
 */
export function servedByJupyter(uri: string, baseUrl: string): boolean {
  try {
    const base = new URL(baseUrl, window.location.href);
    const target = new URL(uri);
    return (
      target.origin === base.origin && target.pathname.startsWith(base.pathname)
    );
  } catch {
    return false;
  }
}

/**
 * Whether the browser runs on the machine that runs Jupyter, so a redirect
 * to localhost reaches the Jupyter server's relay.
 */
export function browserIsOnServerMachine(): boolean {
  return isLoopbackRedirect(window.location.href);
}

/** The sign-in method of the `signInMethod` setting, `auto` resolved. */
export function defaultSignInMethod(
  settings: ICartoSettings,
  baseUrl: string
): 'popup' | 'paste' {
  const method = settings.signInMethod;
  if (method !== 'auto') {
    return method;
  }
  // The localhost callback only reaches this Jupyter server when the browser
  // runs on the same machine; a callback page served by Jupyter always does.
  const redirect = settings.redirectUri;
  return servedByJupyter(redirect, baseUrl) ||
    !isLoopbackRedirect(redirect) ||
    browserIsOnServerMachine()
    ? 'popup'
    : 'paste';
}
