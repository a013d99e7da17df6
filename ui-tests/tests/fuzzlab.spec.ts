// The comm fuzz through a real lab: two real kernels (a notebook the user
// allowed, one denied) send the lab 1,500 kernel→lab messages made by the
// generator of the jest run (src/__tests__/fuzzgen.ts, same kinds), over the
// real Jupyter server and websocket into the real KernelBridge in Chromium.
// The kernels record what the lab sends back; the test checks each answer
// against what the protocol says, that no token went where it may not, that
// the page threw nothing, and that the lab still works afterwards. The counts
// are printed and written to $TMPDIR/jupyterlab-carto-auth-fuzz-real-lab.json
// (docs/reliability.md).
import { expect, test } from '@jupyterlab/galata';
import { Page } from '@playwright/test';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { parseMessage } from '../../src/protocol';
import {
  generate,
  generator,
  HELLO,
  Kind,
  KINDS,
  MESSAGES,
  toJsonText
} from '../../src/__tests__/fuzzgen';
import {
  accessDialog,
  captureTokens,
  newNotebook,
  sandboxHook,
  setLifetimes,
  signInWithPopup
} from './helpers';

const SEED = 20240601;
const PER_KIND = 100;
/** Token lifetime: the lab refreshes every TTL/2 s, during the run too. */
const TTL = 20;
const KERNELS = ['k1', 'k2'] as const; // k1's notebook allowed, k2's denied
type KernelName = (typeof KERNELS)[number];

/** One step of a kernel's plan: open a comm, or send on one it opened. */
interface IStep {
  op: 'open' | 'send';
  comm: number;
  foreign: boolean; // caused by another lab's kernel connection
  text: string; // the data as JSON text
}

/** What the lab must send back to one kernel, from docs/protocol.md. */
interface IExpected {
  /** Error codes of the id-less errors, per comm. */
  errors: Map<number, string[]>;
  /** Answers per request id (by comm or stdin). */
  replies: Map<string, number>;
  /** Comms opened with a valid hello by this lab: an attach answer each. */
  attaches: number;
}

/** The lab's answer to a comm_open (KernelBridge._onCommOpen). */
function openProblem(data: unknown): string | null {
  try {
    const hello = parseMessage(data, 'kernel_to_lab');
    if (hello.type !== 'hello') {
      return 'bad_request';
    }
    return hello.versions.includes(1) ? null : 'unsupported_version';
  } catch (error) {
    return (error as any).code ?? 'bad_request';
  }
}

