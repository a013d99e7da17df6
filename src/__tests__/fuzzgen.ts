// The generator of kernel→lab comm messages that both fuzz runs send: the
// one against the real KernelBridge under jest (fuzz.spec.ts) and the shorter
// one through a real lab in Chromium (ui-tests/tests/fuzzlab.spec.ts). Plain
// TypeScript, no JupyterLab import, so that Playwright can load it too.

/** A valid hello (the kernel side's, docs/protocol.md). */
export const HELLO = {
  v: 1,
  type: 'hello',
  versions: [1],
  package_version: '0.1.0'
};

export const KINDS = [
  'request', // a valid request (comm or stdin, interactive or not)
  'mutated_request', // a valid request with one field dropped or replaced
  'missing_fields', // a request, hello or error without some of its fields
  'hello', // a valid hello, sent as a comm_msg (only comm_open may carry it)
  'ack', // a type the protocol does not have: ack, session, gossip, ...
  'sign_out', // a valid sign_out
  'error', // a valid or invalid error from the kernel (never answered)
  'garbage', // any JSON value, nested up to 4 deep
  'wrong_v', // another protocol version, or a v that is not an integer
  'huge', // strings beyond the 64 KB limit, or just under it
  'pollution', // __proto__, constructor, prototype keys and ids
  'deep', // nesting 100 to 100,000 deep
  'non_object', // null, numbers, strings, arrays, undefined
  'open', // a new comm opened with a fuzzed (or valid) hello
  'another_lab' // any of the above, caused by another lab's connection
] as const;
export type Kind = (typeof KINDS)[number];
/** The kinds that are one message's data. */
export const MESSAGES = KINDS.filter(k => k !== 'open' && k !== 'another_lab');

/** mulberry32: a small seeded generator, so a failure can be replayed. */
export function generator(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length)];
  return { next, int, pick };
}
export type Rng = ReturnType<typeof generator>;

const ODD_IDS = ['__proto__', 'constructor', 'prototype', 'toString', 'r-1'];

function text(rng: Rng, max = 20): string {
  const chars = 'aZ09 _-"\\\n\u0000é€😀{}[]<>&';
  let out = '';
  for (let i = rng.int(0, max); i > 0; i--) {
    out += rng.pick([...chars]);
  }
  return out;
}

function json(rng: Rng, depth = 0): unknown {
  const kinds = ['str', 'num', 'bool', 'null'];
  if (depth < 4) {
    kinds.push('list', 'dict', 'list', 'dict');
  }
  switch (rng.pick(kinds)) {
    case 'str':
      return text(rng);
    case 'num':
      return rng.pick([0, 1, -1, 2, 3600, 3601, 1e20, 1.5, -0, rng.next()]);
    case 'bool':
      return rng.next() < 0.5;
    case 'null':
      return null;
    case 'list':
      return Array.from({ length: rng.int(0, 4) }, () => json(rng, depth + 1));
    default: {
      const keys = ['v', 'type', 'id', 'interactive', 'org', 'min_ttl'];
      const out: Record<string, unknown> = {};
      for (let i = rng.int(0, 5); i > 0; i--) {
        out[rng.pick([...keys, 'reply_via', 'versions', 'x', ''])] = json(
          rng,
          depth + 1
        );
      }
      return out;
    }
  }
}

function request(rng: Rng, id: string): Record<string, unknown> {
  return {
    v: 1,
    type: 'request',
    id,
    interactive: rng.next() < 0.5,
    org: rng.pick([null, 'acme', '__proto__']),
    min_ttl: rng.pick([0, 30, 3600, rng.int(0, 3601)]),
    reply_via: rng.pick(['comm', 'stdin'])
  };
}

function nested(depth: number): unknown {
  let value: unknown = { v: 1, type: 'request' };
  for (let i = 0; i < depth; i++) {
    value = i % 2 ? [value] : { v: 1, type: 'request', x: value };
  }
  return value;
}

