// The kernel bridge against fake kernels and a fake session: the unit is the
// bridge. The recorded scenarios of docs/protocol-scenarios.json are replayed
// here and against tests/labclient.py's stand-in (tests/test_lab_scenarios.py).
import { Notification } from '@jupyterlab/apputils';
import { nullTranslator } from '@jupyterlab/translation';

import examples from '../../docs/protocol-examples.json';
import scenarios from '../../docs/protocol-scenarios.json';
import { CartoAuthError, CartoErrorCode } from '../errors';
import { ATTACH_CODE, KernelBridge } from '../kernels';
import { KernelWatch } from '../kernelwatch';
import { parseMessage, ProtocolError } from '../protocol';
import {
  accessOf,
  ANA,
  contextOf,
  FakeKernel,
  FakeSession,
  HELLO,
  ILabSession,
  Sent,
  settle,
  setUp
} from './fakekernels';

/** Notifications shown by the bridge, oldest first (kept up to date). */
const notifications: Notification.INotification[] = [];

function trackNotification(_: unknown, change: Notification.IChange): void {
  const index = notifications.findIndex(n => n.id === change.notification.id);
  if (change.type === 'added') {
    notifications.push(change.notification);
  } else if (change.type === 'removed' && index >= 0) {
    notifications.splice(index, 1);
  }
}

function click(notification: Notification.INotification, label: string) {
  const action = notification.options.actions?.find(a => a.label === label);
  if (!action) {
    throw new Error(`no ${label} button`);
  }
  action.callback(new MouseEvent('click'));
}

/** Equal JSON, except that "$text" stands for any non-empty string. */
function matches(expected: unknown, actual: unknown): boolean {
  if (expected === '$text') {
    return typeof actual === 'string' && actual !== '';
  }
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) &&
      expected.length === actual.length &&
      expected.every((e, i) => matches(e, actual[i]))
    );
  }
  if (typeof expected === 'object' && expected !== null) {
    if (
      typeof actual !== 'object' ||
      actual === null ||
      Array.isArray(actual)
    ) {
      return false;
    }
    const keys = Object.keys(expected).sort();
    return (
      JSON.stringify(keys) === JSON.stringify(Object.keys(actual).sort()) &&
      keys.every(k => matches((expected as any)[k], (actual as any)[k]))
    );
  }
  return expected === actual;
}

let warn: jest.SpyInstance;

beforeEach(() => {
  jest.useFakeTimers();
  for (const n of Notification.manager.notifications) {
    Notification.dismiss(n.id);
  }
  notifications.length = 0;
  Notification.manager.changed.connect(trackNotification);
  warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
});

afterEach(() => {
  jest.useRealTimers();
  warn.mockRestore();
  Notification.manager.changed.disconnect(trackNotification);
});

