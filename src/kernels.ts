// The lab side of the kernel bridge: attach Python kernels of notebooks and
// consoles, push the session to every attached kernel, answer their requests
// (by comm, or on stdin for a synchronous cell), per docs/protocol.md. It
// loads with the first kernel (kernelwatch.ts follows kernels until then).
import { ISessionContext, Notification } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import type { KernelAccess } from './access';
import { CartoAuthError } from './errors';
import type { IEarlyOpen, IKernelBridge } from './kernelwatch';
import { defaultProfileName } from './profiles';
import type { IBinding, IProfile } from './profiles';
import {
  errorMessage,
  ErrorCode,
  IProfileSummary,
  IRequest,
  ISessionMessage,
  Message,
  parseMessage,
  PROFILES_FEATURE,
  ProtocolError,
  SessionReason,
  stdinReplyValue,
  TARGET,
  VERSION
} from './protocol';
import { ICartoSession, ICartoSessionInfo, ISignInOptions } from './tokens';

/**
 * The profiles the bridge routes kernels to (profiles.ts): each kernel gets
 * the session of its notebook's profile only.
 */
export interface IBridgeProfiles {
  readonly profiles: readonly IProfile[];
  readonly defaultProfile: IProfile;
  /** A profile was added, removed, renamed or made default, or a session changed. */
  readonly changed: ISignal<unknown, void>;
  get(slot: string): IProfile | null;
  byName(name: string): IProfile | null;
  resolve(binding: IBinding | null): { profile: IProfile; matched: boolean };
  /** Sign one profile out (the kernel's "Sign out everywhere"). */
  signOut(slot: string): Promise<void>;
}

/** The one session of a lab before profiles, as its one profile. */
export function singleProfile(session: ICartoSession): IBridgeProfiles {
  const changed = new Signal<unknown, void>(session);
  session.changed.connect(() => changed.emit());
  const profile = (): IProfile => ({
    slot: '',
    name:
      defaultProfileName(
        session.info.user?.email ?? null,
        session.info.user?.org ?? null
      ) ?? 'CARTO',
    email: session.info.user?.email ?? null,
    org: session.info.user?.org ?? null,
    isDefault: true,
    session
  });
  return {
    get profiles() {
      return [profile()];
    },
    get defaultProfile() {
      return profile();
    },
    changed,
    get: slot => (slot === '' ? profile() : null),
    byName: name => (profile().name === name ? profile() : null),
    resolve: () => ({ profile: profile(), matched: true }),
    signOut: () => session.signOut()
  };
}

/** What a lab executes, silently, to attach a Python kernel. */
export const ATTACH_CODE = [
  'import os.path as _carto_auth_os_path, sys as _carto_auth_sys',
  '_carto_auth_path = _carto_auth_sys.path[:]',
  '_carto_auth_sys.path[:] = [p for p in _carto_auth_path if _carto_auth_os_path.isabs(p)]',
  'try:',
  "    __import__('jupyterlab_carto_auth.kernel', fromlist=['attach']).attach()",
  'finally:',
  '    _carto_auth_sys.path[:] = _carto_auth_path',
  '    del _carto_auth_os_path, _carto_auth_sys, _carto_auth_path'
].join('\n');

/** A kernel the bridge knows about. */
interface IKernelState {
  readonly kernel: Kernel.IKernelConnection;
  comm: Kernel.IComm | null;
  /** Why this kernel is not attached, for the status item, or null. */
  problem: string | null;
  attaching: boolean;
  /** Attach at the next idle: set at start and by a restart. */
  needsAttach: boolean;
  /** The notebook's or console's path (the grant's key) and its name. */
  readonly context: ISessionContext;
  /** What the kernel was last told: a session may be pushed (granted), or not. */
  told: 'granted' | 'not_granted';
  /** The kernel signed itself out: no pushes until it asks or the lab signs in. */
  signedOut: boolean;
  /** The open sign-out confirmation's notification, or null. */
  signOutNotice: string | null;
  /** The profile slot whose session this kernel gets (its notebook's binding). */
  slot: string;
  /** Its hello named the `profiles` feature: it gets the profile fields. */
  profilesFeature: boolean;
}