/** Generate the plans of both kernels and what the lab must answer. */
function makePlans() {
  const rng = generator(SEED);
  const plans = new Map<KernelName, IStep[]>();
  const expected = new Map<KernelName, IExpected>();
  const handled = new Map<KernelName, boolean[]>();
  const byKind: Record<string, number> = {};
  for (const k of KERNELS) {
    plans.set(k, [
      { op: 'open', comm: 0, foreign: false, text: JSON.stringify(HELLO) }
    ]);
    expected.set(k, { errors: new Map(), replies: new Map(), attaches: 1 });
    handled.set(k, [true]);
  }
  const total = PER_KIND * KINDS.length;
  for (let n = 0; n < total; n++) {
    let kind: Kind = KINDS[n % KINDS.length];
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    const foreign = kind === 'another_lab';
    if (foreign) {
      kind = rng.pick([...MESSAGES, 'open'] as Kind[]);
    }
    const k: KernelName = rng.next() < 0.7 ? 'k1' : 'k2';
    // No data (undefined) is sent as a kernel's Comm sends it: {}. (A comm
    // message without data never reaches the bridge: JupyterLab's message
    // validation drops it and logs an error.)
    const text = toJsonText(generate(rng, kind, n)) ?? '{}';
    // What the lab sees: JSON gives no undefined, NaN or -0.
    const seen = JSON.parse(text);
    const comms = handled.get(k)!;
    const want = expected.get(k)!;
    if (kind === 'open') {
      const comm = comms.length;
      plans.get(k)!.push({ op: 'open', comm, foreign, text });
      const problem = foreign ? null : openProblem(seen);
      // Another lab's comm is tracked unanswered; this lab's only with a hello.
      comms.push(foreign || problem === null);
      if (problem) {
        want.errors.set(comm, [problem]);
      } else if (!foreign) {
        want.attaches++;
      }
      continue;
    }
    const comm = rng.int(0, comms.length);
    plans.get(k)!.push({ op: 'send', comm, foreign, text });
    if (foreign || !comms[comm]) {
      continue; // another lab answers; or a comm the lab refused
    }
    let code: string | null = null;
    try {
      const message = parseMessage(seen, 'kernel_to_lab');
      if (message.type === 'request') {
        want.replies.set(message.id, (want.replies.get(message.id) ?? 0) + 1);
      } else if (message.type === 'hello') {
        code = 'bad_request'; // hello only opens a comm
      }
    } catch (error) {
      if (seen?.type !== 'error') {
        code = (error as any).code ?? 'bad_request';
      }
    }
    if (code) {
      want.errors.set(comm, [...(want.errors.get(comm) ?? []), code]);
    }
  }
  // Last, a request of this lab on the first comm: its answer comes after
  // every error the lab sent this kernel (it handles a kernel's messages in
  // order); the kernel waits for it and for the count of answers to requests.
  for (const k of KERNELS) {
    plans.get(k)!.push({
      op: 'send',
      comm: 0,
      foreign: false,
      text: JSON.stringify({
        v: 1,
        type: 'request',
        id: 'fuzz-end',
        interactive: false,
        org: null,
        min_ttl: 0,
        reply_via: 'comm'
      })
    });
    expected.get(k)!.replies.set('fuzz-end', 1);
  }
  return { plans, expected, byKind, total };
}

/**
 * The kernel's side: send the plan raw (text as generated, the parent header
 * of this cell or, for another lab, of another client), keep every comm the
 * lab may answer on, and record what comes back by comm and on stdin.
 */
const KERNEL_FUZZ = `
import asyncio, json, time, uuid
import zmq
from comm import get_comm_manager
from ipykernel.comm import Comm
from jupyterlab_carto_auth.kernel import _input_value, running_ipykernel

_fz_k = running_ipykernel()
_fz_plan = json.load(open(PLAN))
_fz_got, _fz_stdin, _fz_comms = [], [], []
_fz_parent = _fz_k.get_parent()
_fz_other = {**_fz_parent, "header": {**_fz_parent["header"], "session": "another-lab-" + uuid.uuid4().hex, "msg_id": uuid.uuid4().hex}}

def _fz_recorder(i):
    def on_msg(msg):
        _fz_got.append([i, msg["content"].get("data")])
    return on_msg

def _fz_drain():
    while True:
        try:
            _, reply = _fz_k.session.recv(_fz_k.stdin_socket, zmq.NOBLOCK)
        except zmq.ZMQError:
            return
        if reply is None:
            return
        _fz_stdin.append(_input_value(reply))

_fz_start = time.monotonic()
for _fz_step in _fz_plan:
    _fz_text = _fz_step["text"]
    _fz_data = ',"data":' + _fz_text
    if _fz_step["op"] == "open":
        _fz_c = Comm(target_name="carto_auth", primary=False, comm_id=uuid.uuid4().hex)
        get_comm_manager().register_comm(_fz_c)
        _fz_c.on_msg(_fz_recorder(len(_fz_comms)))
        _fz_comms.append(_fz_c)
        _fz_type, _fz_body = "comm_open", '{"comm_id":"%s","target_name":"carto_auth","target_module":null,"metadata":{}%s}' % (_fz_c.comm_id, _fz_data)
    else:
        _fz_c = _fz_comms[_fz_step["comm"]]
        _fz_type, _fz_body = "comm_msg", '{"comm_id":"%s"%s}' % (_fz_c.comm_id, _fz_data)
    _fz_k.session.send(_fz_k.iopub_socket, _fz_type, _fz_body.encode(), parent=_fz_other if _fz_step["foreign"] else _fz_parent, ident=_fz_c.topic)
    # Below the server's IOPub rate limit (1,000 messages/s), and time for the big ones.
    await asyncio.sleep(0.004 + len(_fz_body) / 20e6)
    _fz_drain()
_fz_sent = time.monotonic() - _fz_start

def _fz_done():
    replies = sum(1 for _, d in _fz_got if isinstance(d, dict) and "id" in d) + len(_fz_stdin)
    return replies >= REPLIES and any(isinstance(d, dict) and d.get("id") == "fuzz-end" for _, d in _fz_got)

# Until the last request's answer and as many answers to requests as the test
# expects have come, then 1 s more for anything unexpected; bounded.
while not _fz_done() and time.monotonic() - _fz_start < 60:
    await asyncio.sleep(0.1)
    _fz_drain()
await asyncio.sleep(1)
_fz_drain()
from collections import Counter
_fz_counts = Counter(
    (d.get("type"), d.get("code") or d.get("reason")) if isinstance(d, dict) else ("?", None)
    for _, d in _fz_got
)
json.dump({"got": _fz_got, "stdin": _fz_stdin, "sent_seconds": round(_fz_sent, 1), "seconds": round(time.monotonic() - _fz_start, 1)}, open(RECORD, "w"))
print(json.dumps({"sent": len(_fz_plan), "comm_answers": {"%s %s" % k: v for k, v in sorted(_fz_counts.items(), key=str)}, "stdin_answers": len(_fz_stdin), "seconds": round(time.monotonic() - _fz_start, 1)}))
`;

