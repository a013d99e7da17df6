// KernelAccess: the user's grants, the prompt's bounds (one per path, one on
// screen at a time, the Deny cool-down), revocation, `kernelAccess: all`'s
// confirmation, and the browser store that keeps grants across reloads.
import {
  AccessAnswer,
  accessStoreKey,
  DENY_COOL_DOWN_MS,
  IAccessRequest,
  IStoredAccess,
  KernelAccess,
  LocalAccessStore
} from '../access';

interface IShown {
  request: IAccessRequest;
  answer(value: AccessAnswer): void;
  closed: boolean;
}

function setUp(options: { stored?: IStoredAccess; confirmAll?: boolean } = {}) {
  let stored: IStoredAccess = options.stored ?? {
    grants: [],
    allConfirmed: false
  };
  let now = 1000;
  const shown: IShown[] = [];
  const confirmations: number[] = [];
  const access = new KernelAccess({
    store: {
      load: () => stored,
      save: value => {
        stored = value;
      }
    },
    prompt: async request => {
      let resolve: (value: AccessAnswer) => void = () => undefined;
      const answer = new Promise<AccessAnswer>(r => (resolve = r));
      const entry: IShown = { request, answer: resolve, closed: false };
      shown.push(entry);
      return {
        answer,
        close: () => {
          entry.closed = true;
          resolve('dismissed');
        }
      };
    },
    confirmAll: async () => {
      confirmations.push(now);
      return options.confirmAll ?? false;
    },
    now: () => now
  });
  return {
    access,
    shown,
    confirmations,
    stored: () => stored,
    advance: (ms: number) => (now += ms)
  };
}

/** Let pending promise chains run. */
const settle = () => new Promise(resolve => setTimeout(resolve, 0));

const A = { path: 'work/a.ipynb', label: 'work/a.ipynb' };
const B = { path: 'work/b.ipynb', label: 'work/b.ipynb' };