describe('recorded scenarios (docs/protocol-scenarios.json)', () => {
  it.each(scenarios.scenarios.map(s => [s.name, s] as const))(
    '%s',
    async (_, scenario: any) => {
      const { log, fake, kernels } = setUp(scenario.lab.session, {
        names: scenario.kernels,
        signInGives: scenario.lab.sign_in_gives,
        timeoutSeconds: scenario.lab.sign_in_timeout_seconds
      });
      await settle();
      for (const [number, step] of (scenario.steps as any[]).entries()) {
        const start = log.length;
        const kernel = kernels.get(step.kernel);
        // caused_by "another_lab": another client's attach or cell did it.
        const causedBy =
          step.caused_by === 'another_lab' ? 'another-client' : undefined;
        if ('kernel_opens' in step) {
          kernel!.open(step.comm_id, step.kernel_opens, causedBy);
        } else if ('kernel_sends' in step) {
          kernel!.send(step.comm_id, step.kernel_sends, causedBy);
        } else if ('kernel_closes' in step) {
          kernel!.close(step.comm_id);
        } else {
          await labEvent(fake, step);
        }
        await settle();
        const sent = log.slice(start);
        if (!matches(step.expect, sent)) {
          // Shows the step and the difference.
          expect({ step: number, sent }).toEqual({
            step: number,
            sent: step.expect
          });
        }
      }
    }
  );

  async function labEvent(fake: FakeSession, step: any): Promise<void> {
    switch (step.lab_event) {
      case 'sign_in':
        fake.becomes(step.session);
        break;
      case 'refresh':
        fake.token = step.access_token;
        fake.update({ ...fake.info, expiresAt: step.expires_at * 1000 });
        break;
      case 'sign_out':
        fake.becomes(null);
        break;
      case 'signing_in':
        fake.update({ ...fake.info, status: 'signing-in' });
        break;
      case 'user_clicks_sign_in':
        click(notifications[0], 'Sign in to CARTO');
        break;
      case 'user_clicks_cancel':
        click(notifications[0], 'Cancel');
        break;
      case 'time_passes':
        await jest.advanceTimersByTimeAsync(step.seconds * 1000);
        break;
      case 'token_fails':
        fake.tokenError = new CartoAuthError(
          step.code as CartoErrorCode,
          step.message
        );
        break;
      default:
        throw new Error(`unknown lab_event ${step.lab_event}`);
    }
  }

  it('matches by the rules the file states', () => {
    expect(matches({ a: [1, '$text'] }, { a: [1, 'anything'] })).toBe(true);
    expect(matches({ a: '$text' }, { a: '' })).toBe(false);
    expect(matches({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(matches([1], [1, 1])).toBe(false);
    expect(matches({ a: null }, { a: 0 })).toBe(false);
    expect(matches({ a: 'x' }, { a: 'y' })).toBe(false);
  });
});

describe('KernelBridge', () => {
  it('attaches a Python kernel by running the attach code silently', async () => {
    const { kernels } = setUp(null);
    await settle();
    expect(ATTACH_CODE).toBe(examples.attach_code);
    expect(kernels.get('k1')!.executed).toEqual([
      {
        content: {
          code: examples.attach_code,
          silent: true,
          store_history: false,
          allow_stdin: false,
          stop_on_error: false
        },
        disposeOnDone: true
      }
    ]);
  });

  it('leaves kernels of other languages and non-comm connections alone', async () => {
    const log: Sent[] = [];
    const bridge = setUp(null, { names: [] }).bridge;
    const r = new FakeKernel('r', log, { language: 'R' });
    const shadow = new FakeKernel('shadow', log, { handleComms: false });
    bridge.watch(contextOf(r));
    bridge.watch(contextOf(shadow));
    await settle();
    expect(r.executed).toEqual([]);
    expect(shadow.executed).toEqual([]);
    expect(() => shadow.open('c1', HELLO)).toThrow('has no carto_auth target');
    r.open('c1', HELLO); // another language may still open the comm
    await settle();
    expect(log).toHaveLength(1);
  });

  it('says what to install when the kernel lacks the package', async () => {
    const { bridge } = setUp(null, { names: [] });
    const missing = new FakeKernel('py-bare', []);
    missing.attachReply = { status: 'error', ename: 'ModuleNotFoundError' };
    const broken = new FakeKernel('py-broken', []);
    broken.attachReply = { status: 'error', ename: 'RuntimeError' };
    bridge.watch(contextOf(missing));
    bridge.watch(contextOf(broken));
    await settle();
    expect(bridge.problems).toEqual([
      'Kernel py-bare cannot get the CARTO session: install jupyterlab-carto-auth in its environment (%pip install jupyterlab-carto-auth in a cell), then restart it.',
      'Kernel py-broken could not attach to the CARTO session (RuntimeError).'
    ]);
    expect(bridge.attachedCount).toBe(0);
  });

  it('answers a stdin request with an input_reply parented to the request', async () => {
    const { kernels, fake } = setUp(ANA);
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO);
    await settle();
    const request = {
      v: 1,
      type: 'request',
      id: 'req-1',
      interactive: false,
      org: null,
      min_ttl: 60,
      reply_via: 'stdin'
    };
    const header = k1.send('c1', request);
    await settle();
    expect(k1.inputReplies).toHaveLength(1);
    const [{ content, parent }] = k1.inputReplies;
    expect(parent).toBe(header);
    expect(content.status).toBe('ok');
    const value = JSON.parse(content.value);
    expect(Object.keys(value).sort()).toEqual(['carto_auth', 'id', 'message']);
    expect(value.carto_auth).toBe(1);
    expect(value.id).toBe('req-1');
    expect(parseMessage(value.message, 'lab_to_kernel')).toEqual(value.message);
    expect(fake.minTtls.at(-1)).toBe(60); // the token is fresh for min_ttl
  });

  it('signs in with the organization a request names', async () => {
    const { kernels, signIns } = setUp(null, { signInGives: ANA });
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO);
    await settle();
    k1.send('c1', {
      v: 1,
      type: 'request',
      id: 'r',
      interactive: true,
      org: 'acme',
      min_ttl: 0,
      reply_via: 'comm'
    });
    await settle();
    expect(notifications.map(n => n.message)).toEqual([
      'A notebook cell is waiting for you to sign in to CARTO.'
    ]);
    click(notifications[0], 'Sign in to CARTO');
    await settle();
    expect(signIns).toEqual([{ organization: 'acme' }]);
    expect(notifications).toEqual([]); // dismissed once answered
  });

  it.each(examples.invalid.map(e => [e.name, e] as const))(
    'answers the invalid example "%s" with an error, never an error to an error',
    async (_, example: any) => {
      const { kernels, log } = setUp(ANA);
      const k1 = kernels.get('k1')!;
      k1.open('c1', HELLO);
      await settle();
      const start = log.length;
      k1.send('c1', example.message);
      await settle();
      const sent = log.slice(start) as any[];
      if (example.message?.type === 'error') {
        expect(sent).toEqual([]);
        return;
      }
      let code: string | null = null;
      try {
        parseMessage(example.message, 'kernel_to_lab');
      } catch (error) {
        code = (error as ProtocolError).code;
      }
      if (code === null) {
        // Valid from a kernel (a request): answered, not refused.
        expect(sent.map(s => s.comm_msg.type)).toEqual(['session']);
        return;
      }
      if (example.direction === 'kernel_to_lab') {
        expect(code).toBe(example.code);
      }
      expect(sent).toHaveLength(1);
      const answer = sent[0].comm_msg;
      expect(parseMessage(answer, 'lab_to_kernel')).toEqual(answer);
      expect(answer).toEqual({
        v: 1,
        type: 'error',
        code,
        message: expect.any(String)
      });
    }
  );

  it.each(
    examples.valid
      .filter(e => e.direction === 'kernel_to_lab')
      .map(e => [e.name, e] as const)
  )('answers the valid kernel example "%s" by its type', async (_, example) => {
    const { kernels, log } = setUp(ANA);
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO);
    await settle();
    const start = log.length;
    k1.send('c1', example.message);
    await settle();
    const sent = log.slice(start) as any[];
    const message = example.message as any;
    const answer = sent.map(s => s.comm_msg ?? s.input_reply.message);
    const expected: Record<string, unknown[]> = {
      hello: [
        {
          v: 1,
          type: 'error',
          code: 'bad_request',
          message: 'hello is only sent on comm open.'
        }
      ],
      request: [
        expect.objectContaining({
          type: 'session',
          state: 'signed_in',
          reason: 'reply',
          id: message.id
        })
      ],
      sign_out: [
        { v: 1, type: 'session', state: 'signed_out', reason: 'sign_out' }
      ],
      error: []
    };
    expect(answer).toEqual(expected[message.type]);
  });

  it('refuses every invalid example as a hello without attaching', async () => {
    for (const example of examples.invalid as any[]) {
      const { kernels, log, bridge } = setUp(ANA);
      kernels.get('k1')!.open('c1', example.message);
      await settle();
      expect(log.map((s: any) => s.comm_msg.type)).toEqual(['error']);
      expect(bridge.attachedCount).toBe(0);
    }
  });

  it('reports a kernel with no protocol version in common', async () => {
    const { kernels, bridge } = setUp(ANA);
    kernels.get('k1')!.open('c1', { ...HELLO, versions: [2] });
    await settle();
    expect(bridge.problems).toEqual([
      'Kernel k1 has an incompatible jupyterlab-carto-auth: upgrade it in the kernel environment.'
    ]);
    kernels.get('k1')!.open('c2', HELLO); // upgraded and attached again
    await settle();
    expect(bridge.problems).toEqual([]);
    expect(bridge.attachedCount).toBe(1);
  });

  it('pushes to every kernel even when one is slow or gone', async () => {
    const { kernels, fake, log } = setUp(null, {
      names: ['slow', 'dead', 'ok']
    });
    for (const kernel of kernels.values()) {
      kernel.open('c1', HELLO);
    }
    await settle();
    kernels.get('dead')!.sendThrows = true;
    log.length = 0;
    fake.becomes(ANA);
    await settle();
    // The slow kernel never acknowledged its attach message, nor this one.
    expect(log.map((s: any) => [s.kernel, s.comm_msg.reason])).toEqual([
      ['slow', 'sign_in'],
      ['ok', 'sign_in']
    ]);
  });

  it('attaches again after a restart and pushes only once the new hello came', async () => {
    const { kernels, fake, log, bridge } = setUp(ANA);
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO);
    await settle();
    expect(bridge.attachedCount).toBe(1);
    k1.statusChanged.emit('restarting');
    expect(bridge.attachedCount).toBe(0);
    k1.statusChanged.emit('idle');
    await settle();
    expect(k1.executed).toHaveLength(2);
    log.length = 0;
    fake.token = 'the-token-after-the-restart';
    fake.update({ ...fake.info, expiresAt: fake.info.expiresAt! + 1000 });
    await settle();
    expect(log).toEqual([]); // the old comm died with the old process
    k1.open('c2', HELLO);
    await settle();
    expect(log.map((s: any) => [s.comm_id, s.comm_msg.reason])).toEqual([
      ['c2', 'attach']
    ]);
  });

  it('follows a session context to its next kernel', async () => {
    const { bridge, log } = setUp(null, { names: [] });
    const first = new FakeKernel('first', log);
    const context = contextOf(first);
    bridge.watch(context);
    const second = new FakeKernel('second', log);
    context.session.kernel = second.asConnection();
    context.kernelChanged.emit({});
    await settle();
    expect(second.executed).toHaveLength(1);
    second.open('c1', HELLO);
    await settle();
    expect(log).toHaveLength(1);
  });

  it('bounds an interactive sign-in by the time limit, then forgets it', async () => {
    const { kernels, log } = setUp(null, { timeoutSeconds: 5 });
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO);
    await settle();
    log.length = 0;
    k1.send('c1', {
      v: 1,
      type: 'request',
      id: 'r',
      interactive: true,
      org: null,
      min_ttl: 0,
      reply_via: 'comm'
    });
    await jest.advanceTimersByTimeAsync(4999);
    expect(log).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(log.map((s: any) => s.comm_msg.code)).toEqual(['timeout']);
    expect(notifications).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('several labs on one kernel (docs/protocol.md)', () => {
  const request = (id: string, via: 'comm' | 'stdin') => ({
    v: 1,
    type: 'request',
    id,
    interactive: true,
    org: null,
    min_ttl: 0,
    reply_via: via
  });

  it("leaves a hello that another lab's attach caused to that lab, and pushes its refreshes there", async () => {
    // Given a signed-in lab, when another client's attach opens the comm
    const { kernels, fake, log, bridge } = setUp(ANA);
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO, 'client-of-another-browser');
    await settle();
    // Then this lab does not answer the hello (the other lab does)
    expect(log).toEqual([]);
    // And the comm is the kernel's: this lab's refresh goes to it (the
    // kernel takes it only if it is the session it holds)
    expect(bridge.attachedCount).toBe(1);
    fake.token = 'a-refreshed-token';
    fake.update({ ...fake.info, expiresAt: fake.info.expiresAt! + 1000 });
    await settle();
    expect(log.map((s: any) => [s.comm_id, s.comm_msg.reason])).toEqual([
      ['c1', 'refresh']
    ]);
  });

  it("leaves another lab's cells' requests to that lab, and shows no prompt for them", async () => {
    const { kernels, log } = setUp(null);
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO);
    await settle();
    log.length = 0;
    k1.send('c1', request('theirs-comm', 'comm'), 'client-of-another-browser');
    k1.send(
      'c1',
      request('theirs-stdin', 'stdin'),
      'client-of-another-browser'
    );
    await settle();
    expect(log).toEqual([]);
    expect(k1.inputReplies).toEqual([]);
    expect(notifications).toEqual([]);
  });

  it("answers its own cell's request on a comm another lab's attach opened", async () => {
    const { kernels, log } = setUp(ANA);
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO, 'client-of-another-browser');
    await settle();
    log.length = 0;
    const header = k1.send('c1', request('mine', 'stdin'));
    await settle();
    expect(k1.inputReplies.map(r => r.parent)).toEqual([header]);
    expect(log.map((s: any) => s.input_reply.message.user.email)).toEqual([
      ANA.user.email
    ]);
  });
});

