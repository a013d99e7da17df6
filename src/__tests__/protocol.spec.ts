// The lab side of the comm protocol against the shared examples that the
// Python side is tested with too.
import examples from '../../docs/protocol-examples.json';
import {
  Direction,
  errorMessage,
  MAX_BYTES,
  parseMessage,
  ProtocolError,
  stdinReplyValue,
  TARGET,
  VERSION
} from '../protocol';

interface IExample {
  name: string;
  direction: Direction;
  message: unknown;
  code?: string;
}

describe('protocol v1 examples', () => {
  it.each((examples.valid as IExample[]).map(e => [e.name, e]))(
    'accepts %s',
    (_, example) => {
      expect(parseMessage(example.message, example.direction)).toEqual(
        example.message
      );
    }
  );

  it.each((examples.invalid as IExample[]).map(e => [e.name, e]))(
    'refuses %s',
    (_, example) => {
      let error: unknown = null;
      try {
        parseMessage(example.message, example.direction);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).code).toBe(example.code);
    }
  );

  it('has the constants of the examples', () => {
    expect(MAX_BYTES).toBe(examples.max_bytes);
    expect(TARGET).toBe('carto_auth');
    expect(VERSION).toBe(1);
  });

  it('wraps a stdin answer in the documented envelope', () => {
    const message = errorMessage('cancelled', 'No.', 'r1');
    expect(JSON.parse(stdinReplyValue('r1', message))).toEqual({
      carto_auth: 1,
      id: 'r1',
      message: {
        v: 1,
        type: 'error',
        code: 'cancelled',
        message: 'No.',
        id: 'r1'
      }
    });
    expect(errorMessage('timeout', 'Late.')).toEqual({
      v: 1,
      type: 'error',
      code: 'timeout',
      message: 'Late.'
    });
  });

  it('knows every direction an example uses', () => {
    const directions = new Set(
      [...examples.valid, ...examples.invalid].map(e => e.direction)
    );
    expect([...directions].sort()).toEqual(['kernel_to_lab', 'lab_to_kernel']);
  });
});

describe('api_base_url of a session', () => {
  const session = (examples.valid as IExample[]).find(
    e =>
      e.direction === 'lab_to_kernel' &&
      (e.message as { state?: string }).state === 'signed_in'
  )!.message as Record<string, unknown>;

  it.each([
    'https://gcp-us-east1.api.carto.com',
    'http://127.0.0.1:8123',
    'http://localhost',
    'http://[::1]:9000',
    ''
  ])('accepts %p (https, or http on loopback)', url => {
    const message = { ...session, api_base_url: url };
    expect(parseMessage(message, 'lab_to_kernel')).toEqual(message);
  });

  it.each([
    'http://api.example.com',
    'javascript:alert(1)',
    'ftp://x',
    'https://u:p@h'
  ])('refuses %p as the kernel does', url => {
    expect(() =>
      parseMessage({ ...session, api_base_url: url }, 'lab_to_kernel')
    ).toThrow(/api_base_url/);
  });
});
