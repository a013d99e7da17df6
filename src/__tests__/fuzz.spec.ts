// Ten thousand generated kernel→lab messages against the real KernelBridge
// (src/kernels.ts); the fakes stand in for the kernels only. Reproducible: one
// seeded generator. The counts are printed and written to
// $TMPDIR/jupyterlab-carto-auth-fuzz-lab.json (docs/reliability.md).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Notification } from '@jupyterlab/apputils';

import { CartoAuthError } from '../errors';
import { parseMessage } from '../protocol';
import { accessOf, ANA, FakeKernel, settle, setUp } from './fakekernels';
import { generate, generator, HELLO, Kind, KINDS, MESSAGES } from './fuzzgen';

const SEED = 20240601;
const PER_KIND = 700;

let warn: jest.SpyInstance;

beforeEach(() => {
  jest.useFakeTimers();
  for (const n of Notification.manager.notifications) {
    Notification.dismiss(n.id);
  }
  warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
});

afterEach(() => {
  jest.useRealTimers();
  warn.mockRestore();
});

/**
 * Let what the run left run out on real timers: Node reports an unhandled
 * rejection after a macrotask, and jest fails the test that left one.
 */
async function drain(): Promise<void> {
  jest.useRealTimers();
  await new Promise(resolve => setTimeout(resolve, 50));
}

describe('kernel→lab fuzz (the real KernelBridge)', () => {
  it('10,000 generated messages: nothing escapes, no token goes where it was not asked for, and the bridge still works', async () => {
    const rng = generator(SEED);
    // k1's notebook is allowed; k2's is not (its prompts are denied or closed).
    const grants = accessOf('ask', ['work/k1.ipynb']);
    const { log, fake, kernels } = setUp(ANA, {
      names: ['k1', 'k2'],
      access: grants
    });
    const k1 = kernels.get('k1')!;
    const k2 = kernels.get('k2')!;
    await settle();
    k1.open('c0', HELLO);
    k2.open('c0', HELLO);
    await settle();
    const tokens = new Set([ANA.access_token]);
    let answeredPrompts = 0;
    let comms = 0;

    const counts = {
      side: 'lab',
      seed: SEED,
      messages: 0,
      by_kind: {} as Record<string, number>,
      lab_events: { refresh: 0, token_fails: 0, token_recovers: 0, time: 0 },
      answers: { error: 0, session: 0, input_reply: 0 } as Record<
        string,
        number
      >,
      tokens_sent: 0,
      exceptions: 0,
      token_leaks: 0,
      unanswered_valid_requests: 0
    };
    const leaks: unknown[] = [];
    const exceptions: unknown[] = [];
    /** Valid requests this lab's cells sent, not answered yet: kernel, id. */
    const asked = new Set<string>();

    /** Check what the lab sent since `start` in answer to one step. */
    const check = (start: number, step: { kind: string; attach: boolean }) => {
      for (const sent of log.slice(start) as any[]) {
        const message =
          'comm_msg' in sent ? sent.comm_msg : sent.input_reply.message;
        // Everything the lab sends is a valid lab→kernel message.
        parseMessage(message, 'lab_to_kernel');
        const kind = 'input_reply' in sent ? 'input_reply' : message.type;
        counts.answers[kind] = (counts.answers[kind] ?? 0) + 1;
        const question = `${sent.kernel} ${message.id}`;
        const answers = message.id !== undefined && asked.has(question);
        asked.delete(question);
        const carries = [...tokens].some(t => JSON.stringify(sent).includes(t));
        if (!carries) {
          continue;
        }
        counts.tokens_sent++;
        const allowed =
          sent.kernel === 'k1' &&
          ((message.reason === 'attach' && step.attach) ||
            (message.reason === 'refresh' && step.kind === 'refresh') ||
            (message.reason === 'reply' && answers));
        if (!allowed) {
          leaks.push({ step, sent });
        }
      }
    };

    const labEvent = async (n: number) => {
      const start = log.length;
      const event = rng.pick(['refresh', 'token_fails', 'recover', 'time']);
      if (event === 'refresh') {
        fake.token = `refreshed-${n}-${'t'.repeat(20)}`;
        tokens.add(fake.token);
        fake.update({ ...fake.info, expiresAt: fake.info.expiresAt! + 1000 });
        counts.lab_events.refresh++;
      } else if (event === 'token_fails') {
        fake.tokenError = new CartoAuthError('network', 'CARTO is away.');
        counts.lab_events.token_fails++;
      } else if (event === 'recover') {
        fake.tokenError = null;
        counts.lab_events.token_recovers++;
      } else {
        await jest.advanceTimersByTimeAsync(rng.pick([1, 60, 130]) * 1000);
        counts.lab_events.time++;
      }
      await settle();
      check(start, { kind: event, attach: false });
    };

    const total = PER_KIND * KINDS.length;
    for (let n = 0; n < total; n++) {
      if (n % 97 === 0) {
        await labEvent(n);
      }
      let kind: Kind = KINDS[n % KINDS.length];
      counts.by_kind[kind] = (counts.by_kind[kind] ?? 0) + 1;
      counts.messages++;
      const foreign = kind === 'another_lab';
      if (foreign) {
        kind = rng.pick([...MESSAGES, 'open'] as Kind[]);
      }
      const kernel: FakeKernel = rng.next() < 0.7 ? k1 : k2;
      const data = generate(rng, kind, n);
      const causedBy = foreign ? 'another-client' : undefined;
      let valid: any = null;
      try {
        valid = parseMessage(data, 'kernel_to_lab');
      } catch {
        // invalid: the lab must answer an error (or stay silent for one)
      }
      const start = log.length;
      const attach =
        kind === 'open' && !foreign && kernel === k1 && valid?.type === 'hello';
      try {
        if (kind === 'open') {
          kernel.open(`c${++comms}`, data, causedBy);
        } else {
          // Any comm the kernel opened: one the lab refused has no handler.
          const commId = rng.pick([...kernel.comms.keys()]);
          if (
            !foreign &&
            valid?.type === 'request' &&
            kernel.comms.get(commId)!.onMsg
          ) {
            asked.add(`${kernel.name} ${valid.id}`);
          }
          kernel.send(commId, data, causedBy);
        }
      } catch (error) {
        counts.exceptions++;
        exceptions.push({ n, kind, error: String(error) });
      }
      await settle();
      // The user denies or closes every grant prompt k2 brings up.
      for (; answeredPrompts < grants.prompts.length; answeredPrompts++) {
        grants.prompts[answeredPrompts].answer(
          rng.next() < 0.5 ? 'deny' : 'dismissed'
        );
      }
      await settle();
      if (foreign) {
        // Another lab's kernel connection caused it: that lab answers.
        expect(log.slice(start)).toEqual([]);
      }
      check(start, { kind, attach });
    }
    // Requests still waiting (a prompt, a sign-in) end by their time limits.
    await jest.advanceTimersByTimeAsync(301_000);
    check(log.length, { kind: 'end', attach: false });
    counts.unanswered_valid_requests = asked.size;
    counts.token_leaks = leaks.length;

    // Nothing escaped, nothing leaked, and nothing reached Object.prototype.
    expect(exceptions).toEqual([]);
    expect(leaks).toEqual([]);
    expect([...asked]).toEqual([]); // every valid request got its one answer
    expect(({} as any).polluted).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(counts.messages).toBeGreaterThanOrEqual(10_000);

    // The bridge still pushes and answers: a fresh attach, a request by comm
    // and by stdin, and a refresh, for the allowed notebook only.
    fake.tokenError = null;
    log.length = 0;
    k1.open('after', HELLO);
    await settle();
    k1.send('after', HELLO); // hello only opens a comm
    k1.send('after', {
      v: 1,
      type: 'request',
      id: 'after-2',
      interactive: false,
      org: null,
      min_ttl: 0,
      reply_via: 'comm'
    });
    const header = k1.send('after', {
      v: 1,
      type: 'request',
      id: 'after-3',
      interactive: false,
      org: null,
      min_ttl: 0,
      reply_via: 'stdin'
    });
    await settle();
    fake.token = 'the-token-after-the-fuzz';
    fake.update({ ...fake.info, expiresAt: fake.info.expiresAt! + 1000 });
    await settle();
    const toK1 = log.filter(s => s.kernel === 'k1') as any[];
    const last = fake.info.expiresAt! / 1000;
    expect(
      toK1.map(s =>
        'comm_msg' in s
          ? [s.comm_id, s.comm_msg.type, s.comm_msg.reason ?? s.comm_msg.code]
          : ['stdin', s.input_reply.message.reason, s.input_reply.id]
      )
    ).toEqual([
      ['after', 'session', 'attach'],
      ['after', 'error', 'bad_request'],
      ['after', 'session', 'reply'],
      ['stdin', 'reply', 'after-3'],
      ['after', 'session', 'refresh']
    ]);
    expect(toK1.at(-1).comm_msg).toEqual(
      expect.objectContaining({
        access_token: 'the-token-after-the-fuzz',
        expires_at: last
      })
    );
    expect(k1.inputReplies.at(-1)!.parent).toBe(header);
    expect(JSON.stringify(log.filter(s => s.kernel === 'k2'))).not.toContain(
      'the-token-after-the-fuzz'
    );

    await drain();
    const file = path.join(os.tmpdir(), 'jupyterlab-carto-auth-fuzz-lab.json');
    fs.writeFileSync(file, JSON.stringify(counts, null, 1));
    console.info(`kernel→lab fuzz: ${JSON.stringify(counts)} (${file})`);
  }, 180_000);
});