describe('KernelBridge: the user grant (kernelAccess: ask)', () => {
  const request = (id: string, extra: Record<string, unknown> = {}) => ({
    v: 1,
    type: 'request',
    id,
    interactive: true,
    org: null,
    min_ttl: 0,
    reply_via: 'stdin',
    ...extra
  });
  const NOT_GRANTED = {
    v: 1,
    type: 'session',
    state: 'signed_out',
    reason: 'not_granted'
  };
  const tokensIn = (log: Sent[]) =>
    JSON.stringify(log).includes(ANA.access_token);

  it('pushes nothing secret before Allow, and the session once allowed', async () => {
    // Given a signed-in lab and a notebook nobody allowed yet
    const grants = accessOf('ask');
    const { kernels, log } = setUp(ANA, { access: grants });
    // When its kernel attaches
    kernels.get('k1')!.open('c1', HELLO);
    await settle();
    // Then it is told why it gets nothing, and the user is asked, by path
    expect(log.map((s: any) => s.comm_msg)).toEqual([NOT_GRANTED]);
    expect(tokensIn(log)).toBe(false);
    expect(grants.prompts.map(p => p.request.path)).toEqual(['work/k1.ipynb']);
    // When the user clicks Allow
    grants.prompts[0].answer('allow');
    await settle();
    // Then the session is pushed, and the grant is kept for this path
    expect(log.map((s: any) => [s.comm_msg.state, s.comm_msg.reason])).toEqual([
      ['signed_out', 'not_granted'],
      ['signed_in', 'sign_in']
    ]);
    expect(grants.stored().grants.map(g => g.path)).toEqual(['work/k1.ipynb']);
  });

  it('a synchronous cell waiting on the grant gets its stdin answer after Allow', async () => {
    const grants = accessOf('ask');
    const { kernels, log } = setUp(ANA, { access: grants });
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO);
    await settle();
    const header = k1.send('c1', request('sync-1'));
    await settle();
    // One prompt for the attach and the request of the same kernel
    expect(grants.prompts).toHaveLength(1);
    expect(k1.inputReplies).toEqual([]);
    grants.prompts[0].answer('allow');
    await settle();
    expect(k1.inputReplies).toHaveLength(1);
    expect(k1.inputReplies[0].parent).toBe(header);
    const value = JSON.parse(k1.inputReplies[0].content.value);
    expect(value.message).toEqual(
      expect.objectContaining({
        state: 'signed_in',
        reason: 'reply',
        id: 'sync-1'
      })
    );
    expect(tokensIn(log)).toBe(true);
  });

  it('after Deny, requests are answered denied without a new prompt until the cool-down ends', async () => {
    const grants = accessOf('ask');
    const { kernels, log } = setUp(ANA, { access: grants });
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO);
    await settle();
    grants.prompts[0].answer('deny');
    await settle();
    k1.send('c1', request('r1', { reply_via: 'comm' }));
    k1.send('c1', request('r2', { reply_via: 'comm' }));
    await settle();
    const answers = log.slice(1).map((s: any) => s.comm_msg);
    expect(answers.map(a => [a.type, a.code, a.id])).toEqual([
      ['error', 'denied', 'r1'],
      ['error', 'denied', 'r2']
    ]);
    expect(answers[0].message).toContain('work/k1.ipynb');
    expect(answers[0].message).toContain('CARTO Account');
    expect(grants.prompts).toHaveLength(1);
    expect(tokensIn(log)).toBe(false);
    // After the cool-down the notebook may ask again
    await jest.advanceTimersByTimeAsync(120000);
    k1.send('c1', request('r3', { reply_via: 'comm' }));
    await settle();
    expect(grants.prompts).toHaveLength(2);
  });

  it('a non-interactive request is answered not_granted with no prompt', async () => {
    const grants = accessOf('ask');
    const { kernels, log } = setUp(null, { access: grants });
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO); // signed out: nothing to ask about yet
    await settle();
    k1.send('c1', request('probe', { interactive: false, reply_via: 'comm' }));
    await settle();
    expect(log.map((s: any) => s.comm_msg)).toEqual([
      NOT_GRANTED,
      { ...NOT_GRANTED, id: 'probe' }
    ]);
    expect(grants.prompts).toEqual([]);
  });

  it('signed out: one dialog allows and signs in, and the waiting cell completes', async () => {
    const grants = accessOf('ask');
    const { kernels, signIns } = setUp(null, {
      access: grants,
      signInGives: ANA
    });
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO);
    await settle();
    expect(grants.prompts).toEqual([]); // not asked at attach while signed out
    k1.send('c1', request('sync-2', { org: 'acme' }));
    await settle();
    expect(grants.prompts.map(p => p.request.org)).toEqual(['acme']);
    grants.prompts[0].answer('allow');
    await settle();
    expect(signIns).toEqual([{ organization: 'acme' }]);
    // No second UI: the "waiting for you to sign in" notification never shows
    expect(notifications).toEqual([]);
    const value = JSON.parse(k1.inputReplies[0].content.value);
    expect(value.message).toEqual(
      expect.objectContaining({ state: 'signed_in', id: 'sync-2' })
    );
  });

  it('an unanswered prompt is closed at the time limit and answered timeout', async () => {
    const grants = accessOf('ask');
    const { kernels, log } = setUp(ANA, { access: grants, timeoutSeconds: 5 });
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO);
    await settle();
    k1.send('c1', request('r', { reply_via: 'comm' }));
    await jest.advanceTimersByTimeAsync(5000);
    expect(grants.prompts[0].closed).toBe(true);
    expect(log.at(-1)).toEqual(
      expect.objectContaining({
        comm_msg: expect.objectContaining({ code: 'timeout', id: 'r' })
      })
    );
    expect(tokensIn(log)).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('revoking tells that notebook signed_out and stops its pushes; others keep theirs', async () => {
    const grants = accessOf('ask', ['work/k1.ipynb', 'work/k2.ipynb']);
    const { kernels, log, fake } = setUp(ANA, {
      access: grants,
      names: ['k1', 'k2']
    });
    kernels.get('k1')!.open('c1', HELLO);
    kernels.get('k2')!.open('c1', HELLO);
    await settle();
    log.length = 0;
    grants.access.revoke('work/k1.ipynb');
    await settle();
    expect(log).toEqual([
      { kernel: 'k1', comm_id: 'c1', comm_msg: NOT_GRANTED }
    ]);
    log.length = 0;
    fake.token = 'the-refreshed-token';
    fake.update({ ...fake.info, expiresAt: fake.info.expiresAt! + 1000 });
    await settle();
    expect(log.map((s: any) => [s.kernel, s.comm_msg.reason])).toEqual([
      ['k2', 'refresh']
    ]);
  });

  it('a grant is for a path: another notebook is asked, a rename is asked again', async () => {
    const grants = accessOf('ask', ['work/old.ipynb']);
    const { bridge, log } = setUp(ANA, { access: grants, names: [] });
    const kernel = new FakeKernel('k', log);
    const context = contextOf(kernel, 'work/old.ipynb');
    bridge.watch(context);
    kernel.open('c1', HELLO);
    await settle();
    expect(log.map((s: any) => s.comm_msg.state)).toEqual(['signed_in']);
    context.path = 'work/new.ipynb';
    context.propertyChanged.emit('path');
    await settle();
    expect(log.map((s: any) => s.comm_msg.reason)).toEqual([
      'attach',
      'not_granted'
    ]);
  });

  it("a kernel's sign_out signs only that kernel out; the lab asks before signing out everywhere", async () => {
    const grants = accessOf('ask', ['work/k1.ipynb', 'work/k2.ipynb']);
    const { kernels, log, fake } = setUp(ANA, {
      access: grants,
      names: ['k1', 'k2']
    });
    const k1 = kernels.get('k1')!;
    k1.open('c1', HELLO);
    kernels.get('k2')!.open('c1', HELLO);
    await settle();
    log.length = 0;
    k1.send('c1', { v: 1, type: 'sign_out' });
    k1.send('c1', { v: 1, type: 'sign_out' }); // one notification per kernel
    await settle();
    expect(log.map((s: any) => [s.kernel, s.comm_msg.reason])).toEqual([
      ['k1', 'sign_out'],
      ['k1', 'sign_out']
    ]);
    expect(fake.info.status).toBe('signed-in');
    expect(notifications.map(n => n.message)).toEqual([
      'work/k1.ipynb signed out of CARTO. Sign out of CARTO in JupyterLab too (every tab and kernel)?'
    ]);
    // A refresh does not reach the kernel that signed out
    log.length = 0;
    fake.token = 'the-refreshed-token';
    fake.update({ ...fake.info, expiresAt: fake.info.expiresAt! + 1000 });
    await settle();
    expect(log.map((s: any) => s.kernel)).toEqual(['k2']);
    // The user confirms: the whole lab signs out
    log.length = 0;
    click(notifications[0], 'Sign out everywhere');
    await settle();
    expect(fake.info.status).toBe('signed-out');
    expect(log.map((s: any) => s.kernel)).toEqual(['k2']);
  });
});

