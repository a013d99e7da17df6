// Fakes that stand in for kernels, their comms, the CARTO session and a
// notebook's context, around the real KernelBridge (src/kernels.ts): shared by
// kernels.spec.ts and fuzz.spec.ts.
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { nullTranslator } from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';

import {
  AccessAnswer,
  IAccessRequest,
  IStoredAccess,
  KernelAccess
} from '../access';
import { CartoAuthError } from '../errors';
import { KernelBridge } from '../kernels';
import { TARGET } from '../protocol';
import { ICartoSession, ICartoSessionInfo, ISignInOptions } from '../tokens';

/** What the lab sent, as the scenarios write it. */
export type Sent =
  | { kernel: string; comm_id: string; comm_msg: unknown }
  | { kernel: string; input_reply: unknown };

export interface ILabSession {
  access_token: string;
  expires_at: number;
  api_base_url: string | null;
  user: { email: string; name: string; org: string | null };
}

export { HELLO } from './fuzzgen';
export const ANA: ILabSession = {
  access_token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbmEifQ.c2lnbmF0dXJl',
  expires_at: 1796000000,
  api_base_url: 'https://gcp-us-east1.api.carto.com',
  user: { email: 'ana@example.com', name: 'Ana', org: 'acme' }
};

export class FakeComm {
  constructor(
    readonly kernel: FakeKernel,
    readonly commId: string
  ) {}
  isDisposed = false;
  onMsg: ((msg: KernelMessage.ICommMsgMsg) => void) | null = null;
  onClose: ((msg: KernelMessage.ICommCloseMsg) => void) | null = null;

  send(data: unknown): unknown {
    if (this.kernel.sendThrows) {
      throw new Error('the kernel is gone');
    }
    this.kernel.log.push({
      kernel: this.kernel.name,
      comm_id: this.commId,
      comm_msg: data
    });
    // A slow kernel: nothing it is sent is ever acknowledged.
    return { done: new Promise(() => undefined) };
  }
}

/** A kernel connection: records comm sends, execute and stdin replies. */
export class FakeKernel {
  constructor(
    readonly name: string,
    readonly log: Sent[],
    options: { language?: string; handleComms?: boolean } = {}
  ) {
    this.handleComms = options.handleComms ?? true;
    this.info = Promise.resolve({
      language_info: { name: options.language ?? 'python' }
    });
  }
  get id(): string {
    return `id-${this.name}`;
  }
  /** This lab's kernel connection: its messages' header session. */
  get clientId(): string {
    return `client-${this.name}`;
  }
  readonly handleComms: boolean;
  readonly info: Promise<unknown>;
  isDisposed = false;
  sendThrows = false;
  attachReply: Record<string, unknown> = { status: 'ok' };
  readonly statusChanged = new Signal<this, Kernel.Status>(this);
  readonly disposed = new Signal<this, void>(this);
  readonly executed: { content: any; disposeOnDone: boolean }[] = [];
  readonly inputReplies: { content: any; parent: any }[] = [];
  readonly comms = new Map<string, FakeComm>();
  private _targets = new Map<string, (comm: any, msg: any) => void>();
  private _count = 0;

  registerCommTarget(name: string, callback: (c: any, m: any) => void): void {
    this._targets.set(name, callback);
  }

  requestExecute(content: any, disposeOnDone: boolean): unknown {
    this.executed.push({ content, disposeOnDone });
    return { done: Promise.resolve({ content: this.attachReply }) };
  }

  sendInputReply(content: any, parent: any): void {
    this.inputReplies.push({ content, parent });
    this.log.push({
      kernel: this.name,
      input_reply: JSON.parse(content.value)
    });
  }

  /**
   * The kernel opens a carto_auth comm with `data`, caused by the execute
   * request of client `causedBy` (this lab's connection by default).
   */
  open(commId: string, data: unknown, causedBy = this.clientId): FakeComm {
    const comm = new FakeComm(this, commId);
    this.comms.set(commId, comm);
    const target = this._targets.get(TARGET);
    if (!target) {
      throw new Error(`${this.name} has no ${TARGET} target`);
    }
    target(comm, {
      header: this._header('comm_open'),
      parent_header: { msg_id: 'execute', session: causedBy },
      content: { comm_id: commId, target_name: TARGET, data }
    });
    return comm;
  }

  /**
   * The kernel sends `data` on a comm, from a cell client `causedBy` ran;
   * returns the message's header.
   */
  send(
    commId: string,
    data: unknown,
    causedBy = this.clientId
  ): Record<string, unknown> {
    const header = this._header('comm_msg');
    this.comms.get(commId)?.onMsg?.({
      header,
      parent_header: { msg_id: 'execute', session: causedBy },
      content: { comm_id: commId, data }
    } as any);
    return header;
  }

  close(commId: string): void {
    const comm = this.comms.get(commId);
    if (comm) {
      comm.onClose?.({} as any);
      comm.isDisposed = true;
    }
  }