/**
 * Run `code` in the kernel of the notebook at `nbPath` through the notebook's
 * own kernel connection (so its client id is this lab's) and return what it
 * printed.
 */
async function execute(page: Page, nbPath: string, code: string) {
  return page.evaluate(
    async ({ nbPath, code }) => {
      const app = (window as any).jupyterapp;
      const panel = [...app.shell.widgets('main')].find(
        (w: any) => w.context?.path === nbPath
      );
      const kernel = panel.sessionContext.session.kernel;
      let out = '';
      const future = kernel.requestExecute({ code, store_history: false });
      future.onIOPub = (msg: any) => {
        if (msg.header.msg_type === 'stream') {
          out += msg.content.text;
        } else if (msg.header.msg_type === 'error') {
          out += `${msg.content.ename}: ${msg.content.evalue}`;
        }
      };
      await future.done;
      return out;
    },
    { nbPath, code }
  );
}

const sha = (token: string) =>
  crypto.createHash('sha256').update(token).digest('hex').slice(0, 16);
/** What a cell prints for the session the kernel got (no token shown). */
const HELD_TOKEN =
  'import hashlib\nfrom jupyterlab_carto_auth import CartoAuth\n' +
  'print(hashlib.sha256(CartoAuth.from_oauth().get_access_token().encode()).hexdigest()[:16])';

test.beforeEach(async () => {
  await setLifetimes({ access_token_ttl: TTL });
});

test.afterEach(async () => {
  await sandboxHook('up');
  await setLifetimes({ access_token_ttl: 3600 });
});