describe('KernelAccess', () => {
  it('asks once per path: every ask while the prompt is open shares its answer', async () => {
    const { access, shown, stored } = setUp();
    const first = access.ask(A);
    const second = access.ask(A);
    await settle();
    expect(shown.map(s => s.request.path)).toEqual(['work/a.ipynb']);
    shown[0].answer('allow');
    expect(await first.answer).toBe(true);
    expect(await second.answer).toBe(true);
    expect(access.isGranted('work/a.ipynb')).toBe(true);
    expect(stored().grants.map(g => g.path)).toEqual(['work/a.ipynb']);
    // Granted: no prompt any more
    expect(await access.ask(A).answer).toBe(true);
    expect(shown).toHaveLength(1);
  });

  it('shows one prompt at a time: the next waits for the answer to the first', async () => {
    const { access, shown } = setUp();
    const a = access.ask(A);
    const b = access.ask(B);
    await settle();
    expect(shown.map(s => s.request.path)).toEqual(['work/a.ipynb']);
    shown[0].answer('deny');
    expect(await a.answer).toBe(false);
    await settle();
    expect(shown.map(s => s.request.path)).toEqual([
      'work/a.ipynb',
      'work/b.ipynb'
    ]);
    shown[1].answer('allow');
    expect(await b.answer).toBe(true);
  });

  it('answers a denied path false without a prompt until the cool-down ends', async () => {
    const { access, shown, advance } = setUp();
    const first = access.ask(A);
    await settle();
    shown[0].answer('deny');
    expect(await first.answer).toBe(false);
    expect(access.isDenied('work/a.ipynb')).toBe(true);
    expect(access.denied).toEqual(['work/a.ipynb']);
    for (let i = 0; i < 5; i++) {
      expect(await access.ask(A).answer).toBe(false);
    }
    expect(shown).toHaveLength(1);
    advance(DENY_COOL_DOWN_MS - 1);
    expect(await access.ask(A).answer).toBe(false);
    advance(1);
    expect(access.denied).toEqual([]);
    void access.ask(A);
    await settle();
    expect(shown).toHaveLength(2);
  });

  it('a dismissed prompt (the bound) answers false with no cool-down', async () => {
    const { access, shown } = setUp();
    const asked = access.ask(A);
    await settle();
    asked.dismiss();
    expect(await asked.answer).toBe(false);
    expect(shown[0].closed).toBe(true);
    expect(access.isDenied('work/a.ipynb')).toBe(false);
    void access.ask(A);
    await settle();
    expect(shown).toHaveLength(2);
  });

  it('a prompt dismissed before its turn is never shown', async () => {
    const { access, shown } = setUp();
    void access.ask(A);
    const b = access.ask(B);
    b.dismiss();
    await settle();
    shown[0].answer('allow');
    expect(await b.answer).toBe(false);
    await settle();
    expect(shown.map(s => s.request.path)).toEqual(['work/a.ipynb']);
  });

  it('revoke takes the grant back, saves, and signals', async () => {
    const { access, stored } = setUp({
      stored: {
        grants: [
          { path: 'work/a.ipynb', grantedAt: 1 },
          { path: 'work/b.ipynb', grantedAt: 2 }
        ],
        allConfirmed: false
      }
    });
    let changes = 0;
    access.changed.connect(() => changes++);
    access.revoke('work/a.ipynb');
    expect(access.isGranted('work/a.ipynb')).toBe(false);
    expect(access.isGranted('work/b.ipynb')).toBe(true);
    expect(stored().grants.map(g => g.path)).toEqual(['work/b.ipynb']);
    expect(changes).toBe(1);
  });

  it('grant from the account panel ends a Deny', async () => {
    const { access, shown } = setUp();
    const asked = access.ask(A);
    await settle();
    shown[0].answer('deny');
    await asked.answer;
    access.grant('work/a.ipynb');
    expect(access.isDenied('work/a.ipynb')).toBe(false);
    expect(access.isGranted('work/a.ipynb')).toBe(true);
  });

  it('honours kernelAccess: all only once the user confirmed it in this browser', async () => {
    const refused = setUp({ confirmAll: false });
    await refused.access.setMode('all');
    expect(refused.access.mode).toBe('ask');
    expect(refused.access.isGranted('anything.ipynb')).toBe(false);

    const confirmed = setUp({ confirmAll: true });
    await confirmed.access.setMode('all');
    expect(confirmed.access.mode).toBe('all');
    expect(confirmed.access.isGranted('anything.ipynb')).toBe(true);
    expect(confirmed.stored().allConfirmed).toBe(true);
    // Once confirmed, a reload does not ask again
    await confirmed.access.setMode('all');
    expect(confirmed.confirmations).toHaveLength(1);
    // Back to ask forgets the confirmation: `all` coming back is asked again
    await confirmed.access.setMode('ask');
    expect(confirmed.stored().allConfirmed).toBe(false);
    await confirmed.access.setMode('all');
    expect(confirmed.confirmations).toHaveLength(2);
  });
});

describe('LocalAccessStore', () => {
  beforeEach(() => window.localStorage.clear());

  it('keeps grants across a reload, per server scope', async () => {
    const key = accessStoreKey('http://localhost:8888/user/alice/');
    const first = new KernelAccess({
      store: new LocalAccessStore(key),
      prompt: async () => ({
        answer: Promise.resolve('allow' as AccessAnswer),
        close: () => undefined
      }),
      confirmAll: async () => false
    });
    expect(await first.ask(A).answer).toBe(true);
    // A reload: a new KernelAccess on the same browser storage
    const again = new KernelAccess({
      store: new LocalAccessStore(key),
      prompt: async () => {
        throw new Error('must not ask again');
      },
      confirmAll: async () => false
    });
    expect(again.isGranted('work/a.ipynb')).toBe(true);
    // Another server under the same origin holds none of them
    const bob = new LocalAccessStore(
      accessStoreKey('http://localhost:8888/user/bob/')
    );
    expect(bob.load().grants).toEqual([]);
  });

  it('treats unreadable storage as no grant', () => {
    const key = accessStoreKey('scope');
    window.localStorage.setItem(key, '{not json');
    expect(new LocalAccessStore(key).load()).toEqual({
      grants: [],
      allConfirmed: false
    });
    window.localStorage.setItem(
      key,
      JSON.stringify({ grants: [{ path: 1 }, { path: 'ok', grantedAt: 3 }] })
    );
    expect(new LocalAccessStore(key).load().grants).toEqual([
      { path: 'ok', grantedAt: 3 }
    ]);
  });
});
