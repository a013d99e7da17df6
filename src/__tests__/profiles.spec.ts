// Several CARTO accounts at once: the profiles manager (profiles.ts) over fake
// sessions, and the kernel bridge routing each kernel to its notebook's
// profile (kernels.ts) over fake kernels. The real sessions, stores and
// kernels meet in ui-tests/tests/profiles.spec.ts.
import { nullTranslator } from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';

import { KernelBridge } from '../kernels';
import { STATE_KEY, stateKeyOf } from '../persistence';
import {
  CartoProfiles,
  IBinding,
  IProfile,
  IProfileList,
  IProfileSession,
  IProfileStore,
  parseBinding,
  parseProfileList,
  ProfileNameError
} from '../profiles';
import { ServerScope } from '../scope';
import { tabChannelName } from '../tabsync';
import { refreshLockName } from '../refresh';
import { databaseName } from '../vault';
import { ISignInOptions } from '../tokens';
import {
  accessOf,
  ANA,
  contextOf,
  FakeKernel,
  FakeSession,
  HELLO,
  ILabSession,
  Sent,
  settle
} from './fakekernels';

const BOB: ILabSession = {
  access_token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.Ym9ic2lnbmF0dXJl',
  expires_at: 1796000500,
  api_base_url: 'https://gcp-us-east1.api.carto.com',
  user: { email: 'bob@example.com', name: 'Bob', org: 'globex' }
};

/** A fake session per slot; `signInGives` says who signs in next. */
class Sessions {
  readonly bySlot = new Map<string, FakeSession>();
  next: ILabSession | null = null;
  disposed: string[] = [];
  create = (slot: string): IProfileSession => {
    const fake = new FakeSession(null);
    this.bySlot.set(slot, fake);
    return Object.assign(fake, {
      restore: async () => undefined,
      dispose: () => this.disposed.push(slot),
      signIn: async (_options?: ISignInOptions) => {
        if (!this.next) {
          throw new Error('cancelled');
        }
        fake.becomes(this.next);
      }
    }) as unknown as IProfileSession;
  };
}

function memoryStore(initial: IProfileList | null = null) {
  let value = initial;
  const store: IProfileStore & { value: () => IProfileList | null } = {
    load: () => (value ? JSON.parse(JSON.stringify(value)) : null),
    save: v => {
      value = v;
    },
    value: () => value
  };
  return store;
}

function profilesOf(store = memoryStore(), sessions = new Sessions()) {
  let n = 0;
  const profiles = new CartoProfiles({
    create: sessions.create,
    store,
    newSlot: () => `p${++n}`
  });
  return { profiles, sessions, store };
}

