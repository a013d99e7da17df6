// Which notebooks (and consoles) may use the CARTO session: the user's grants,
// per path, kept in this browser's storage (out of a kernel's reach: kernel
// code can edit the workspace file and the settings, not this browser's
// storage), the prompt that asks for one, and its bounds.
import { ISignal, Signal } from '@lumino/signaling';

/** The `kernelAccess` setting. */
export type KernelAccessMode = 'ask' | 'all';

/** A notebook the user allowed to use the CARTO session. */
export interface IGrant {
  /** The notebook's or console's path (its session context's path). */
  readonly path: string;
  /** When it was allowed, epoch milliseconds. */
  readonly grantedAt: number;
  /**
   * The profile slot (profiles.ts) it was allowed for; absent: the default
   * slot (a grant given before profiles).
   */
  readonly profile?: string;
}

/** Whether `grant` is of `path` for the profile slot `profile`. */
function isGrantOf(grant: IGrant, path: string, profile: string): boolean {
  return grant.path === path && (grant.profile ?? '') === profile;
}

/** One key for a (path, profile slot) pair: the path alone for the default slot. */
function keyOf(path: string, profile: string): string {
  return profile ? `${profile}\n${path}` : path;
}

/** What is kept in the store. */
export interface IStoredAccess {
  grants: IGrant[];
  /** `kernelAccess: all` was confirmed by the user in this browser. */
  allConfirmed: boolean;
}

/** Where grants live. */
export interface IAccessStore {
  load(): IStoredAccess;
  save(value: IStoredAccess): void;
  /** Calls `listener` when another tab changed the store; returns a remover. */
  watch?(listener: () => void): () => void;
}

/** What a prompt asks: may `path` (shown as `label`) use the session? */
export interface IAccessRequest {
  readonly path: string;
  readonly label: string;
  /** The SSO organization the kernel asked for, if any. */
  readonly org?: string | null;
  /** The profile slot whose account it would use (default: the default slot ''). */
  readonly profile?: string;
}

/**
 * The user's answer: `allow`, `deny`, or `dismissed` (closed without an
 * answer: the bound passed, or the lab closed it; no cool-down).
 */
export type AccessAnswer = 'allow' | 'deny' | 'dismissed';

/** A prompt on screen; `close()` dismisses it (answer `dismissed`). */
export interface IAccessPrompt {
  readonly answer: Promise<AccessAnswer>;
  close(): void;
}

/** Options of {@link KernelAccess}. */
export interface IKernelAccessOptions {
  readonly store: IAccessStore;
  /** Show the grant prompt (lazy: the dialog module loads on first use). */
  readonly prompt: (request: IAccessRequest) => Promise<IAccessPrompt>;
  /**
   * Ask the user to confirm `kernelAccess: all` the first time this browser
   * sees it (kernel code can write the settings); true to honour it.
   */
  readonly confirmAll: () => Promise<boolean>;
  /** How long a Deny is answered without a new prompt, in milliseconds. */
  readonly coolDownMs?: number;
  readonly now?: () => number;
}

/** How long a Deny holds before the notebook may ask again: two minutes. */
export const DENY_COOL_DOWN_MS = 120000;

/**
 * The grants, and the one place that asks for them.
 *
 * Bounds on kernel-initiated UI: one prompt per path at a time (every ask
 * while it is open shares its answer), one prompt on screen at a time (the
 * others wait their turn), and after a Deny the path is answered `false`
 * without a prompt for {@link DENY_COOL_DOWN_MS}.
 */
export class KernelAccess {
  constructor(private _options: IKernelAccessOptions) {
    this._stored = _options.store.load();
    this._unwatch =
      _options.store.watch?.(() => {
        this._stored = this._options.store.load();
        this._changed.emit();
      }) ?? null;
  }

  /** Emitted when grants, denials or the mode change. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The `kernelAccess` setting in force (`all` only once confirmed). */
  get mode(): KernelAccessMode {
    return this._mode === 'all' && this._stored.allConfirmed ? 'all' : 'ask';
  }