  asConnection(): Kernel.IKernelConnection {
    return this as unknown as Kernel.IKernelConnection;
  }

  private _header(msgType: string): Record<string, unknown> {
    return { msg_id: `${this.name}-${++this._count}`, msg_type: msgType };
  }
}

/** The CARTO session, as far as the bridge uses it. */
export class FakeSession {
  constructor(session: ILabSession | null) {
    this.info = FakeSession.infoOf(session);
    this.token = session?.access_token ?? null;
  }
  info: ICartoSessionInfo;
  token: string | null;
  tokenError: CartoAuthError | null = null;
  readonly minTtls: number[] = [];
  readonly changed = new Signal<this, ICartoSessionInfo>(this);
  readonly expiring = new Signal<this, number>(this);
  readonly organization = '';
  readonly signInTimeoutSeconds = 300;
  readonly ready = Promise.resolve();

  static infoOf(session: ILabSession | null): ICartoSessionInfo {
    return {
      status: session ? 'signed-in' : 'signed-out',
      user: session ? { ...session.user } : null,
      expiresAt: session ? session.expires_at * 1000 : null,
      apiBaseUrl: session?.api_base_url ?? null,
      region: null,
      canRefresh: !!session,
      error: null
    };
  }

  async getAccessToken(minTtl = 30): Promise<string | null> {
    this.minTtls.push(minTtl);
    if (this.tokenError) {
      throw this.tokenError;
    }
    return this.info.status === 'signed-in' ? this.token : null;
  }

  /** A sign-in ends with `session`. */
  becomes(session: ILabSession | null): void {
    this.token = session?.access_token ?? null;
    this.update(FakeSession.infoOf(session));
  }

  update(info: ICartoSessionInfo): void {
    this.info = info;
    this.changed.emit(info);
  }

  async signIn(): Promise<void> {
    throw new Error('the bridge signs in through its signIn option');
  }

  cancelSignIn(): void {
    // not used by the bridge
  }

  async signOut(): Promise<void> {
    this.becomes(null);
  }

  asSession(): ICartoSession {
    return this as unknown as ICartoSession;
  }
}

/** A notebook's session context, holding one kernel. */
export function contextOf(
  kernel: FakeKernel | null,
  path = `work/${kernel?.name ?? 'none'}.ipynb`
): any {
  return {
    path,
    name: path.split('/').pop(),
    type: 'notebook',
    propertyChanged: new Signal<any, any>({}),
    session: { kernel: kernel?.asConnection() ?? null },
    kernelChanged: new Signal<any, any>({}),
    disposed: new Signal<any, any>({})
  };
}

/** Let every pending promise chain run (fake timers do not touch them). */
export async function settle(): Promise<void> {
  await jest.advanceTimersByTimeAsync(0);
}

/** A grant prompt the test answers. */
export interface IShownPrompt {
  request: IAccessRequest;
  answer(value: AccessAnswer): void;
  closed: boolean;
}

/**
 * The user's grants in memory; `prompts` are the grant dialogs shown, oldest
 * first. `mode: 'all'` (confirmed) is what the recorded scenarios assume.
 */
export function accessOf(mode: 'ask' | 'all', granted: string[] = []) {
  let stored: IStoredAccess = {
    grants: granted.map(path => ({ path, grantedAt: 0 })),
    allConfirmed: mode === 'all'
  };
  const prompts: IShownPrompt[] = [];
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
      const shown: IShownPrompt = { request, answer: resolve, closed: false };
      prompts.push(shown);
      return {
        answer,
        close: () => {
          shown.closed = true;
          resolve('dismissed');
        }
      };
    },
    confirmAll: async () => true
  });
  void access.setMode(mode);
  return { access, prompts, stored: () => stored };
}

/** A bridge over `names` Python kernels, each watched from the start. */
export function setUp(
  session: ILabSession | null,
  options: {
    names?: string[];
    signInGives?: ILabSession | null;
    timeoutSeconds?: number;
    access?: ReturnType<typeof accessOf>;
  } = {}
) {
  const log: Sent[] = [];
  const fake = new FakeSession(session);
  const signIns: ISignInOptions[] = [];
  const grants = options.access ?? accessOf('all');
  const bridge = new KernelBridge({
    access: grants.access,
    session: fake.asSession(),
    trans: nullTranslator.load('jupyterlab-carto-auth'),
    signIn: async opts => {
      signIns.push(opts);
      if (options.signInGives) {
        fake.becomes(options.signInGives);
      }
    },
    signInTimeoutSeconds: () => options.timeoutSeconds ?? 300
  });
  const kernels = new Map<string, FakeKernel>();
  for (const name of options.names ?? ['k1']) {
    const kernel = new FakeKernel(name, log);
    kernels.set(name, kernel);
    bridge.watch(contextOf(kernel));
  }
  return { log, fake, bridge, kernels, signIns, grants };
}
