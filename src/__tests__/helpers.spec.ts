// Small pure helpers: region names, base URL templates, JWT claims for display.
import { regionOf } from '../discovery';
import { decodeJwtPayload } from '../tokenresponse';
import { resolveBaseUrl } from '../settings';
import { isLoopbackRedirect } from '../redirect';

describe('regionOf', () => {
  it('names the region of a CARTO API base URL', () => {
    expect(regionOf('https://gcp-us-east1.api.carto.com')).toBe('gcp-us-east1');
  });
  it('is null for other hosts and garbage', () => {
    expect(regionOf('http://127.0.0.1:9999')).toBeNull();
    expect(regionOf('https://gcp-us-east1.api.carto.com.evil.com')).toBeNull();
    expect(regionOf('not a url')).toBeNull();
  });
});

describe('resolveBaseUrl', () => {
  it('replaces {baseUrl} with the absolute server base URL', () => {
    expect(
      resolveBaseUrl(
        '{baseUrl}carto-auth/callback',
        'http://localhost/user/alice/'
      )
    ).toBe('http://localhost/user/alice/carto-auth/callback');
  });
  it('leaves other URIs alone', () => {
    expect(resolveBaseUrl('http://localhost:10000/callback/', '/')).toBe(
      'http://localhost:10000/callback/'
    );
  });
});

describe('isLoopbackRedirect', () => {
  it.each([
    ['http://localhost:10000/callback/', true],
    ['http://127.0.0.1:10000/callback/', true],
    ['https://app.carto.com/auth/token', false],
    ['http://localhost.evil.com/callback/', false],
    ['garbage', false]
  ])('%s -> %p', (uri, expected) => {
    expect(isLoopbackRedirect(uri)).toBe(expected);
  });
});

describe('decodeJwtPayload', () => {
  const encode = (value: unknown) =>
    btoa(JSON.stringify(value))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');

  it('reads the claims of a JWT', () => {
    const token = `${encode({ alg: 'none' })}.${encode({ email: 'ana@example.com', org_id: 'acme' })}.sig`;
    expect(decodeJwtPayload(token)).toEqual({
      email: 'ana@example.com',
      org_id: 'acme'
    });
  });
  it('is null for opaque tokens and garbage', () => {
    expect(decodeJwtPayload('opaque-token')).toBeNull();
    expect(decodeJwtPayload('a.%%%.c')).toBeNull();
  });
});