/** Options of {@link KernelBridge}. */
export interface IKernelBridgeOptions {
  /** The session of a lab without profiles (used when `profiles` is not given). */
  readonly session: ICartoSession;
  /** The lab's profiles; default: `session` as the one profile. */
  readonly profiles?: IBridgeProfiles;
  /** The binding of the notebook of a context, or null (default profile). */
  readonly bindingOf?: (context: ISessionContext) => IBinding | null;
  /** Bind the notebook of a context to a profile (writes its metadata). */
  readonly bind?: (context: ISessionContext, profile: IProfile) => void;
  /** Emitted when a notebook's binding changed. */
  readonly bindingsChanged?: ISignal<unknown, unknown>;
  /** Sign in to another account with this organization: a new profile. */
  readonly addProfile?: (organization: string) => Promise<void>;
  readonly trans: TranslationBundle;
  /** Start a sign-in of profile slot `slot` (default: the default profile; the command's behaviour: dialogs on failure). */
  readonly signIn: (options: ISignInOptions, slot?: string) => Promise<void>;
  /** Bound of an interactive sign-in a kernel asked for, in seconds. */
  readonly signInTimeoutSeconds: () => number;
  /**
   * Why this lab must not reach the server's kernels (its Jupyter user is
   * not the server's owner: JupyterHub admin access or sharing), or null.
   * Then the bridge never attaches, pushes or answers.
   */
  readonly notOwner?: string | null;
  /** The user's grants: which notebooks may have the session. */
  readonly access: KernelAccess;
}

/**
 * Connects the CARTO session to kernels.
 */
export class KernelBridge implements IKernelBridge, IDisposable {
  constructor(private _options: IKernelBridgeOptions) {
    this.access = _options.access;
    this._profiles = _options.profiles ?? singleProfile(_options.session);
    this._profiles.changed.connect(this._onProfilesChanged, this);
    _options.bindingsChanged?.connect(this._onProfilesChanged, this);
    _options.access.changed.connect(this._onAccessChanged, this);
    this._followSessions();
    this._profilesKey = this._summaryKey();
  }

  /** The user's grants the bridge enforces (listed in the account panel). */
  readonly access: KernelAccess;

  /** Kernels that could not be attached, with the reason, changed. */
  get problemsChanged(): ISignal<this, void> {
    return this._problemsChanged;
  }

  /** Why some kernels are not attached (one line each), for the status item. */
  get problems(): string[] {
    return [...this._kernels.values()]
      .map(state => state.problem)
      .filter((p): p is string => !!p);
  }

  /** Number of kernels with an open CARTO comm. */
  get attachedCount(): number {
    return [...this._kernels.values()].filter(state => state.comm).length;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    Signal.clearData(this);
    this._kernels.clear();
  }

  /** Follow a notebook's or console's session context, across kernel changes. */
  watch(context: ISessionContext): void {
    const onKernel = () => {
      const kernel = context.session?.kernel;
      if (kernel) {
        this._addKernel(kernel, context);
      }
    };
    // A renamed notebook is another path: its grant is looked up again.
    const onRename = () => this._onAccessChanged();
    context.kernelChanged.connect(onKernel);
    context.propertyChanged?.connect(onRename);
    context.disposed.connect(() => {
      context.kernelChanged.disconnect(onKernel);
      context.propertyChanged?.disconnect(onRename);
    });
    onKernel();
  }

  /**
   * Take over a kernel that the start-up watch saw before this module
   * loaded, with the comm it opened meanwhile, if any.
   */
  adopt(
    kernel: Kernel.IKernelConnection,
    context: ISessionContext,
    open?: IEarlyOpen
  ): void {
    this._addKernel(kernel, context);
    const state = this._kernels.get(kernel);
    if (state && open) {
      this._onCommOpen(state, open.comm, open.msg);
    }
  }

  private _addKernel(
    kernel: Kernel.IKernelConnection,
    context: ISessionContext
  ): void {
    // Only one connection per kernel handles comms; the others must not
    // register a target (and need not: the handling one serves the kernel).
    if (!kernel.handleComms || this._kernels.has(kernel) || kernel.isDisposed) {
      return;
    }
    const state: IKernelState = {
      kernel,
      comm: null,
      problem: null,
      attaching: false,
      needsAttach: true,
      context,
      told: 'not_granted',
      signedOut: false,
      signOutNotice: null,
      slot: '',
      profilesFeature: false
    };
    state.slot = this._resolve(state).slot;
    this._kernels.set(kernel, state);
    kernel.registerCommTarget(TARGET, (comm, msg) =>
      this._onCommOpen(state, comm, msg)
    );
    kernel.statusChanged.connect((_, status) => {
      // A restart shows as restarting/autorestarting when the lab asked for
      // it, and only as starting when the server did (another client).
      if (
        status === 'restarting' ||
        status === 'autorestarting' ||
        status === 'starting'
      ) {
        state.comm = null; // the kernel process and its comm are gone
        state.needsAttach = true;
      } else if (status === 'idle' && state.needsAttach && !state.attaching) {
        void this._attach(state);
      } else if (status === 'dead') {
        state.comm = null;
      }
    });
    kernel.disposed.connect(() => {
      this._kernels.delete(kernel);
      this._problemsChanged.emit();
    });
    void this._attach(state);
  }

