// What a user may paste into the access-code dialog, and how it is read.
import { callbackUrlFor, parsePaste } from '../paste';

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
    ['   ', 'empty'],
    ['two words', 'malformed'],
    ['abc', 'malformed'],
    ['<script>alert(1)</script>', 'malformed'],
    ['https://app.carto.com/auth/token?state=' + STATE, 'malformed']
  ])('refuses %p as %s', (input, reason) => {
    expect(parsePaste(input, STATE)).toEqual({ kind: 'error', reason });
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