describe('KernelWatch: the bridge loads with the first kernel', () => {
  /**
   * A watch whose bridge module "loads" when the test says so; `loads`
   * counts what was asked for.
   */
  function watchOf(session: ILabSession | null) {
    const log: Sent[] = [];
    const fake = new FakeSession(session);
    const grants = accessOf('all');
    const loads = { access: 0, bridge: 0 };
    let release: () => void = () => undefined;
    const loaded = new Promise<void>(r => (release = r));
    let failNext = false;
    const watch = new KernelWatch({
      access: async () => {
        loads.access++;
        return grants.access;
      },
      bridge: async access => {
        loads.bridge++;
        if (failNext) {
          failNext = false;
          throw new Error('ChunkLoadError');
        }
        await loaded;
        return new KernelBridge({
          access: await access,
          session: fake.asSession(),
          trans: nullTranslator.load('jupyterlab-carto-auth'),
          signIn: async () => undefined,
          signInTimeoutSeconds: () => 300
        });
      }
    });
    const fail = () => (failNext = true);
    return { log, fake, watch, loads, release: () => release(), fail };
  }

  it('loads nothing while no notebook or console has a kernel', async () => {
    const { watch, loads } = watchOf(ANA);
    const context = contextOf(null);
    watch.watch(context);
    await settle();
    expect(loads).toEqual({ access: 0, bridge: 0 });
    expect(watch.isLoaded).toBe(false);
    // When the notebook gets its kernel
    context.session.kernel = new FakeKernel('k1', []).asConnection();
    context.kernelChanged.emit({});
    // Then the bridge and the grants load
    expect(loads).toEqual({ access: 1, bridge: 1 });
  });

  it('a kernel that started before the bridge loaded is attached and pushed to', async () => {
    // Given a signed-in lab whose bridge has not loaded yet
    const { log, watch, release } = watchOf(ANA);
    const k1 = new FakeKernel('k1', log);
    watch.watch(contextOf(k1));
    await settle();
    expect(watch.isLoaded).toBe(false);
    expect(k1.executed).toEqual([]);
    // When it loads
    release();
    await settle();
    // Then the kernel is attached, and its hello gets the session
    expect(watch.isLoaded).toBe(true);
    expect(k1.executed.map(e => e.content.code)).toEqual([ATTACH_CODE]);
    k1.open('c1', HELLO);
    await settle();
    expect(log).toEqual([
      {
        kernel: 'k1',
        comm_id: 'c1',
        comm_msg: expect.objectContaining({
          type: 'session',
          state: 'signed_in',
          access_token: ANA.access_token,
          reason: 'attach'
        })
      }
    ]);
    expect(watch.attachedCount).toBe(1);
  });

  it('a comm opened before the bridge loaded is not refused: the bridge answers it', async () => {
    // Given a kernel whose comm opens before the bridge module is there
    const { log, watch, release } = watchOf(ANA);
    const k1 = new FakeKernel('k1', log);
    watch.watch(contextOf(k1));
    k1.open('c1', HELLO); // throws if no target is registered
    await settle();
    expect(log).toEqual([]);
    // When the bridge loads, then it answers the held hello
    release();
    await settle();
    expect(log.map((s: any) => [s.comm_id, s.comm_msg.state])).toEqual([
      ['c1', 'signed_in']
    ]);
    // And the kernel's next messages on that comm are handled
    k1.send('c1', {
      v: 1,
      type: 'request',
      id: 'r1',
      interactive: false,
      org: null,
      min_ttl: 0,
      reply_via: 'comm'
    });
    await settle();
    expect(log.map((s: any) => [s.comm_id, s.comm_msg.id])).toEqual([
      ['c1', undefined],
      ['c1', 'r1']
    ]);
  });

  it('notebooks opened after the bridge loaded go to it; the status item follows its problems', async () => {
    const { watch, release } = watchOf(null);
    watch.watch(contextOf(new FakeKernel('k1', [])));
    release();
    await settle();
    let changes = 0;
    watch.problemsChanged.connect(() => changes++);
    const bare = new FakeKernel('py-bare', []);
    bare.attachReply = { status: 'error', ename: 'ModuleNotFoundError' };
    watch.watch(contextOf(bare));
    await settle();
    expect(bare.executed).toHaveLength(1);
    expect(watch.problems).toEqual([
      expect.stringContaining('Kernel py-bare cannot get the CARTO session')
    ]);
    expect(changes).toBe(1);
  });

  it('a bridge that failed to load is loaded again by the next kernel', async () => {
    const { watch, loads, fail, release } = watchOf(ANA);
    fail();
    const k1 = new FakeKernel('k1', []);
    watch.watch(contextOf(k1));
    await settle();
    expect(watch.isLoaded).toBe(false);
    expect(warn).toHaveBeenCalledWith(
      'jupyterlab-carto-auth: the kernel bridge did not load',
      'Error: ChunkLoadError'
    );
    const k2 = new FakeKernel('k2', []);
    watch.watch(contextOf(k2));
    release();
    await settle();
    expect(loads.bridge).toBe(2);
    expect(watch.isLoaded).toBe(true);
    expect(k1.executed).toHaveLength(1);
    expect(k2.executed).toHaveLength(1);
  });
});
