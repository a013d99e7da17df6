// Tab sync: what this tab does with each message of another tab.
import { ServerScope } from '../scope';
import { IStoredSession } from '../storedsession';
import { ITabChannel, TabMessage, TabSync } from '../tabsync';

function stored(sessionId: string, expiresAt: number): IStoredSession {
  return { v: 1, sessionId, expiresAt } as IStoredSession;
}

function tab(current: IStoredSession | null) {
  const posted: TabMessage[] = [];
  const channel: ITabChannel = {
    onmessage: null,
    postMessage: message => posted.push(message),
    close: jest.fn()
  };
  const adopt = jest.fn(async () => undefined);
  const signedOut = jest.fn(async () => undefined);
  const sync = new TabSync({
    scope: new ServerScope('http://127.0.0.1:8888/', {
      serverOwner: null,
      serverName: '',
      user: 'me',
      isOwner: true
    }),
    current: () => current,
    adopt,
    signedOut,
    channel
  });
  return { sync, channel, posted, adopt, signedOut };
}

describe('TabSync', () => {
  it('answers hello with its session', async () => {
    const mine = stored('s1', 2000);
    const { sync, posted } = tab(mine);
    await sync.receive({ type: 'hello' });
    expect(posted).toEqual([{ type: 'session', stored: mine }]);
  });

  it('stays quiet on hello without a session', async () => {
    const { sync, posted } = tab(null);
    await sync.receive({ type: 'hello' });
    expect(posted).toEqual([]);
  });

  it('adopts a session when it has none', async () => {
    const { sync, adopt } = tab(null);
    const theirs = stored('s1', 1000);
    await sync.receive({ type: 'session', stored: theirs });
    expect(adopt).toHaveBeenCalledWith(theirs);
  });

  it('adopts a refresh of its session, and another sign-in', async () => {
    const { sync, adopt } = tab(stored('s1', 1000));
    await sync.receive({ type: 'session', stored: stored('s1', 2000) });
    await sync.receive({ type: 'session', stored: stored('s2', 500) });
    expect(adopt).toHaveBeenCalledTimes(2);
  });

  it('ignores an older copy of its own session', async () => {
    const { sync, adopt } = tab(stored('s1', 2000));
    await sync.receive({ type: 'session', stored: stored('s1', 1000) });
    expect(adopt).not.toHaveBeenCalled();
  });

  it('signs out when another tab did', async () => {
    const { sync, signedOut } = tab(stored('s1', 2000));
    await sync.receive({ type: 'signed-out' });
    expect(signedOut).toHaveBeenCalledTimes(1);
  });

  it('ignores unknown messages', async () => {
    const { sync, adopt, signedOut, posted } = tab(stored('s1', 2000));
    await sync.receive({ type: 'other' } as any);
    await sync.receive(null as any);
    expect([adopt, signedOut].map(f => f.mock.calls.length)).toEqual([0, 0]);
    expect(posted).toEqual([]);
  });

  it('receives from the channel and posts to it', async () => {
    const { sync, channel, posted, signedOut } = tab(null);
    channel.onmessage!({ data: { type: 'signed-out' } } as MessageEvent);
    await Promise.resolve();
    expect(signedOut).toHaveBeenCalled();
    sync.hello();
    sync.signedOut();
    expect(posted).toEqual([{ type: 'hello' }, { type: 'signed-out' }]);
    sync.dispose();
    expect(channel.close).toHaveBeenCalled();
  });

  it('with rememberSession off, shares its in-memory key with the session', async () => {
    const key = { type: 'secret' } as CryptoKey;
    const posted: TabMessage[] = [];
    const mine = stored('s1', 2000);
    const sync = new TabSync({
      scope: new ServerScope('http://127.0.0.1:8888/', {
        serverOwner: null,
        serverName: '',
        user: 'me',
        isOwner: true
      }),
      current: () => mine,
      adopt: jest.fn(async () => undefined),
      signedOut: jest.fn(async () => undefined),
      key: () => key,
      channel: {
        onmessage: null,
        postMessage: message => posted.push(message),
        close: jest.fn()
      }
    });
    await sync.receive({ type: 'hello' });
    expect(posted).toEqual([{ type: 'session', stored: mine, key }]);
  });

  it('hands the key that came with a session to adopt', async () => {
    const key = { type: 'secret' } as CryptoKey;
    const { sync, adopt } = tab(null);
    const theirs = stored('s1', 1000);
    await sync.receive({ type: 'session', stored: theirs, key });
    expect(adopt).toHaveBeenCalledWith(theirs, key);
  });
});