  /** Run the attach code silently in a Python kernel. */
  private async _attach(state: IKernelState): Promise<void> {
    const { kernel } = state;
    if (state.attaching || kernel.isDisposed || this._options.notOwner) {
      return;
    }
    state.attaching = true;
    state.needsAttach = false;
    try {
      const info = await kernel.info;
      if (info.language_info.name !== 'python') {
        return;
      }
      const future = kernel.requestExecute(
        {
          code: ATTACH_CODE,
          silent: true,
          store_history: false,
          allow_stdin: false,
          stop_on_error: false
        },
        true
      );
      const reply = await future.done;
      const content = reply.content;
      if (content.status === 'error') {
        const missing = content.ename === 'ModuleNotFoundError';
        this._setProblem(
          state,
          missing
            ? this._options.trans.__(
                'Kernel %1 cannot get the CARTO session: install jupyterlab-carto-auth in its environment (%pip install jupyterlab-carto-auth in a cell), then restart it.',
                kernel.name
              )
            : this._options.trans.__(
                'Kernel %1 could not attach to the CARTO session (%2).',
                kernel.name,
                content.ename
              )
        );
      }
    } catch (error) {
      console.warn(
        'jupyterlab-carto-auth: attach failed',
        kernel.id,
        String(error)
      );
    } finally {
      state.attaching = false;
    }
  }

  private _onCommOpen(
    state: IKernelState,
    comm: Kernel.IComm,
    msg: KernelMessage.ICommOpenMsg
  ): void {
    if (this._options.notOwner) {
      // Another user's server: stay silent (the target stays registered so
      // that this lab does not close the comm its owner's lab answers).
      return;
    }
    if (!causedByClient(state.kernel, msg)) {
      // Another lab's attach (or cell) opened it: that lab answers its hello.
      // It is the kernel's comm now, so pushes go to it (the kernel keeps one
      // person's session) and this lab's own cells' requests are answered on
      // it (docs/protocol.md, "Several labs on one kernel"), if this lab's
      // user allowed the notebook (docs/protocol.md, "Grants").
      this._track(state, comm);
      state.told = this._granted(state) ? 'granted' : 'not_granted';
      return;
    }
    let hello: Message;
    try {
      hello = parseMessage(msg.content.data, 'kernel_to_lab');
      if (hello.type !== 'hello') {
        throw new ProtocolError('bad_request', 'A comm must open with hello.');
      }
      if (!hello.versions.includes(VERSION)) {
        throw new ProtocolError(
          'unsupported_version',
          `The lab speaks protocol ${VERSION}, the kernel ${hello.versions.join(', ')}.`
        );
      }
    } catch (error) {
      const protocolError =
        error instanceof ProtocolError
          ? error
          : new ProtocolError('bad_request', String(error));
      this._send(comm, errorMessage(protocolError.code, protocolError.message));
      this._setProblem(
        state,
        protocolError.code === 'unsupported_version'
          ? this._options.trans.__(
              'Kernel %1 has an incompatible jupyterlab-carto-auth: upgrade it in the kernel environment.',
              state.kernel.name
            )
          : null
      );
      return;
    }
    this._track(state, comm);
    state.signedOut = false;
    state.profilesFeature = (hello.features ?? []).includes(PROFILES_FEATURE);
    state.slot = this._resolve(state).slot;
    this._setProblem(state, null);
    if (this._granted(state)) {
      state.told = 'granted';
      this._pushSession(state, comm, 'attach');
      return;
    }
    // Nothing secret before the user's Allow; the kernel learns why.
    state.told = 'not_granted';
    this._send(comm, NOT_GRANTED, state);
    if (this._sessionOf(state).info.status === 'signed-in') {
      void this._askGrant(state, null);
    }
  }