describe('CartoProfiles', () => {
  it('keeps the stores of a lab before profiles for the default slot', () => {
    // Given the scope of a server and the default slot of a first start
    const scope = new ServerScope('http://127.0.0.1:8888/lab/', {
      serverOwner: null,
      serverName: '',
      user: 'ana',
      isOwner: true
    });
    const { profiles } = profilesOf();
    const slot = profiles.defaultProfile.slot;

    // Then it is the one profile, and its stores are those of today
    expect(profiles.profiles.map(p => p.slot)).toEqual(['']);
    expect(slot).toBe('');
    const same = scope.forProfile(slot);
    expect(same).toBe(scope);
    expect(stateKeyOf(slot)).toBe(STATE_KEY);
    expect(databaseName(same)).toBe(databaseName(scope));
    // Exactly the names of a lab before profiles (0.1.0), so that its stored
    // session is restored after the upgrade
    const id = '["v1","http://127.0.0.1:8888/lab/","",""]';
    expect(scope.id).toBe(id);
    expect(STATE_KEY).toBe('jupyterlab-carto-auth:session');
    expect(databaseName(same)).toBe(`jupyterlab-carto-auth ${id}`);
    expect(tabChannelName(same)).toBe(`jupyterlab-carto-auth-session ${id}`);
    expect(refreshLockName(same)).toBe(`jupyterlab-carto-auth-refresh ${id}`);
    // And another slot has stores, a channel and a lock of its own
    const other = scope.forProfile('p1');
    expect(databaseName(other)).not.toBe(databaseName(scope));
    expect(tabChannelName(other)).not.toBe(tabChannelName(scope));
    expect(refreshLockName(other)).not.toBe(refreshLockName(scope));
    expect(stateKeyOf('p1')).not.toBe(STATE_KEY);
    expect(other.id).not.toBe(scope.id);
  });

  it('with the one profile signed out, "another account" is the sign-in of today', async () => {
    const { profiles, sessions, store } = profilesOf();
    sessions.next = ANA;
    const profile = await profiles.add({});
    expect(profile.slot).toBe('');
    expect(profiles.profiles).toHaveLength(1);
    expect(profile.name).toBe('ana@example.com · acme');
    expect(store.value()?.entries[0]).toMatchObject({
      slot: '',
      email: 'ana@example.com',
      org: 'acme'
    });
  });

  it('adds a second account as a profile that a reload restores', async () => {
    // Given Ana signed in
    const { profiles, sessions, store } = profilesOf();
    sessions.next = ANA;
    await profiles.add({});
    // When Bob signs in as another account
    sessions.next = BOB;
    const bob = await profiles.add({ organization: 'globex' });
    // Then both are profiles, Ana the default
    expect(profiles.profiles.map(p => [p.name, p.isDefault])).toEqual([
      ['ana@example.com · acme', true],
      ['bob@example.com · globex', false]
    ]);
    expect(bob.session.info.user?.email).toBe('bob@example.com');
    // And a new lab (a reload) finds both slots
    const reloaded = profilesOf(store);
    expect(reloaded.profiles.profiles.map(p => [p.slot, p.name])).toEqual([
      ['', 'ana@example.com · acme'],
      ['p1', 'bob@example.com · globex']
    ]);
  });

  it('keeps one profile for the same account signed in twice', async () => {
    const { profiles, sessions } = profilesOf();
    sessions.next = ANA;
    await profiles.add({});
    const again = await profiles.add({});
    expect(again.slot).toBe('');
    expect(profiles.profiles).toHaveLength(1);
    expect(sessions.disposed).toEqual(['p1']);
  });

  it('forgets a new profile whose sign-in failed', async () => {
    const { profiles, sessions } = profilesOf();
    sessions.next = ANA;
    await profiles.add({});
    sessions.next = null;
    await expect(profiles.add({})).rejects.toThrow('cancelled');
    expect(profiles.profiles).toHaveLength(1);
    expect(sessions.disposed).toEqual(['p1']);
  });

  it('renames a profile to a unique name of 1 to 128 characters', async () => {
    const { profiles, sessions } = profilesOf();
    sessions.next = ANA;
    await profiles.add({});
    sessions.next = BOB;
    const bob = await profiles.add({});
    const renamed: { from: string; to: string }[] = [];
    profiles.renamed.connect((_, change) => renamed.push(change));

    profiles.rename(bob.slot, '  Work  ');
    expect(profiles.get(bob.slot)?.name).toBe('Work');
    expect(renamed).toEqual([{ from: 'bob@example.com · globex', to: 'Work' }]);
    expect(() => profiles.rename('', 'Work')).toThrow(ProfileNameError);
    expect(() => profiles.rename('', 'Work')).toThrow(
      'Another profile has that name. Type another name.'
    );
    expect(() => profiles.rename('', '   ')).toThrow('1 to 128 characters');
    expect(() => profiles.rename('', 'x'.repeat(129))).toThrow(
      '1 to 128 characters'
    );
    profiles.rename('', 'x'.repeat(128));
    expect(profiles.defaultProfile.name).toHaveLength(128);
    // Counted as JavaScript's length (docs/protocol.md): 64 emoji are 128
    expect(() => profiles.rename('', '😀'.repeat(65))).toThrow(
      '1 to 128 characters'
    );
    profiles.rename('', '😀'.repeat(64));
  });

  it('signs one profile out and keeps the other; the default moves on', async () => {
    const { profiles, sessions } = profilesOf();
    sessions.next = ANA;
    await profiles.add({});
    sessions.next = BOB;
    const bob = await profiles.add({});
    await profiles.signOut('');
    expect(profiles.profiles.map(p => p.slot)).toEqual([bob.slot]);
    expect(profiles.defaultProfile.slot).toBe(bob.slot);
    expect(bob.session.info.status).toBe('signed-in');
    // The last one stays, signed out, as before profiles
    await profiles.signOut(bob.slot);
    expect(profiles.profiles).toHaveLength(1);
    expect(profiles.defaultProfile.session.info.status).toBe('signed-out');
  });

  it('signs every profile out', async () => {
    const { profiles, sessions } = profilesOf();
    sessions.next = ANA;
    await profiles.add({});
    sessions.next = BOB;
    await profiles.add({});
    await profiles.signOutAll();
    expect(profiles.profiles).toHaveLength(1);
    expect(
      [...sessions.bySlot.values()].map(s => s.info.status).sort()
    ).toEqual(['signed-out', 'signed-out']);
  });

  it('resolves a binding by name, then by organization, else the default', async () => {
    const { profiles, sessions } = profilesOf();
    sessions.next = ANA;
    await profiles.add({});
    sessions.next = BOB;
    const bob = await profiles.add({});
    const resolve = (binding: IBinding | null) => {
      const { profile, matched } = profiles.resolve(binding);
      return [profile.slot, matched];
    };
    expect(resolve(null)).toEqual(['', true]);
    expect(resolve({ profile: 'bob@example.com · globex', org: 'x' })).toEqual([
      bob.slot,
      true
    ]);
    // Renamed on another machine: the organization still finds it
    expect(resolve({ profile: 'Bob at Globex', org: 'globex' })).toEqual([
      bob.slot,
      true
    ]);
    // An account this lab is not signed in to: the default, unmatched
    expect(
      resolve({ profile: 'eve@example.com · initech', org: 'initech' })
    ).toEqual(['', false]);
  });

  it('reads only well-formed lists and bindings', () => {
    expect(parseProfileList(null)).toBeNull();
    expect(parseProfileList({ entries: [] })).toBeNull();
    expect(
      parseProfileList({
        entries: [
          { slot: '', name: 'A' },
          { slot: '../x' },
          { slot: '', name: 'dup' },
          { slot: 'p1', name: 7 }
        ],
        default: 'nope'
      })
    ).toEqual({
      entries: [
        { slot: '', name: 'A', email: null, org: null },
        { slot: 'p1', name: null, email: null, org: null }
      ],
      default: ''
    });
    expect(parseBinding({ profile: 'A', org: 'acme' })).toEqual({
      profile: 'A',
      org: 'acme'
    });
    expect(parseBinding({ profile: '', org: 'acme' })).toBeNull();
    expect(parseBinding({ profile: 'A', token: 'x' })).toEqual({
      profile: 'A',
      org: null
    });
    expect(parseBinding('A')).toBeNull();
  });
});