describe('pushes when the session cannot give a token', () => {
  it('a refresh push whose getAccessToken rejects sends nothing and leaves no unhandled rejection', async () => {
    // Given an attached kernel of an allowed notebook
    const { log, fake, kernels } = setUp(ANA);
    kernels.get('k1')!.open('c1', HELLO);
    await settle();
    log.length = 0;
    // When the session changes but cannot give its token
    fake.tokenError = new CartoAuthError('network', 'CARTO is away.');
    fake.update({ ...fake.info, expiresAt: fake.info.expiresAt! + 1000 });
    await settle();
    // Then nothing is pushed, and the failure is logged, not thrown
    expect(log).toEqual([]);
    expect(warn).toHaveBeenCalledWith(
      'jupyterlab-carto-auth: could not push the session',
      'network'
    );
    await drain();
  });

  it('an attach push whose getAccessToken rejects sends nothing and leaves no unhandled rejection', async () => {
    const { log, fake, kernels } = setUp(ANA);
    fake.tokenError = new CartoAuthError('network', 'CARTO is away.');
    kernels.get('k1')!.open('c1', HELLO);
    await settle();
    expect(log).toEqual([]);
    // Once the session gives a token again, the kernel gets it on request
    fake.tokenError = null;
    kernels.get('k1')!.send('c1', {
      v: 1,
      type: 'request',
      id: 'r',
      interactive: false,
      org: null,
      min_ttl: 0,
      reply_via: 'comm'
    });
    await settle();
    expect(log.map((s: any) => [s.comm_msg.reason, s.comm_msg.id])).toEqual([
      ['reply', 'r']
    ]);
    await drain();
  });
});