  /** Make `comm` the kernel's comm: pushes go to it, messages are handled. */
  private _track(state: IKernelState, comm: Kernel.IComm): void {
    state.comm = comm;
    comm.onMsg = message => this._onCommMsg(state, comm, message);
    comm.onClose = () => {
      if (state.comm === comm) {
        state.comm = null;
      }
    };
  }

  private _onCommMsg(
    state: IKernelState,
    comm: Kernel.IComm,
    msg: KernelMessage.ICommMsgMsg
  ): void {
    if (!causedByClient(state.kernel, msg)) {
      return; // another lab's cell asked: that lab answers
    }
    let message: Message;
    try {
      message = parseMessage(msg.content.data, 'kernel_to_lab');
    } catch (error) {
      const data = msg.content.data as any;
      // Never answer an error with an error.
      if (data?.type !== 'error') {
        const e = error as ProtocolError;
        this._send(comm, errorMessage(e.code ?? 'bad_request', e.message));
      }
      console.warn(
        'jupyterlab-carto-auth: refused a kernel message',
        state.kernel.id
      );
      return;
    }
    if (message.type === 'request') {
      void this._answer(state, comm, message, msg);
    } else if (message.type === 'sign_out') {
      this._kernelSignOut(state, comm);
    } else if (message.type === 'hello') {
      this._send(
        comm,
        errorMessage('bad_request', 'hello is only sent on comm open.')
      );
    }
  }

  /** Answer a kernel's request, by comm or on the stdin channel. */
  private async _answer(
    state: IKernelState,
    comm: Kernel.IComm,
    request: IRequest,
    msg: KernelMessage.ICommMsgMsg
  ): Promise<void> {
    let reply: Message;
    try {
      if (state.profilesFeature) {
        const refusal = await this._chooseProfile(state, request);
        if (refusal) {
          this._reply(state, comm, request, msg, refusal);
          return;
        }
      }
      if (!this._granted(state)) {
        const refusal = await this._grantFor(state, request);
        if (refusal) {
          this._reply(state, comm, request, msg, refusal);
          return;
        }
      }
      state.signedOut = false; // the kernel asks again: it gets the session
      const session = this._sessionOf(state);
      if (session.info.status !== 'signed-in' && request.interactive) {
        await this._promptSignIn(request.org, state.slot);
      }
      reply =
        session.info.status === 'signed-in'
          ? await this._sessionMessage('reply', state.slot, request.min_ttl)
          : { v: 1, type: 'session', state: 'signed_out', reason: 'reply' };
    } catch (error) {
      const code: ErrorCode =
        error instanceof CartoAuthError && isProtocolCode(error.code)
          ? error.code
          : 'cancelled';
      reply = errorMessage(
        code,
        error instanceof Error ? error.message : String(error)
      );
    }
    if (reply.type === 'session' && !this._granted(state)) {
      reply = NOT_GRANTED; // revoked while the token was on its way
    }
    this._reply(state, comm, request, msg, reply);
  }

  /** Send `reply` to `request` the way it asked for. */
  private _reply(
    state: IKernelState,
    comm: Kernel.IComm,
    request: IRequest,
    msg: KernelMessage.ICommMsgMsg,
    answer: Message
  ): void {
    const reply = { ...this._decorate(state, answer), id: request.id };
    if (request.reply_via === 'stdin') {
      try {
        state.kernel.sendInputReply(
          { status: 'ok', value: stdinReplyValue(request.id, reply) },
          msg.header as any
        );
      } catch (error) {
        console.warn(
          'jupyterlab-carto-auth: stdin reply failed',
          String(error)
        );
      }
    } else {
      this._send(comm, reply);
    }
  }

