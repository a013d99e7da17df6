// The server scope: every browser store, channel and lock is named per server,
// and a sealed session opens only for the server and the clear fields it was
// sealed with (AES-GCM additional data).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { StateDB } from '@jupyterlab/statedb';

import { SessionPersistence } from '../persistence';
import { refreshLockName } from '../refresh';
import {
  additionalData,
  callbackChannelName,
  canonicalJson,
  IServerIdentity,
  parseIdentity,
  ServerScope
} from '../scope';
import { ISecrets, IStoredSession } from '../storedsession';
import { tabChannelName } from '../tabsync';
import { databaseName, Vault } from '../vault';

// jsdom has no WebCrypto subtle API nor TextEncoder; Node's implement the same web APIs.
/* eslint-disable @typescript-eslint/no-require-imports */
if (!globalThis.crypto?.subtle) {
  Object.defineProperty(globalThis, 'crypto', {
    value: require('crypto').webcrypto,
    configurable: true
  });
}
(globalThis as any).TextEncoder ??= require('util').TextEncoder;
(globalThis as any).TextDecoder ??= require('util').TextDecoder;
/* eslint-enable @typescript-eslint/no-require-imports */

const HUB = 'http://127.0.0.1:8000';
const CALLBACK_PAGE = path.resolve(
  __dirname,
  '../../jupyterlab_carto_auth/server/static/callback.html'
);
// Runs the page's script as a browser would at a URL (shared with the server's tests).
const PAGE_RUNNER = path.resolve(
  __dirname,
  '../../tests/server/run_callback_page.mjs'
);

function hubScope(
  owner: string,
  user = owner,
  serverName = '',
  baseUrl = `${HUB}/user/${owner}/${serverName ? serverName + '/' : ''}`
): ServerScope {
  const identity: IServerIdentity = {
    serverOwner: owner,
    serverName,
    user,
    isOwner: user === owner
  };
  return new ServerScope(baseUrl, identity);
}

function namesOf(scope: ServerScope): string[] {
  return [databaseName(scope), tabChannelName(scope), refreshLockName(scope)];
}

const SECRETS: ISecrets = {
  accessToken: 'at-alice',
  refreshToken: 'rt-alice',
  idToken: null,
  scope: 'openid',
  profile: { sub: 'alice' } as any,
  client: {
    issuer: 'https://auth.example.test/',
    clientId: 'client',
    tokenUrl: 'https://auth.example.test/oauth/token',
    revocationUrl: '',
    audience: 'carto-cloud-native-api',
    scope: 'openid',
    tokenTransport: 'auto'
  }
};

function fields(): Omit<IStoredSession, 'sealed'> {
  return {
    v: 1,
    sessionId: 's-1',
    user: { email: 'alice@example.test', name: 'Alice', org: 'org-a' },
    obtainedAt: 1_000,
    expiresAt: 3_601_000,
    apiBaseUrl: 'https://api.example.test',
    region: 'eu',
    canRefresh: true
  };
}

/** One browser: a single AES-GCM key shared by every Vault (the worst case). */
async function browserKey(): Promise<CryptoKey> {
  return crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
    'encrypt',
    'decrypt'
  ]);
}

function persistence(scope: ServerScope, key: CryptoKey): SessionPersistence {
  return new SessionPersistence(
    new StateDB(),
    () => true,
    scope,
    new Vault(scope, async () => key)
  );
}

async function sealedFor(
  scope: ServerScope,
  key: CryptoKey
): Promise<IStoredSession> {
  const clear = fields();
  return {
    ...clear,
    sealed: await persistence(scope, key).seal(SECRETS, clear)
  };
}

