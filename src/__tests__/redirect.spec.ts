// Which sign-in method the `auto` setting picks, and where redirects lead.
import { defaultSignInMethod, servedByJupyter } from '../redirect';
import { ICartoSettings } from '../settings';

const settings = (signInMethod: string, redirectUri: string) =>
  ({ signInMethod, redirectUri }) as unknown as ICartoSettings;

describe('servedByJupyter', () => {
  it('is true for a page under the server base URL only', () => {
    const base = 'http://localhost/user/alice/';
    expect(
      servedByJupyter('http://localhost/user/alice/carto-auth/callback', base)
    ).toBe(true);
    expect(
      servedByJupyter('http://localhost/user/bob/carto-auth/callback', base)
    ).toBe(false);
    expect(servedByJupyter('http://localhost:10000/callback/', base)).toBe(
      false
    );
  });
});

describe('defaultSignInMethod', () => {
  it('follows an explicit setting', () => {
    const uri = 'http://localhost:10000/callback/';
    expect(defaultSignInMethod(settings('paste', uri), '/')).toBe('paste');
    expect(defaultSignInMethod(settings('popup', uri), '/')).toBe('popup');
  });

  it('picks the popup for a redirect that is not a loopback port', () => {
    expect(
      defaultSignInMethod(settings('auto', 'https://example.com/callback'), '/')
    ).toBe('popup');
  });

  it('picks the popup for the localhost callback when the browser is local', () => {
    // jsdom's page is on http://localhost/
    expect(
      defaultSignInMethod(
        settings('auto', 'http://localhost:10000/callback/'),
        '/'
      )
    ).toBe('popup');
  });
});
