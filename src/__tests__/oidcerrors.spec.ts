// What each failure of a code exchange tells the user.
import { nullTranslator } from '@jupyterlab/translation';
import { ErrorResponse, ErrorTimeout } from 'oidc-client-ts';

import { CartoAuthError } from '../errors';
import { completeExchange, deniedError, exchangeError } from '../oidcerrors';

const trans = nullTranslator.load('jupyterlab_carto_auth');
const codeOf = (error: unknown) => exchangeError(error, trans).code;

describe('exchangeError', () => {
  it.each([
    [new ErrorResponse({ error: 'invalid_grant' }), 'invalid_code'],
    [new ErrorResponse({ error: 'access_denied' }), 'denied'],
    [new ErrorResponse({ error: 'server_error' }), 'provider'],
    [new ErrorTimeout('slow'), 'timeout'],
    [new TypeError('Failed to fetch'), 'network'],
    [new Error('No matching state found in storage'), 'wrong_attempt'],
    [new Error('something odd'), 'bad_response']
  ])('%p -> %s', (error, code) => {
    expect(codeOf(error)).toBe(code);
  });

  it('passes a CartoAuthError through', () => {
    const error = new CartoAuthError('port_busy', 'busy', true);
    expect(exchangeError(error, trans)).toBe(error);
  });

  it('quotes what could not be used', () => {
    expect(exchangeError(new Error('odd'), trans).message).toBe(
      'The CARTO sign-in service sent an answer that could not be used (odd). Try again.'
    );
  });
});

describe('deniedError', () => {
  it('prefers the description of a refusal', () => {
    expect(deniedError('invalid_request', 'bad audience', trans).message).toBe(
      'The CARTO sign-in service refused the request: bad audience. Check the CARTO settings.'
    );
    expect(deniedError('invalid_request', '', trans).message).toContain(
      ': invalid_request.'
    );
  });
});

describe('completeExchange', () => {
  it('returns the response, or throws the translated error', async () => {
    const response = { access_token: 't' } as any;
    await expect(completeExchange(async () => response, trans)).resolves.toBe(
      response
    );
    const error = await completeExchange(async () => {
      throw new ErrorTimeout('slow');
    }, trans).catch(e => e);
    expect(error).toBeInstanceOf(CartoAuthError);
    expect(error.code).toBe('timeout');
  });
});