  /**
   * A feature kernel's choice of profile: by `profile` (name), else by
   * `org` (the profile of that organization, or a new sign-in to it when
   * interactive). Binds the notebook to it. Returns the answer to send
   * instead of a session (unknown profile), or null.
   */
  private async _chooseProfile(
    state: IKernelState,
    request: IRequest
  ): Promise<Message | null> {
    const profiles = this._profiles;
    if (request.profile !== undefined) {
      const profile = profiles.byName(request.profile);
      if (!profile) {
        return errorMessage(
          'unknown_profile',
          this._options.trans.__(
            'This JupyterLab has no CARTO profile named %1. Its profiles: %2.',
            JSON.stringify(request.profile),
            profiles.profiles.map(p => JSON.stringify(p.name)).join(', ')
          )
        );
      }
      this._bindTo(state, profile);
      return null;
    }
    const org = request.org;
    if (org === null || this._profileOf(state).org === org) {
      return null;
    }
    const find = () =>
      profiles.profiles.find(
        p => p.org === org && p.session.info.status === 'signed-in'
      );
    let match = find();
    const anySignedIn = profiles.profiles.some(
      p => p.session.info.status === 'signed-in'
    );
    if (
      !match &&
      request.interactive &&
      anySignedIn &&
      this._options.addProfile
    ) {
      const add = this._options.addProfile;
      await this._promptSignIn(
        org,
        null,
        () => !!find(),
        () => add(org)
      );
      match = find();
    }
    if (match) {
      this._bindTo(state, match);
    }
    return null;
  }

  /** Bind the kernel's notebook to `profile`: the kernel gets its session from now on. */
  private _bindTo(state: IKernelState, profile: IProfile): void {
    if (state.slot === profile.slot && this._resolve(state).matched) {
      return;
    }
    state.slot = profile.slot;
    state.told = this._granted(state) ? 'granted' : 'not_granted';
    this._options.bind?.(state.context, profile);
  }

  /**
   * Ask the user to sign in for a waiting kernel: a popup needs a click, so
   * the notification carries the button. Bounded by the sign-in time limit.
   */
  private _promptSignIn(
    org: string | null,
    slot: string | null,
    done?: () => boolean,
    action?: () => Promise<void>
  ): Promise<void> {
    const { trans } = this._options;
    const profiles = this._profiles;
    const session = profiles.get(slot ?? '')?.session;
    const isDone =
      done ??
      (() => profiles.get(slot ?? '')?.session.info.status === 'signed-in');
    // Waiting for one profile: its own signal, so that the push to the
    // kernels (connected first) still goes before the answer, as before
    // profiles; waiting for a new profile: the list's.
    const signal: ISignal<unknown, unknown> =
      done || !session ? profiles.changed : session.changed;
    const seconds = this._options.signInTimeoutSeconds();
    return new Promise<void>((resolve, reject) => {
      let id = '';
      const finish = (error?: CartoAuthError) => {
        clearTimeout(timer);
        signal.disconnect(onChange);
        Notification.dismiss(id);
        if (error) {
          reject(error);
        } else {
          resolve();
        }
      };
      const onChange = () => {
        if (isDone()) {
          finish();
        }
      };
      const timer = setTimeout(
        () =>
          finish(
            new CartoAuthError(
              'timeout',
              trans.__(
                'Nobody signed in to CARTO within %1 seconds. Click Sign in to CARTO, then run the cell again.',
                seconds
              )
            )
          ),
        seconds * 1000
      );
      signal.connect(onChange);
      id = Notification.info(
        action && org
          ? trans.__(
              'A notebook cell is waiting for you to sign in to CARTO with organization %1.',
              org
            )
          : trans.__('A notebook cell is waiting for you to sign in to CARTO.'),
        {
          autoClose: false,
          actions: [
            {
              label: trans.__('Sign in to CARTO'),
              displayType: 'accent',
              callback: () => {
                if (action) {
                  void action().catch(() => undefined);
                } else if (session) {
                  void this._options.signIn(
                    org ? { organization: org } : {},
                    slot ?? ''
                  );
                }
              }
            },
            {
              label: trans.__('Cancel'),
              callback: () =>
                finish(
                  new CartoAuthError(
                    'cancelled',
                    trans.__(
                      'Sign-in to CARTO was cancelled in JupyterLab. Click Sign in to CARTO, then run the cell again.'
                    )
                  )
                )
            }
          ]
        }
      );
    });
  }

  /** The session as a protocol message (tokens only when signed in). */
  private async _sessionMessage(
    reason: SessionReason,
    slot: string,
    minTtl = 0
  ): Promise<ISessionMessage> {
    const session = this._profiles.get(slot)?.session;
    if (!session) {
      return {
        v: 1,
        type: 'session',
        state: 'signed_out',
        reason: reason === 'attach' || reason === 'reply' ? reason : 'sign_out'
      };
    }
    const token =
      session.info.status === 'signed-in'
        ? await session.getAccessToken(minTtl)
        : null;
    const info = session.info;
    if (
      !token ||
      info.status !== 'signed-in' ||
      !info.user ||
      !info.expiresAt
    ) {
      return {
        v: 1,
        type: 'session',
        state: 'signed_out',
        reason: reason === 'attach' || reason === 'reply' ? reason : 'sign_out'
      };
    }
    return {
      v: 1,
      type: 'session',
      state: 'signed_in',
      access_token: token,
      expires_at: info.expiresAt / 1000,
      api_base_url: info.apiBaseUrl,
      user: {
        email: info.user.email,
        name: info.user.name,
        org: info.user.org
      },
      reason
    };
  }

