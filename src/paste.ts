// Reading what a user pastes into the access-code dialog: the bare code that
// CARTO's access-code page shows, or the whole address of that page. Pure
// functions, so every case is unit-tested; and what the dialog is asked with.
import { TranslationBundle } from '@jupyterlab/translation';

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

/** Why a paste is not a code of this attempt (see {@link pasteProblem}). */
export type PasteError =
  | { kind: 'error'; reason: 'empty' | 'blank' | 'malformed' | 'wrong_attempt' }
  | { kind: 'error'; reason: 'too_long'; length: number }
  | { kind: 'error'; reason: 'characters'; character: string };

/** What a paste turned out to be. */
export type PasteResult =
  | { kind: 'code'; code: string; state: string | null }
  | PasteError
  | { kind: 'denied'; error: string; description: string };

// Authorization codes are opaque but URL-safe (RFC 6749 §4.1.2, VSCHAR).
const MAX_CODE = 4096;
const CODE = new RegExp(`^[A-Za-z0-9._~+/=-]{6,${MAX_CODE}}$`);
/** A character no code has: beyond printable ASCII (spaces are malformed). */
const FOREIGN = /[^\x20-\x7e\s]/u;

/**
 * Parse a pasted access code or redirected URL.
 *
 * @param input - what the user pasted, untrimmed.
 * @param expectedState - the `state` of the attempt the dialog belongs to.
 */
export function parsePaste(input: string, expectedState: string): PasteResult {
  const text = input.trim().replace(/^["'<“‘«]+|["'>”’»]+$/g, '');
  if (!text) {
    return { kind: 'error', reason: input ? 'blank' : 'empty' };
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
    return code ? checked(code, state) : { kind: 'error', reason: 'malformed' };
  }
  return checked(text, null);
}

/** `code` if it can be an access code, else why not. */
function checked(code: string, state: string | null): PasteResult {
  if (code.length > MAX_CODE) {
    return { kind: 'error', reason: 'too_long', length: code.length };
  }
  const foreign = FOREIGN.exec(code);
  if (foreign) {
    const point = foreign[0].codePointAt(0)!;
    const character = `U+${point.toString(16).toUpperCase().padStart(4, '0')}`;
    return { kind: 'error', reason: 'characters', character };
  }
  if (!CODE.test(code)) {
    return { kind: 'error', reason: 'malformed' };
  }
  return { kind: 'code', code, state };
}

/** What the paste dialog tells the user about `problem`: what to do next. */
export function pasteProblem(
  problem: PasteError,
  trans: TranslationBundle
): string {
  switch (problem.reason) {
    case 'empty':
      return trans.__('Paste the access code shown on the CARTO page.');
    case 'blank':
      return trans.__(
        'What you pasted is only spaces or line breaks. Copy the access code itself from the CARTO page, then paste it here.'
      );
    case 'too_long':
      return trans.__(
        'What you pasted is %1 characters long, too long for an access code. Copy only the code shown on the CARTO page (or its address), then paste it here.',
        problem.length
      );
    case 'characters':
      return trans.__(
        'What you pasted contains the character %1, which no access code has. Copy the code again from the CARTO page without typing or editing it, then paste it here.',
        problem.character
      );
    case 'wrong_attempt':
      return trans.__(
        'That address belongs to another sign-in attempt. Use the CARTO page opened for this dialog (link above).'
      );
    default:
      return trans.__(
        'That is not an access code. Copy the whole code shown on the CARTO page, or its full address.'
      );
  }
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