test('1,500 generated kernel→lab messages through a real lab: right answers, no token leak, no crash, still working', async ({
  page,
  tmpPath
}) => {
  test.setTimeout(150000);
  const began = Date.now();
  const captured = captureTokens(page);
  const { plans, expected, byKind, total } = makePlans();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carto-fuzz-lab-'));

  // Given a signed-in lab, an allowed notebook and a denied one
  await signInWithPopup(page);
  const paths = {
    k1: await newNotebook(page, tmpPath, 'k1.ipynb'),
    k2: await newNotebook(page, tmpPath, 'k2.ipynb', { allow: false })
  };
  await accessDialog(page, paths.k2)
    .getByRole('button', { name: 'Deny' })
    .click();
  // The user denies whatever grant prompt k2's fuzz brings up.
  let denying = true;
  const denier = (async () => {
    while (denying) {
      const deny = accessDialog(page, paths.k2).getByRole('button', {
        name: 'Deny'
      });
      if (await deny.isVisible().catch(() => false)) {
        await deny.click().catch(() => undefined);
      }
      await page.waitForTimeout(200);
    }
  })();

  // (What the page throws or logs as an error from now on.)
  const pageErrors: string[] = [];
  page.on('pageerror', error => pageErrors.push(String(error)));
  page.on('console', message => {
    if (message.type() === 'error') {
      pageErrors.push(message.text());
    }
  });

  // When both kernels send their share at once
  const started = Date.now();
  const tokensAtStart = captured.access.length;
  const printed = await Promise.all(
    KERNELS.map(k => {
      const plan = path.join(dir, `${k}-plan.json`);
      fs.writeFileSync(plan, JSON.stringify(plans.get(k)));
      const code = KERNEL_FUZZ.replace('PLAN', JSON.stringify(plan))
        .replace('RECORD', JSON.stringify(path.join(dir, `${k}-record.json`)))
        .replace(
          'REPLIES',
          String(
            [...expected.get(k)!.replies.values()].reduce((a, b) => a + b, 0)
          )
        );
      return execute(page, paths[k], code);
    })
  );
  const fuzzSeconds = (Date.now() - started) / 1000;
  for (const [i, k] of KERNELS.entries()) {
    fs.rmSync(path.join(dir, `${k}-plan.json`)); // tens of MB; read by now
    expect(printed[i], `what ${k}'s fuzz cell printed`).toContain('"sent"');
  }
  const refreshes = captured.access.length - tokensAtStart;
  denying = false;
  await denier;

  // Then every answer is a valid lab→kernel message, of the right kind
  const counts: any = {
    side: 'real lab',
    seed: SEED,
    messages: total,
    by_kind: byKind,
    per_kernel: {},
    answers: { error: 0, session: 0, input_reply: 0 } as Record<string, number>,
    tokens_sent: 0,
    token_leaks: 0,
    wrong_answers: 0,
    page_errors: 0,
    refreshes_during_run: 0,
    fuzz_seconds: Math.round(fuzzSeconds)
  };
  const tokens = () => [...captured.access];
  for (const [i, k] of KERNELS.entries()) {
    const record = JSON.parse(
      fs.readFileSync(path.join(dir, `${k}-record.json`), 'utf-8')
    );
    const want = expected.get(k)!;
    const received: [number | 'stdin', any][] = [
      ...record.got,
      ...record.stdin.map((value: string) => {
        const envelope = JSON.parse(value);
        expect(envelope).toEqual({
          carto_auth: 1,
          id: envelope.message.id,
          message: envelope.message
        });
        return ['stdin', envelope.message];
      })
    ];
    const errors = new Map<number, string[]>();
    const replies = new Map<string, number>();
    let attaches = 0;
    const leaks: unknown[] = [];
    for (const [comm, message] of received) {
      parseMessage(message, 'lab_to_kernel'); // throws on an invalid one
      const kind = comm === 'stdin' ? 'input_reply' : message.type;
      counts.answers[kind] = (counts.answers[kind] ?? 0) + 1;
      if ('id' in message) {
        replies.set(message.id, (replies.get(message.id) ?? 0) + 1);
      } else if (message.type === 'error') {
        errors.set(comm as number, [
          ...(errors.get(comm as number) ?? []),
          message.code
        ]);
      } else if (message.reason === 'attach') {
        attaches++;
      }
      const text = JSON.stringify(message);
      if ('access_token' in message || tokens().some(t => text.includes(t))) {
        counts.tokens_sent++;
        const allowed =
          k === 'k1' &&
          (message.reason === 'attach' ||
            message.reason === 'refresh' ||
            (message.reason === 'reply' && want.replies.has(message.id)));
        if (!allowed) {
          leaks.push(message);
        }
      }
    }
    const sorted = (m: Map<number, string[]>) =>
      Object.fromEntries(
        [...m.entries()]
          .filter(([, codes]) => codes.length)
          .map(([comm, codes]) => [comm, [...codes].sort()])
          .sort(([a], [b]) => Number(a) - Number(b))
      );
    const wrong =
      JSON.stringify(sorted(errors)) !== JSON.stringify(sorted(want.errors)) ||
      JSON.stringify(Object.fromEntries([...replies].sort())) !==
        JSON.stringify(Object.fromEntries([...want.replies].sort())) ||
      (k === 'k1' && attaches !== want.attaches);
    counts.per_kernel[k] = {
      steps: plans.get(k)!.length,
      printed_by_kernel: JSON.parse(printed[i].trim().split('\n').at(-1)!),
      errors_expected: [...want.errors.values()].flat().length,
      errors_got: [...errors.values()].flat().length,
      replies_expected: [...want.replies.values()].reduce((a, b) => a + b, 0),
      replies_got: [...replies.values()].reduce((a, b) => a + b, 0),
      // (A denied notebook's attach is answered not_granted, like its
      // sign_out: not told apart, not counted.)
      attaches_expected: k === 'k1' ? want.attaches : null,
      attaches_got: k === 'k1' ? attaches : null,
      token_leaks: leaks.length
    };
    counts.token_leaks += leaks.length;
    counts.wrong_answers += wrong ? 1 : 0;
    expect.soft(leaks).toEqual([]);
    expect.soft(sorted(errors)).toEqual(sorted(want.errors));
    expect
      .soft(Object.fromEntries([...replies].sort()))
      .toEqual(Object.fromEntries([...want.replies].sort()));
    if (k === 'k1') {
      expect.soft(attaches).toBe(want.attaches);
    }
  }
  counts.refreshes_during_run = refreshes;

  // And the lab still works: a fresh attach and from_oauth() in k1, a refresh
  // reaches it, a new notebook gets the session, k2 still holds nothing
  expect(
    await execute(
      page,
      paths.k1,
      'import jupyterlab_carto_auth.kernel as k\nprint(k.attach())\n' +
        HELD_TOKEN
    )
  ).toMatch(/^True\n[0-9a-f]{16}\n$/);
  const before = captured.access.length;
  await expect
    .poll(() => captured.access.length, { timeout: (TTL / 2 + 10) * 1000 })
    .toBeGreaterThan(before);
  const latest = sha(captured.access.at(-1)!);
  await expect
    .poll(
      () =>
        execute(
          page,
          paths.k1,
          'import hashlib, jupyterlab_carto_auth.kernel as k\n' +
            'print(hashlib.sha256(k.SESSION.current.access_token.encode()).hexdigest()[:16], k.SESSION.current.reason)'
        ),
      { timeout: 10000 }
    )
    .toBe(`${latest} refresh\n`);
  const k3 = await newNotebook(page, tmpPath, 'k3.ipynb');
  expect(
    (await execute(page, k3, HELD_TOKEN)).trim().split('\n').at(-1)
  ).toMatch(new RegExp(`^(${captured.access.map(sha).join('|')})$`));
  expect(
    await execute(
      page,
      paths.k2,
      'import jupyterlab_carto_auth.kernel as k\nprint(k.SESSION.valid_token())'
    )
  ).toBe('None\n');
  await expect(page.locator('.jp-CartoAuth-statusButton')).toHaveAttribute(
    'data-status',
    'signed-in'
  );

  // No uncaught error, nothing logged as an error by the page
  counts.page_errors = pageErrors.length;
  counts.seconds = Math.round((Date.now() - began) / 1000);
  const file = path.join(
    os.tmpdir(),
    'jupyterlab-carto-auth-fuzz-real-lab.json'
  );
  fs.writeFileSync(file, JSON.stringify(counts, null, 1));
  console.info(
    `kernel→lab fuzz, real lab: ${JSON.stringify(counts)} (${file})`
  );
  expect(pageErrors).toEqual([]);
  expect(counts.token_leaks).toBe(0);
  expect(counts.wrong_answers).toBe(0);
  fs.rmSync(dir, { recursive: true, force: true });
});