  /**
   * The session message to push, or null when the session cannot give its
   * token now (nothing is pushed: the kernel keeps what it has and asks when
   * it needs more; the failure is logged, never left unhandled).
   */
  private async _pushable(
    reason: SessionReason,
    slot: string
  ): Promise<ISessionMessage | null> {
    try {
      return await this._sessionMessage(reason, slot);
    } catch (error) {
      console.warn(
        'jupyterlab-carto-auth: could not push the session',
        error instanceof CartoAuthError ? error.code : String(error)
      );
      return null;
    }
  }

  /** Follow every profile's session (profiles come and go). */
  private _followSessions(): void {
    const live = new Set<string>();
    for (const profile of this._profiles.profiles) {
      live.add(profile.slot);
      const followed = this._followed.get(profile.slot);
      if (followed?.session === profile.session) {
        continue;
      }
      followed?.session.changed.disconnect(followed.listener);
      const entry = {
        session: profile.session,
        lastPushed: '',
        listener: (_: ICartoSession, info: ICartoSessionInfo) =>
          this._onSessionChanged(profile.slot, info)
      };
      entry.lastPushed = this._pushKey(profile.session.info, '');
      profile.session.changed.connect(entry.listener);
      this._followed.set(profile.slot, entry);
    }
    for (const [slot, followed] of [...this._followed]) {
      if (!live.has(slot)) {
        followed.session.changed.disconnect(followed.listener);
        this._followed.delete(slot);
      }
    }
  }

  /**
   * Profiles or bindings changed: follow new sessions; a kernel whose
   * notebook now uses another profile gets that profile's session at once
   * (or not_granted until the user allows the pair); feature kernels learn
   * a changed list (reason `profiles`).
   */
  private _onProfilesChanged(): void {
    this._followSessions();
    const key = this._summaryKey();
    const listChanged = key !== this._profilesKey;
    this._profilesKey = key;
    for (const state of this._kernels.values()) {
      const { slot } = this._resolve(state);
      const comm = state.comm;
      if (slot === state.slot) {
        if (
          listChanged &&
          comm &&
          state.profilesFeature &&
          state.told === 'granted' &&
          this._granted(state)
        ) {
          this._pushSession(state, comm, 'profiles');
        }
        continue;
      }
      state.slot = slot;
      if (!comm) {
        continue;
      }
      if (this._granted(state)) {
        state.told = 'granted';
        const info = this._sessionOf(state).info;
        this._pushSession(
          state,
          comm,
          state.profilesFeature
            ? 'profiles'
            : info.status === 'signed-in'
              ? 'sign_in'
              : 'sign_out'
        );
      } else {
        state.told = 'not_granted';
        this._send(comm, NOT_GRANTED, state);
        if (this._sessionOf(state).info.status === 'signed-in') {
          void this._askGrant(state, null);
        }
      }
    }
  }

  /** Push sign-in, refresh and sign-out of one profile to the kernels it is bound to. */
  private _onSessionChanged(slot: string, info: ICartoSessionInfo): void {
    const followed = this._followed.get(slot);
    if (!followed) {
      return;
    }
    const key = this._pushKey(info, followed.lastPushed);
    if (key === followed.lastPushed) {
      return; // only an error text or the signing-in state changed
    }
    const reason: SessionReason =
      info.status !== 'signed-in'
        ? 'sign_out'
        : followed.lastPushed.startsWith('in:')
          ? 'refresh'
          : 'sign_in';
    followed.lastPushed = key;
    void this._pushable(reason, slot).then(message => {
      if (!message) {
        return;
      }
      for (const state of this._kernels.values()) {
        if (state.slot !== slot) {
          continue; // another profile's notebook
        }
        if (!state.comm || state.told !== 'granted' || !this._granted(state)) {
          continue; // not allowed: it holds not_granted
        }
        if (state.signedOut) {
          if (reason !== 'sign_in') {
            continue; // signed itself out: only a new sign-in reaches it
          }
          state.signedOut = false;
        }
        this._send(state.comm, message, state);
      }
    });
  }