/** Two profiles (Ana default, Bob) and a bridge over kernels bound by a map. */
async function twoProfiles(
  options: { access?: ReturnType<typeof accessOf> } = {}
) {
  const { profiles, sessions } = profilesOf();
  sessions.next = ANA;
  await profiles.add({});
  sessions.next = BOB;
  const bob = await profiles.add({});
  const log: Sent[] = [];
  const bindings = new Map<string, IBinding>();
  const bindingsChanged = new Signal<unknown, void>({});
  const grants = options.access ?? accessOf('all');
  const bridge = new KernelBridge({
    access: grants.access,
    session: profiles.defaultProfile.session,
    profiles,
    bindingOf: context => bindings.get(context.path) ?? null,
    bind: (context, profile: IProfile) => {
      bindings.set(context.path, { profile: profile.name, org: profile.org });
      bindingsChanged.emit();
    },
    bindingsChanged,
    trans: nullTranslator.load('jupyterlab-carto-auth'),
    signIn: async () => undefined,
    signInTimeoutSeconds: () => 300
  });
  const bind = (path: string, profile: IProfile | null) => {
    if (profile) {
      bindings.set(path, { profile: profile.name, org: profile.org });
    } else {
      bindings.delete(path);
    }
    bindingsChanged.emit();
  };
  const kernel = (name: string) => {
    const k = new FakeKernel(name, log);
    bridge.watch(contextOf(k));
    return k;
  };
  return {
    profiles,
    sessions,
    bob,
    log,
    bridge,
    bind,
    kernel,
    bindings,
    grants
  };
}

