// Reading what a user pastes into the access-code dialog: the bare code that
// CARTO's access-code page shows, or the whole address of that page. Pure
// functions, so every case is unit-tested; and what the dialog is asked with.

/** What the paste dialog is shown with. */
export interface IPastePrompt {
  /** The provider page to open (again) to get a code. */
  readonly authorizeUrl: string;
  /** Whether the new tab could not be opened by the lab itself. */
  readonly tabBlocked: boolean;
  /** Why the previous paste failed, already translated, or null. */
  readonly error: string | null;
  /** The previous input, to keep in the field. */
  readonly value: string;
}

/** Shows the paste dialog; resolves with the pasted text, or null if cancelled. */
export type AskForCode = (prompt: IPastePrompt) => Promise<string | null>;

/** What a paste turned out to be. */
export type PasteResult =
  | { kind: 'code'; code: string; state: string | null }
  | { kind: 'error'; reason: 'empty' | 'malformed' | 'wrong_attempt' }
  | { kind: 'denied'; error: string; description: string };

// Authorization codes are opaque but URL-safe (RFC 6749 §4.1.2, VSCHAR).
const CODE = /^[A-Za-z0-9._~+/=-]{6,4096}$/;

/**
 * Parse a pasted access code or redirected URL.
 *
 * @param input - what the user pasted, untrimmed.
 * @param expectedState - the `state` of the attempt the dialog belongs to.
 */
export function parsePaste(input: string, expectedState: string): PasteResult {
  const text = input.trim().replace(/^["'<]+|["'>]+$/g, '');
  if (!text) {
    return { kind: 'error', reason: 'empty' };
  }
  const query = queryOf(text);
  if (query) {
    const error = query.get('error');
    if (error) {
      return {
        kind: 'denied',
        error,
        description: query.get('error_description') ?? ''
      };
    }
    const state = query.get('state');
    if (state !== null && state !== expectedState) {
      return { kind: 'error', reason: 'wrong_attempt' };
    }
    const code = query.get('code');
    if (!code || !CODE.test(code)) {
      return { kind: 'error', reason: 'malformed' };
    }
    return { kind: 'code', code, state };
  }
  if (!CODE.test(text)) {
    return { kind: 'error', reason: 'malformed' };
  }
  return { kind: 'code', code: text, state: null };
}

/** The query of a pasted URL or `?code=…` fragment, or null for a bare code. */
function queryOf(text: string): URLSearchParams | null {
  if (/^https?:\/\//i.test(text)) {
    try {
      return new URL(text).searchParams;
    } catch {
      return new URLSearchParams();
    }
  }
  if (text.startsWith('?') || /(^|&)(code|error|state)=/.test(text)) {
    return new URLSearchParams(text.replace(/^\?/, ''));
  }
  return null;
}

/**
 * The callback URL oidc-client-ts should process for a pasted code.
 */
export function callbackUrlFor(
  redirectUri: string,
  code: string,
  state: string
): string {
  const url = new URL(redirectUri);
  url.search = new URLSearchParams({ code, state }).toString();
  return url.href;
}