/** The data of one generated message of `kind` (not `another_lab`). */
export function generate(rng: Rng, kind: Kind, n: number): unknown {
  switch (kind) {
    case 'request':
      return request(rng, rng.next() < 0.1 ? rng.pick(ODD_IDS) : `r-${n}`);
    case 'mutated_request': {
      const base = request(rng, `m-${n}`);
      const key = rng.pick([...Object.keys(base), 'extra']);
      if (rng.next() < 0.3) {
        delete base[key];
      } else {
        base[key] = json(rng, 3);
      }
      return base;
    }
    case 'missing_fields': {
      const base = rng.pick([
        request(rng, `f-${n}`),
        { ...HELLO },
        { v: 1, type: 'error', code: 'cancelled', message: 'x' }
      ]) as Record<string, unknown>;
      for (const key of Object.keys(base)) {
        if (rng.next() < 0.4) {
          delete base[key];
        }
      }
      return base;
    }
    case 'hello':
      return rng.pick([HELLO, { ...HELLO, versions: [1, 2, 3] }]);
    case 'ack':
      return {
        v: 1,
        type: rng.pick(['ack', 'session', 'gossip', '', 'REQUEST', 'reply']),
        id: `a-${n}`
      };
    case 'sign_out':
      return { v: 1, type: 'sign_out' };
    case 'error':
      return {
        v: 1,
        type: 'error',
        code: rng.pick(['cancelled', 'timeout', 'oops', 3, null]),
        message: rng.pick(['x', 4, null]),
        ...(rng.next() < 0.5 ? { id: rng.pick(['e-1', '', 5]) } : {})
      };
    case 'garbage':
      return json(rng);
    case 'wrong_v':
      return {
        ...request(rng, `v-${n}`),
        v: rng.pick([0, 2, 99, -1, '1', true, null, 1.5, [1], undefined])
      };
    case 'huge': {
      const size = rng.pick([65000, 65537, 70000, 1_000_000]);
      const big = 'x'.repeat(size);
      return rng.pick([
        { ...request(rng, `h-${n}`), org: big },
        { v: 1, type: 'error', code: 'cancelled', message: big },
        { ...HELLO, package_version: big },
        big
      ]);
    }
    case 'pollution': {
      const base = JSON.stringify(request(rng, rng.pick(ODD_IDS))).slice(1);
      return JSON.parse(
        rng.pick([
          `{"__proto__":{"polluted":true,"interactive":true},${base}`,
          `{"constructor":{"prototype":{"polluted":true}},${base}`,
          `{"__proto__":{"type":"request","v":1},"id":"__proto__"}`,
          `{"prototype":{"polluted":true},"v":1,"type":"hello","versions":[1],"package_version":"__proto__"}`,
          `{"v":1,"type":"__proto__"}`,
          `{"v":1,"type":"constructor"}`,
          `{"v":1,"type":"toString"}`
        ])
      );
    }
    case 'deep':
      return nested(rng.pick([100, 1000, 10_000, 100_000]));
    case 'non_object':
      return rng.pick([null, undefined, 0, 42, NaN, '', 'null', '{}', [], [1]]);
    case 'open':
      return rng.next() < 0.3 ? HELLO : generate(rng, rng.pick(MESSAGES), n);
    default:
      throw new Error(`no generator for ${kind}`);
  }
}

/**
 * `value` as JSON text, as JSON.stringify gives it, also for values nested
 * too deep for JSON.stringify's recursion (the `deep` kind): a real kernel
 * sends text, and 100,000 levels are fine for JSON.parse.
 */
export function toJsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof RangeError)) {
      throw error;
    }
  }
  const out: string[] = [];
  // Work items: a value to write, or text to write as is.
  const todo: ({ value: unknown } | string)[] = [{ value }];
  while (todo.length) {
    const item = todo.pop()!;
    if (typeof item === 'string') {
      out.push(item);
      continue;
    }
    const v = item.value;
    if (Array.isArray(v)) {
      const parts: ({ value: unknown } | string)[] = ['['];
      v.forEach((x, i) => {
        parts.push(...(i ? [','] : []), { value: x ?? null });
      });
      parts.push(']');
      todo.push(...parts.reverse());
    } else if (v !== null && typeof v === 'object') {
      const parts: ({ value: unknown } | string)[] = ['{'];
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .forEach(([k, x], i) => {
          parts.push(`${i ? ',' : ''}${JSON.stringify(k)}:`, { value: x });
        });
      parts.push('}');
      todo.push(...parts.reverse());
    } else {
      out.push(JSON.stringify(v) ?? 'null');
    }
  }
  return out.join('');
}