/** The access tokens each kernel was sent, in order. */
function tokensOf(log: Sent[], kernel: string): (string | null)[] {
  return log
    .filter(s => s.kernel === kernel && 'comm_msg' in s)
    .map(s => (s as any).comm_msg)
    .filter(m => m.type === 'session')
    .map(m => m.access_token ?? null);
}

describe('KernelBridge with profiles', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('gives each kernel its notebook profile only, and switches it at once', async () => {
    const { bob, log, bind, kernel } = await twoProfiles();
    bind('work/k2.ipynb', bob);
    const k1 = kernel('k1');
    const k2 = kernel('k2');
    k1.open('c1', HELLO);
    k2.open('c2', HELLO);
    await settle();
    expect(tokensOf(log, 'k1')).toEqual([ANA.access_token]);
    expect(tokensOf(log, 'k2')).toEqual([BOB.access_token]);

    // When k1's notebook is switched to Bob: k1 gets Bob's token at once
    bind('work/k1.ipynb', bob);
    await settle();
    expect(tokensOf(log, 'k1')).toEqual([ANA.access_token, BOB.access_token]);
    const last = (log.at(-1) as any).comm_msg;
    // A kernel of today's package gets today's message: no profile fields
    expect(last.reason).toBe('sign_in');
    expect(last.profile).toBeUndefined();
    expect(last.profiles).toBeUndefined();
    expect(tokensOf(log, 'k2')).toEqual([BOB.access_token]);
  });

  it('signing out one profile leaves the other profile kernels signed in', async () => {
    // Given k1 allowed for Ana (the default), k2 bound to Bob and allowed for him
    const access = accessOf('ask', ['work/k1.ipynb']);
    const { profiles, bob, log, bind, kernel } = await twoProfiles({ access });
    access.access.grant('work/k2.ipynb', bob.slot);
    bind('work/k2.ipynb', bob);
    kernel('k1').open('c1', HELLO);
    kernel('k2').open('c2', HELLO);
    await settle();
    log.length = 0;
    // When Ana signs out
    await profiles.signOut('');
    await settle();
    // Then k1 holds no token: Bob is the default now, and k1 is not allowed for him
    const k1 = log.filter(s => s.kernel === 'k1').map(s => (s as any).comm_msg);
    expect(k1.map(m => [m.state, m.reason, m.access_token ?? null])).toEqual([
      ['signed_out', 'not_granted', null]
    ]);
    expect(access.prompts.map(p => p.request)).toMatchObject([
      { path: 'work/k1.ipynb', profile: bob.slot }
    ]);
    // And k2 was sent nothing: it keeps Bob's token
    expect(log.filter(s => s.kernel === 'k2')).toEqual([]);
  });

  it('asks for a grant per notebook and profile', async () => {
    // Given k1's notebook allowed for Ana (default) only
    const access = accessOf('ask', ['work/k1.ipynb']);
    const { bob, log, bind, kernel } = await twoProfiles({ access });
    kernel('k1').open('c1', HELLO);
    await settle();
    expect(tokensOf(log, 'k1')).toEqual([ANA.access_token]);
    // When it is switched to Bob: not granted, and the user is asked for (k1, Bob)
    bind('work/k1.ipynb', bob);
    await settle();
    const last = (log.at(-1) as any).comm_msg;
    expect(last).toMatchObject({ state: 'signed_out', reason: 'not_granted' });
    expect(access.prompts.map(p => p.request)).toMatchObject([
      { path: 'work/k1.ipynb', profile: bob.slot }
    ]);
    access.prompts[0].answer('allow');
    await settle();
    expect(tokensOf(log, 'k1').at(-1)).toBe(BOB.access_token);
    expect(access.access.isGranted('work/k1.ipynb', bob.slot)).toBe(true);
    expect(access.access.isGranted('work/k1.ipynb')).toBe(true);
  });

  it('tells feature kernels which profile and profiles, and switches on request', async () => {
    const { bob, log, kernel, bindings } = await twoProfiles();
    const k1 = kernel('k1');
    k1.open('c1', { ...HELLO, features: ['profiles'] });
    await settle();
    const attach = (log.at(-1) as any).comm_msg;
    expect(attach.profile).toEqual({
      name: 'ana@example.com · acme',
      org: 'acme'
    });
    expect(attach.profiles).toEqual([
      {
        name: 'ana@example.com · acme',
        email: 'ana@example.com',
        org: 'acme',
        default: true
      },
      {
        name: 'bob@example.com · globex',
        email: 'bob@example.com',
        org: 'globex',
        default: false
      }
    ]);
    // A request for Bob's profile binds the notebook and answers as Bob
    k1.send('c1', {
      v: 1,
      type: 'request',
      id: 'r1',
      interactive: false,
      org: null,
      min_ttl: 0,
      reply_via: 'comm',
      profile: bob.name
    });
    await settle();
    const reply = (log.at(-1) as any).comm_msg;
    expect(reply).toMatchObject({
      id: 'r1',
      access_token: BOB.access_token,
      profile: { name: bob.name, org: 'globex' }
    });
    expect(bindings.get('work/k1.ipynb')).toEqual({
      profile: bob.name,
      org: 'globex'
    });
    // An unknown name: unknown_profile, listing the names
    k1.send('c1', {
      v: 1,
      type: 'request',
      id: 'r2',
      interactive: false,
      org: null,
      min_ttl: 0,
      reply_via: 'comm',
      profile: 'nobody'
    });
    await settle();
    const error = (log.at(-1) as any).comm_msg;
    expect(error).toMatchObject({
      type: 'error',
      code: 'unknown_profile',
      id: 'r2'
    });
    expect(error.message).toContain('"bob@example.com · globex"');
    // A request by organization picks that organization's profile
    k1.send('c1', {
      v: 1,
      type: 'request',
      id: 'r3',
      interactive: false,
      org: 'acme',
      min_ttl: 0,
      reply_via: 'comm'
    });
    await settle();
    expect((log.at(-1) as any).comm_msg).toMatchObject({
      id: 'r3',
      access_token: ANA.access_token
    });
  });

  it('tells a feature kernel of a lab signed in to no account: profiles [] and no profile', async () => {
    const { profiles } = profilesOf();
    const log: Sent[] = [];
    const bridge = new KernelBridge({
      access: accessOf('all').access,
      session: profiles.defaultProfile.session,
      profiles,
      trans: nullTranslator.load('jupyterlab-carto-auth'),
      signIn: async () => undefined,
      signInTimeoutSeconds: () => 300
    });
    const k1 = new FakeKernel('k1', log);
    bridge.watch(contextOf(k1));
    k1.open('c1', { ...HELLO, features: ['profiles'] });
    await settle();
    expect((log.at(-1) as any).comm_msg).toEqual({
      v: 1,
      type: 'session',
      state: 'signed_out',
      reason: 'attach',
      profiles: []
    });
  });

  it('answers a kernel of today by its binding, whatever org it asks', async () => {
    const { bob, log, bind, kernel } = await twoProfiles();
    bind('work/k1.ipynb', bob);
    const k1 = kernel('k1');
    k1.open('c1', HELLO);
    await settle();
    k1.send('c1', {
      v: 1,
      type: 'request',
      id: 'r1',
      interactive: false,
      org: 'acme',
      min_ttl: 0,
      reply_via: 'comm'
    });
    await settle();
    const reply = (log.at(-1) as any).comm_msg;
    expect(reply).toMatchObject({ id: 'r1', access_token: BOB.access_token });
    expect(reply.profile).toBeUndefined();
  });
});