  /**
   * Follow the `kernelAccess` setting. `all` is honoured only once the user
   * confirmed it in this browser, since kernel code can write the settings.
   */
  async setMode(mode: KernelAccessMode): Promise<void> {
    this._mode = mode;
    if (mode === 'all' && !this._stored.allConfirmed) {
      if (!this._confirming) {
        this._confirming = this._options.confirmAll().then(confirmed => {
          this._confirming = null;
          if (confirmed && this._mode === 'all') {
            this._save({ ...this._stored, allConfirmed: true });
          }
        });
      }
      await this._confirming;
    } else if (mode === 'ask' && this._stored.allConfirmed) {
      // Confirm again if `all` comes back: it may not be the user's doing.
      this._save({ ...this._stored, allConfirmed: false });
    }
    this._changed.emit();
  }

  /** The notebooks allowed, oldest first. */
  get grants(): readonly IGrant[] {
    return this._stored.grants;
  }

  /** Paths denied within the cool-down (of the default profile), for the account panel. */
  get denied(): readonly string[] {
    return this.deniedOf('');
  }

  /** Paths denied within the cool-down for a profile slot. */
  deniedOf(profile: string): readonly string[] {
    const now = this._now();
    return [...this._deniedAt.entries()]
      .filter(
        ([key, at]) => now - at < this._coolDown && key.profile === profile
      )
      .map(([key]) => key.path);
  }

  /** May `path` use the session of profile slot `profile` (default '') now? */
  isGranted(path: string, profile = ''): boolean {
    return (
      this.mode === 'all' ||
      this._stored.grants.some(g => isGrantOf(g, path, profile))
    );
  }

  /** Was `path` denied (for profile slot `profile`) within the cool-down? */
  isDenied(path: string, profile = ''): boolean {
    const at = this._deniedAtOf(path, profile);
    return at !== undefined && this._now() - at < this._coolDown;
  }

  /**
   * Ask the user whether `path` may use the session; true when allowed.
   * Shares an open prompt for the same path; false at once within a Deny's
   * cool-down. `dismiss` closes the prompt (the asker's bound): then false.
   */
  ask(request: IAccessRequest): { answer: Promise<boolean>; dismiss(): void } {
    const { path } = request;
    const profile = request.profile ?? '';
    if (this.isGranted(path, profile)) {
      return { answer: Promise.resolve(true), dismiss: () => undefined };
    }
    if (this.isDenied(path, profile)) {
      return { answer: Promise.resolve(false), dismiss: () => undefined };
    }
    const key = keyOf(path, profile);
    let pending = this._pending.get(key);
    if (!pending) {
      pending = this._open(request);
      this._pending.set(key, pending);
    }
    const shared = pending;
    return {
      answer: shared.answer,
      dismiss: () => shared.dismiss()
    };
  }

  /** Allow `path` for profile slot `profile` (the prompt's Allow, or the account panel). */
  grant(path: string, profile = ''): void {
    this._deleteDenied(path, profile);
    if (!this._stored.grants.some(g => isGrantOf(g, path, profile))) {
      const grant: IGrant = profile
        ? { path, grantedAt: this._now(), profile }
        : { path, grantedAt: this._now() };
      this._save({ ...this._stored, grants: [...this._stored.grants, grant] });
    }
    this._changed.emit();
  }

  /** Take `path`'s grant for profile slot `profile` back (the account panel's Revoke). */
  revoke(path: string, profile = ''): void {
    this._save({
      ...this._stored,
      grants: this._stored.grants.filter(g => !isGrantOf(g, path, profile))
    });
    this._changed.emit();
  }

  /** Forget every grant of a profile slot (the profile was signed out and removed). */
  revokeProfile(profile: string): void {
    if (!profile) {
      return;
    }
    this._save({
      ...this._stored,
      grants: this._stored.grants.filter(g => (g.profile ?? '') !== profile)
    });
    this._changed.emit();
  }