  /** May this kernel's notebook have its profile's session (the user's grant)? */
  private _granted(state: IKernelState): boolean {
    return this._options.access.isGranted(state.context.path, state.slot);
  }

  /** The profile a kernel's notebook is bound to now. */
  private _resolve(state: IKernelState): { slot: string; matched: boolean } {
    const binding = this._options.bindingOf?.(state.context) ?? null;
    const { profile, matched } = this._profiles.resolve(binding);
    return { slot: profile.slot, matched };
  }

  private _profileOf(state: IKernelState): IProfile {
    return this._profiles.get(state.slot) ?? this._profiles.defaultProfile;
  }

  private _sessionOf(state: IKernelState): ICartoSession {
    return this._profileOf(state).session;
  }

  /** The profile list as feature kernels see it. */
  private _summary(): IProfileSummary[] {
    // A profile never signed in (the default slot of a new lab) is no account.
    return this._profiles.profiles
      .filter(p => p.email !== null)
      .map(p => ({
        name: p.name,
        email: p.email!,
        org: p.org,
        default: p.isDefault
      }));
  }

  private _summaryKey(): string {
    return JSON.stringify(this._summary());
  }

  /** A session message with the profile fields, for a feature kernel. */
  private _decorate(state: IKernelState | null, message: Message): Message {
    if (!state?.profilesFeature || message.type !== 'session') {
      return message;
    }
    const profile = this._profileOf(state);
    // Signed in to no account yet: `profiles: []` without `profile`
    // (docs/protocol.md, "Profiles").
    return profile.email === null
      ? { ...message, profiles: this._summary() }
      : {
          ...message,
          profile: { name: profile.name, org: profile.org },
          profiles: this._summary()
        };
  }

  /** How the prompt names a kernel: a notebook by its path, a console by name. */
  private _label(state: IKernelState): string {
    const { context } = state;
    return context.type === 'console' && context.name
      ? context.name
      : context.path;
  }

  /** Push the session to one kernel, if it is still allowed when it is ready. */
  private _pushSession(
    state: IKernelState,
    comm: Kernel.IComm,
    reason: SessionReason
  ): void {
    const slot = state.slot;
    void this._pushable(reason, slot).then(message => {
      if (
        message &&
        state.slot === slot &&
        this._granted(state) &&
        !(state.signedOut && message.state === 'signed_in')
      ) {
        this._send(comm, message, state);
      }
    });
  }

  /** Ask the user to allow this kernel's notebook, bounded by the time limit. */
  private _askGrant(state: IKernelState, org: string | null): Promise<boolean> {
    const seconds = this._options.signInTimeoutSeconds();
    const asked = this._options.access.ask({
      path: state.context.path,
      label: this._label(state),
      org,
      profile: state.slot
    });
    const timer = setTimeout(() => asked.dismiss(), seconds * 1000);
    return asked.answer.finally(() => clearTimeout(timer));
  }

  /**
   * Get the user's grant for a request from a kernel not allowed yet: null
   * once allowed (signed in too when the dialog said "Sign in and allow"),
   * else the answer to send.
   */
  private async _grantFor(
    state: IKernelState,
    request: IRequest
  ): Promise<Message | null> {
    const { access, trans } = this._options;
    const session = this._sessionOf(state);
    const { path } = state.context;
    if (access.isDenied(path, state.slot)) {
      return this._denied(path);
    }
    if (!request.interactive) {
      return NOT_GRANTED; // no UI for a non-interactive request
    }
    const seconds = this._options.signInTimeoutSeconds();
    if (await this._askGrant(state, request.org)) {
      if (session.info.status !== 'signed-in') {
        // One dialog for both: its click (a user gesture) starts the sign-in.
        await this._options.signIn(
          request.org ? { organization: request.org } : {},
          state.slot
        );
      }
      return null;
    }
    return access.isDenied(path, state.slot)
      ? this._denied(path)
      : errorMessage(
          'timeout',
          trans.__(
            'Nobody allowed %1 to use your CARTO account within %2 seconds. Run the cell again and click Allow in JupyterLab.',
            path,
            seconds
          )
        );
  }

