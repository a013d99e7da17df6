// What a user may paste into the access-code dialog, how it is read, and
// what the dialog says about it.
import { nullTranslator } from '@jupyterlab/translation';

import { deniedError } from '../oidcerrors';
import { callbackUrlFor, PasteError, parsePaste, pasteProblem } from '../paste';

const STATE = 'attempt-123';

describe('parsePaste', () => {
  it('accepts a bare code, trimmed', () => {
    expect(parsePaste('  abcDEF123-_~.  \n', STATE)).toEqual({
      kind: 'code',
      code: 'abcDEF123-_~.',
      state: null
    });
  });

  it('accepts the full access-code page address of this attempt', () => {
    const url = `https://app.carto.com/auth/token?code=XYZ123456&state=${STATE}`;
    expect(parsePaste(url, STATE)).toEqual({
      kind: 'code',
      code: 'XYZ123456',
      state: STATE
    });
  });

  it('accepts a query fragment', () => {
    expect(parsePaste(`?code=XYZ123456&state=${STATE}`, STATE)).toMatchObject({
      kind: 'code',
      code: 'XYZ123456'
    });
  });

  it('refuses an address from another sign-in attempt', () => {
    const url = 'https://app.carto.com/auth/token?code=XYZ123456&state=other';
    expect(parsePaste(url, STATE)).toEqual({
      kind: 'error',
      reason: 'wrong_attempt'
    });
  });

  it('reports an error= address as denied with its description', () => {
    const url =
      'https://app.carto.com/auth/token?error=access_denied&error_description=User%20cancelled';
    expect(parsePaste(url, STATE)).toEqual({
      kind: 'denied',
      error: 'access_denied',
      description: 'User cancelled'
    });
  });

  it.each([
    ['', 'empty'],
    ['two words', 'malformed'],
    ['abc', 'malformed'],
    ['<script>alert(1)</script>', 'malformed'],
    ['https://app.carto.com/auth/token?state=' + STATE, 'malformed']
  ])('refuses %p as %s', (input, reason) => {
    expect(parsePaste(input, STATE)).toEqual({ kind: 'error', reason });
  });

  it.each([' ', '   \n\t ', '\u00a0\u2003'])(
    'refuses whitespace only (%j) as blank',
    input => {
      expect(parsePaste(input, STATE)).toEqual({
        kind: 'error',
        reason: 'blank'
      });
    }
  );

  it('refuses 10 KB as too long, bare or inside an address', () => {
    const big = 'a'.repeat(10 * 1024);
    expect(parsePaste(big, STATE)).toEqual({
      kind: 'error',
      reason: 'too_long',
      length: 10240
    });
    const url = `https://app.carto.com/auth/token?code=${big}&state=${STATE}`;
    expect(parsePaste(url, STATE)).toEqual({
      kind: 'error',
      reason: 'too_long',
      length: 10240
    });
  });

  it.each([
    ['abcDEF123€xyz', 'U+20AC'],
    ['abcDEF\u200b123456', 'U+200B'], // an invisible zero-width space
    ['ABCDEFé12345', 'U+00E9'],
    ['code😀123456', 'U+1F600'],
    [
      `https://app.carto.com/auth/token?code=XY%C3%9C123456&state=${STATE}`,
      'U+00DC'
    ]
  ])('refuses unicode %j, naming the character', (input, character) => {
    expect(parsePaste(input, STATE)).toEqual({
      kind: 'error',
      reason: 'characters',
      character
    });
  });

  it('takes a code in typographic quotes, as a chat or a document gives it', () => {
    expect(parsePaste('“abcDEF123456”', STATE)).toEqual({
      kind: 'code',
      code: 'abcDEF123456',
      state: null
    });
  });
});

describe('pasteProblem', () => {
  const trans = nullTranslator.load('jupyterlab-carto-auth');
  const paste = (input: string) => {
    const result = parsePaste(input, STATE);
    if (result.kind !== 'error') {
      throw new Error(`${input} is not refused`);
    }
    return pasteProblem(result as PasteError, trans);
  };

  it('says something distinct, and what to do, for each refused paste', () => {
    const messages = {
      empty: paste(''),
      blank: paste('  \n '),
      too_long: paste('a'.repeat(10240)),
      characters: paste('abcDEF123€xyz'),
      wrong_attempt: paste(
        'https://app.carto.com/auth/token?code=XYZ123456&state=other'
      ),
      malformed: paste('two words'),
      // Answered by the lab's flow (src/signin.ts) and the provider:
      denied: deniedError('access_denied', '', trans).message
    };
    expect(messages).toEqual({
      empty: 'Paste the access code shown on the CARTO page.',
      blank:
        'What you pasted is only spaces or line breaks. Copy the access code itself from the CARTO page, then paste it here.',
      too_long:
        'What you pasted is 10240 characters long, too long for an access code. Copy only the code shown on the CARTO page (or its address), then paste it here.',
      characters:
        'What you pasted contains the character U+20AC, which no access code has. Copy the code again from the CARTO page without typing or editing it, then paste it here.',
      wrong_attempt:
        'That address belongs to another sign-in attempt. Use the CARTO page opened for this dialog (link above).',
      malformed:
        'That is not an access code. Copy the whole code shown on the CARTO page, or its full address.',
      denied: 'Sign-in to CARTO was cancelled or denied on the CARTO page.'
    });
    expect(new Set(Object.values(messages)).size).toBe(7);
  });

  it('translates every message', () => {
    const seen: string[] = [];
    // A bundle that records what it is asked to translate.
    const recording = {
      ...trans,
      __: (text: string) => {
        seen.push(text);
        return `translated: ${text}`;
      }
    } as typeof trans;
    const problems: PasteError[] = [
      { kind: 'error', reason: 'empty' },
      { kind: 'error', reason: 'blank' },
      { kind: 'error', reason: 'too_long', length: 1 },
      { kind: 'error', reason: 'characters', character: 'U+20AC' },
      { kind: 'error', reason: 'wrong_attempt' },
      { kind: 'error', reason: 'malformed' }
    ];
    const shown = problems.map(p => pasteProblem(p, recording));
    expect(seen).toHaveLength(6);
    expect(new Set(shown).size).toBe(6);
    expect(shown.every(m => m.startsWith('translated: '))).toBe(true);
  });
});

describe('callbackUrlFor', () => {
  it('puts the code and this attempt’s state on the redirect URI', () => {
    const url = new URL(
      callbackUrlFor('https://app.carto.com/auth/token', 'a b&c', STATE)
    );
    expect(url.origin + url.pathname).toBe('https://app.carto.com/auth/token');
    expect(url.searchParams.get('code')).toBe('a b&c');
    expect(url.searchParams.get('state')).toBe(STATE);
  });
});