  dispose(): void {
    this._unwatch?.();
    Signal.clearData(this);
  }

  private _open(request: IAccessRequest): {
    answer: Promise<boolean>;
    dismiss(): void;
  } {
    let dismissed = false;
    let prompt: IAccessPrompt | null = null;
    const profile = request.profile ?? '';
    // One prompt on screen at a time: wait for the one before.
    const turn = this._queue;
    const answer = (async () => {
      await turn;
      if (dismissed) {
        return 'dismissed' as AccessAnswer;
      }
      if (this.isGranted(request.path, profile)) {
        return 'allow' as AccessAnswer; // allowed elsewhere meanwhile
      }
      prompt = await this._options.prompt(request);
      if (dismissed) {
        prompt.close();
      }
      return prompt.answer;
    })()
      .catch(() => 'dismissed' as AccessAnswer)
      .then(result => {
        this._pending.delete(keyOf(request.path, profile));
        if (result === 'allow') {
          this.grant(request.path, profile);
        } else if (result === 'deny') {
          this._deleteDenied(request.path, profile);
          this._deniedAt.set({ path: request.path, profile }, this._now());
          this._changed.emit();
        }
        return result === 'allow';
      });
    this._queue = answer.then(() => undefined);
    return {
      answer,
      dismiss: () => {
        dismissed = true;
        prompt?.close();
      }
    };
  }

  private _save(value: IStoredAccess): void {
    this._stored = value;
    try {
      this._options.store.save(value);
    } catch (error) {
      console.warn('jupyterlab-carto-auth: could not save grants', error);
    }
  }

  private _deniedAtOf(path: string, profile: string): number | undefined {
    for (const [key, at] of this._deniedAt) {
      if (key.path === path && key.profile === profile) {
        return at;
      }
    }
    return undefined;
  }

  private _deleteDenied(path: string, profile: string): void {
    for (const key of [...this._deniedAt.keys()]) {
      if (key.path === path && key.profile === profile) {
        this._deniedAt.delete(key);
      }
    }
  }

  private _now(): number {
    return (this._options.now ?? Date.now)();
  }

  private get _coolDown(): number {
    return this._options.coolDownMs ?? DENY_COOL_DOWN_MS;
  }

  private _stored: IStoredAccess;
  private _mode: KernelAccessMode = 'ask';
  private _confirming: Promise<void> | null = null;
  private _pending = new Map<
    string,
    { answer: Promise<boolean>; dismiss(): void }
  >();
  private _deniedAt = new Map<{ path: string; profile: string }, number>();
  private _queue: Promise<void> = Promise.resolve();
  private _unwatch: (() => void) | null;
  private _changed = new Signal<this, void>(this);
}

/**
 * Grants in this browser's localStorage under `key` (one per server: the key
 * holds the server's scope). Anything unreadable counts as no grant.
 */
export class LocalAccessStore implements IAccessStore {
  constructor(private _key: string) {}

  load(): IStoredAccess {
    try {
      const value = JSON.parse(window.localStorage.getItem(this._key) ?? '{}');
      const grants = Array.isArray(value?.grants)
        ? value.grants.filter(
            (g: any) =>
              typeof g?.path === 'string' &&
              typeof g?.grantedAt === 'number' &&
              (g.profile === undefined || typeof g.profile === 'string')
          )
        : [];
      return { grants, allConfirmed: value?.allConfirmed === true };
    } catch {
      return { grants: [], allConfirmed: false };
    }
  }

  save(value: IStoredAccess): void {
    window.localStorage.setItem(this._key, JSON.stringify(value));
  }

  watch(listener: () => void): () => void {
    const onStorage = (event: StorageEvent) => {
      if (event.key === this._key) {
        listener();
      }
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }
}

/** The storage key of this server's grants. */
export function accessStoreKey(scope: string): string {
  return `jupyterlab-carto-auth:kernel-access:${scope}`;
}