describe('ServerScope names', () => {
  it('gives every server of one origin its own database, channel and lock', () => {
    const scopes = [
      hubScope('alice'),
      hubScope('bob'),
      hubScope('bob', 'bob', 'analysis'),
      // Same path, another owner (a renamed user, a reused URL).
      hubScope('carol', 'carol', '', `${HUB}/user/bob/`),
      new ServerScope(`${HUB}/`, {
        serverOwner: null,
        serverName: '',
        user: 'x',
        isOwner: true
      })
    ];
    const names = scopes.flatMap(namesOf);
    expect(new Set(names).size).toBe(names.length);
  });

  it('names the same server alike whoever looks at it', () => {
    // Alice's admin view of bob's server shares its scope with bob's own tabs
    // in her browser only if she opens his server: the names follow the server.
    expect(namesOf(hubScope('bob', 'alice'))).toEqual(
      namesOf(hubScope('bob', 'bob'))
    );
  });

  it('keeps the base names, so they stay recognisable', () => {
    const [db, channel, lock] = namesOf(hubScope('alice'));
    expect(db.startsWith('jupyterlab-carto-auth ')).toBe(true);
    expect(channel.startsWith('jupyterlab-carto-auth-session ')).toBe(true);
    expect(lock.startsWith('jupyterlab-carto-auth-refresh ')).toBe(true);
    expect(db).toContain('/user/alice/');
  });

  it('names the callback channel by the base path, as callback.html does', () => {
    expect(callbackChannelName(`${HUB}/user/alice/`)).toBe(
      'jupyterlab-carto-auth /user/alice/'
    );
    // The page's own script, run at {base}carto-auth/callback with the few
    // browser objects it touches, posts on the channel the lab listens on.
    const page = fs.readFileSync(CALLBACK_PAGE, 'utf-8');
    const scripts = [...page.matchAll(/<script>([\s\S]*?)<\/script>/g)];
    expect(scripts).toHaveLength(1);
    for (const base of ['/', '/user/alice/', '/user/a%40b.c/named-1/']) {
      const href = `${HUB}${base}carto-auth/callback?code=c&state=s`;
      const out = execFileSync(process.execPath, [PAGE_RUNNER], {
        input: JSON.stringify([scripts[0][1], href])
      });
      const posted = JSON.parse(out.toString()).map(
        ([name]: [string, unknown]) => name
      );
      expect(posted).toEqual([callbackChannelName(`${HUB}${base}`)]);
    }
  });

  it('says why kernels get nothing on another user’s server', () => {
    const trans = {
      __: (text: string, ...args: string[]) => text.replace('%1', args[0])
    };
    expect(hubScope('bob', 'alice').notOwnerReason(trans as any)).toBe(
      'This Jupyter server belongs to bob: your CARTO session is not shared with its kernels.'
    );
    expect(hubScope('bob').notOwnerReason(trans as any)).toBeNull();
  });
});

describe('parseIdentity', () => {
  it('reads the endpoint answer', () => {
    expect(
      parseIdentity({
        server_owner: 'bob',
        server_name: '',
        user: 'alice',
        is_owner: false
      })
    ).toEqual({
      serverOwner: 'bob',
      serverName: '',
      user: 'alice',
      isOwner: false
    });
  });

  it('refuses a malformed answer', () => {
    expect(() => parseIdentity({ server_owner: 'bob' })).toThrow(/malformed/);
    expect(() =>
      parseIdentity({
        server_owner: 'bob',
        server_name: '',
        user: 'alice',
        is_owner: 'yes'
      })
    ).toThrow(/malformed/);
  });
});

describe('canonicalJson', () => {
  it('is the same text whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, null], c: 'x' } })).toBe(
      canonicalJson({ a: { c: 'x', d: [1, null] }, b: 1 })
    );
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
  });
});

describe('the sealed session', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('opens for its own server, after a JSON round trip (lab state)', async () => {
    const key = await browserKey();
    const stored = await sealedFor(hubScope('alice'), key);
    const restored = JSON.parse(JSON.stringify(stored));
    await expect(
      persistence(hubScope('alice'), key).open(restored)
    ).resolves.toEqual(SECRETS);
    expect(warn).not.toHaveBeenCalled();
  });

  it('does not open on another server, even under the same key', async () => {
    const key = await browserKey();
    const stored = await sealedFor(hubScope('alice'), key);
    for (const other of [
      hubScope('bob', 'alice'),
      hubScope('alice', 'alice', 'analysis'),
      hubScope('carol', 'carol', '', `${HUB}/user/alice/`)
    ]) {
      await expect(persistence(other, key).open(stored)).resolves.toBeNull();
    }
    expect(warn).toHaveBeenCalled();
    for (const call of warn.mock.calls) {
      expect(call.join(' ')).not.toMatch(/at-alice|rt-alice/);
    }
  });

  it.each([
    ['apiBaseUrl', 'https://attacker.example.test'],
    ['user', { email: 'mallory@example.test', name: 'M', org: 'org-a' }],
    ['expiresAt', 9_999_999_999_999],
    ['sessionId', 's-2'],
    ['canRefresh', false],
    ['region', 'us']
  ])(
    'does not open when its clear field %s was edited',
    async (field, value) => {
      const key = await browserKey();
      const scope = hubScope('alice');
      const stored = await sealedFor(scope, key);
      const edited = { ...stored, [field]: value } as IStoredSession;
      await expect(persistence(scope, key).open(edited)).resolves.toBeNull();
      expect(warn).toHaveBeenCalledTimes(1);
    }
  );

  it('binds the scope and the fields into the additional data', () => {
    const scope = hubScope('alice');
    const text = new TextDecoder().decode(additionalData(scope, fields()));
    expect(text).toContain(JSON.stringify(scope.id));
    expect(text).toContain('https://api.example.test');
    expect(text).not.toContain('at-alice');
  });
});