  private _denied(path: string): Message {
    return errorMessage(
      'denied',
      this._options.trans.__(
        'You denied %1 the use of your CARTO account. To allow it, open CARTO Account in JupyterLab (status bar) and click Allow, or run the cell again in two minutes.',
        path
      )
    );
  }

  /**
   * A kernel's `sign_out` signs that kernel out; signing out the whole lab
   * needs the user's click on the notification it shows (one per kernel).
   */
  private _kernelSignOut(state: IKernelState, comm: Kernel.IComm): void {
    const { trans } = this._options;
    const session = this._sessionOf(state);
    const slot = state.slot;
    if (!this._granted(state)) {
      this._send(comm, NOT_GRANTED, state);
      return;
    }
    state.signedOut = true;
    this._send(
      comm,
      {
        v: 1,
        type: 'session',
        state: 'signed_out',
        reason: 'sign_out'
      },
      state
    );
    const shown =
      state.signOutNotice !== null &&
      Notification.manager.has(state.signOutNotice);
    if (session.info.status !== 'signed-in' || shown) {
      return;
    }
    state.signOutNotice = Notification.info(
      trans.__(
        '%1 signed out of CARTO. Sign out of CARTO in JupyterLab too (every tab and kernel)?',
        this._label(state)
      ),
      {
        autoClose: false,
        actions: [
          {
            label: trans.__('Sign out everywhere'),
            displayType: 'warn',
            callback: () => void this._profiles.signOut(slot)
          },
          {
            label: trans.__('Stay signed in'),
            callback: () => undefined
          }
        ]
      }
    );
  }

  /** A grant given or taken back, the mode, or a path changed: tell kernels. */
  private _onAccessChanged(): void {
    for (const state of this._kernels.values()) {
      const { comm } = state;
      if (!comm) {
        continue;
      }
      const signedIn = this._sessionOf(state).info.status === 'signed-in';
      const granted = this._granted(state);
      if (granted && state.told === 'not_granted') {
        state.told = 'granted';
        if (signedIn) {
          this._pushSession(state, comm, 'sign_in');
        }
      } else if (!granted && state.told === 'granted') {
        state.told = 'not_granted';
        this._send(comm, NOT_GRANTED, state);
      }
    }
  }

  /** What identifies a pushable change: a new token, or signed out. */
  private _pushKey(info: ICartoSessionInfo, last: string): string {
    if (info.status === 'signed-in') {
      return `in:${info.expiresAt}`;
    }
    return info.status === 'signing-in' ? last || 'out' : 'out';
  }

  /**
   * Send without waiting: one slow or dead kernel never delays the others.
   * With `state`, a feature kernel's session message gets the profile fields.
   */
  private _send(
    comm: Kernel.IComm,
    message: Message,
    state: IKernelState | null = null
  ): void {
    try {
      if (!comm.isDisposed) {
        comm.send(this._decorate(state, message) as any);
      }
    } catch (error) {
      console.warn(
        'jupyterlab-carto-auth: could not reach a kernel',
        String(error)
      );
    }
  }

  private _setProblem(state: IKernelState, problem: string | null): void {
    if (state.problem !== problem) {
      state.problem = problem;
      this._problemsChanged.emit();
    }
  }

  private _kernels = new Map<Kernel.IKernelConnection, IKernelState>();
  private _profiles: IBridgeProfiles;
  private _profilesKey: string;
  private _followed = new Map<
    string,
    {
      session: ICartoSession;
      lastPushed: string;
      listener: (s: ICartoSession, info: ICartoSessionInfo) => void;
    }
  >();
  private _isDisposed = false;
  private _problemsChanged = new Signal<this, void>(this);
}

/**
 * Whether this lab's own kernel connection caused a kernel message: its parent
 * header's session is the connection's client id (every connected lab sees
 * every comm message on IOPub, each answers only its own).
 */
function causedByClient(
  kernel: Kernel.IKernelConnection,
  msg: KernelMessage.IMessage
): boolean {
  const parent = msg.parent_header as Partial<KernelMessage.IHeader>;
  return !!kernel.clientId && parent?.session === kernel.clientId;
}

/** What a kernel without the user's grant is told: nothing secret. */
const NOT_GRANTED: ISessionMessage = {
  v: 1,
  type: 'session',
  state: 'signed_out',
  reason: 'not_granted'
};

function isProtocolCode(code: string): code is ErrorCode {
  return ['cancelled', 'timeout', 'network', 'denied'].includes(code);
}
