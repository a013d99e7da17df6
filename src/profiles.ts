// Several CARTO accounts at once: the profiles of the lab. Each profile is one
// CartoSession in its own slot: its lab state key, IndexedDB database, tab
// channel and refresh lock carry the slot (ServerScope.forProfile), so each is
// restored, sealed, shared across tabs and refreshed once across tabs exactly
// as the one session before profiles was. The default slot ('') keeps the
// names of a lab before profiles: a session signed in before the upgrade is
// the default profile after it. The list of profiles (slots, names, e-mail and
// organization: nothing secret) lives in this browser's localStorage per
// server, like the grants, and reaches the other tabs by its storage event.
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { Token } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';

import { isProfileName, MAX_PROFILE_NAME } from './profilename';
import { ICartoSession, ICartoSessionInfo, ISignInOptions } from './tokens';

/** A profile's session: the public session plus what the manager drives. */
export interface IProfileSession extends ICartoSession {
  restore(): Promise<void>;
  dispose(): void;
}

/** What the profile list keeps of one profile (no secret). */
export interface IProfileEntry {
  /** The storage slot: '' is the default slot of a lab before profiles. */
  readonly slot: string;
  /** The name the user gave it, or null for the default name. */
  readonly name: string | null;
  /** Who was last signed in in this slot (for bindings while signed out). */
  readonly email: string | null;
  readonly org: string | null;
}

/** The stored list of profiles. */
export interface IProfileList {
  readonly entries: readonly IProfileEntry[];
  /** The slot of the default profile. */
  readonly default: string;
}

/** One profile as the rest of the lab sees it. */
export interface IProfile {
  readonly slot: string;
  /** Unique in the lab: the given name, else `<email> · <org>`, else `<email>`. */
  readonly name: string;
  readonly email: string | null;
  readonly org: string | null;
  readonly isDefault: boolean;
  readonly session: ICartoSession;
}

/** A notebook's binding (metadata key `carto_auth`): nothing secret. */
export interface IBinding {
  readonly profile: string;
  readonly org: string | null;
}

/** The notebook metadata key of a binding. */
export const BINDING_KEY = 'carto_auth';

/** The binding in a notebook's metadata value, or null when absent or malformed. */
export function parseBinding(value: unknown): IBinding | null {
  if (
    typeof value !== 'object' ||
    value === null ||
    !isProfileName((value as any).profile)
  ) {
    return null;
  }
  const org = (value as any).org;
  return {
    profile: (value as any).profile,
    org: typeof org === 'string' ? org : null
  };
}

/** Where the list of profiles lives. */
export interface IProfileStore {
  load(): IProfileList | null;
  save(value: IProfileList): void;
  /** Calls `listener` when another tab changed the list; returns a remover. */
  watch?(listener: () => void): () => void;
}

/** The list in this browser's localStorage under `key` (one per server). */
export class LocalProfileStore implements IProfileStore {
  constructor(private _key: string) {}

  load(): IProfileList | null {
    try {
      const value = JSON.parse(
        window.localStorage.getItem(this._key) ?? 'null'
      );
      return parseProfileList(value);
    } catch {
      return null;
    }
  }

  save(value: IProfileList): void {
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

/** The storage key of this server's profile list. */
export function profileStoreKey(scope: string): string {
  return `jupyterlab-carto-auth:profiles:${scope}`;
}

const SLOT = /^[A-Za-z0-9]{1,32}$/;

/** A stored list, checked: null when it is not one (then: the default slot only). */
export function parseProfileList(value: any): IProfileList | null {
  if (!value || typeof value !== 'object' || !Array.isArray(value.entries)) {
    return null;
  }
  const seen = new Set<string>();
  const entries: IProfileEntry[] = [];
  for (const e of value.entries) {
    if (
      !e ||
      typeof e.slot !== 'string' ||
      (e.slot !== '' && !SLOT.test(e.slot)) ||
      seen.has(e.slot)
    ) {
      continue;
    }
    seen.add(e.slot);
    entries.push({
      slot: e.slot,
      name: isProfileName(e.name) ? e.name : null,
      email: typeof e.email === 'string' ? e.email : null,
      org: typeof e.org === 'string' ? e.org : null
    });
  }
  if (!entries.length) {
    return null;
  }
  const def = entries.some(e => e.slot === value.default)
    ? value.default
    : entries[0].slot;
  return { entries, default: def };
}

/** The name a profile gets: `<email> · <org>`, or `<email>` without an organization. */
export function defaultProfileName(
  email: string | null,
  org: string | null
): string | null {
  if (!email) {
    return null;
  }
  let name = org ? `${email} · ${org}` : email;
  while (name.length > MAX_PROFILE_NAME) {
    name = [...name].slice(0, -1).join(''); // whole characters only
  }
  return name;
}

/** Options of {@link CartoProfiles}. */
export interface ICartoProfilesOptions {
  /** A new session for a slot (not restored yet). */
  readonly create: (slot: string) => IProfileSession;
  readonly store: IProfileStore;
  /** A new slot name (default: random). */
  readonly newSlot?: () => string;
  /** What a profile that was never signed in is called. */
  readonly unnamed?: string;
  readonly trans?: TranslationBundle;
}

/** Why a rename is refused: the message says what to do. */
export class ProfileNameError extends Error {}

/**
 * The lab's profiles: any number of sessions, one of them the default.
 * With one profile, it is the one session of a lab before profiles.
 */
export class CartoProfiles implements ICartoProfiles {
  constructor(private _options: ICartoProfilesOptions) {
    this._list = _options.store.load() ?? {
      entries: [{ slot: '', name: null, email: null, org: null }],
      default: ''
    };
    for (const entry of this._list.entries) {
      this._sessionOf(entry.slot);
    }
    this._unwatch = _options.store.watch?.(() => this._followStore()) ?? null;
    this._computeProfiles();
  }

  /** Emitted when a profile is added, removed, renamed, made default, or its session changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted with the old and the new name when a profile is renamed. */
  get renamed(): ISignal<this, { from: string; to: string }> {
    return this._renamed;
  }

  get profiles(): readonly IProfile[] {
    return this._profiles;
  }

  get defaultProfile(): IProfile {
    return this._profiles.find(p => p.isDefault) ?? this._profiles[0];
  }

  /** The sessions, for what applies to all (settings). */
  get sessions(): IProfileSession[] {
    return [...this._sessions.values()];
  }

  /** Resolves once every profile's stored session has been restored. */
  get ready(): Promise<void> {
    return this._ready;
  }

  get(slot: string): IProfile | null {
    return this._profiles.find(p => p.slot === slot) ?? null;
  }

  byName(name: string): IProfile | null {
    return this._profiles.find(p => p.name === name) ?? null;
  }

  /**
   * The profile of a binding: by name first, then by organization (and
   * e-mail too when it is the same), else the default; `matched` is false
   * when the binding names an account this lab is not signed in to.
   */
  resolve(binding: IBinding | null): { profile: IProfile; matched: boolean } {
    if (!binding) {
      return { profile: this.defaultProfile, matched: true };
    }
    const byName = this.byName(binding.profile);
    if (byName) {
      return { profile: byName, matched: true };
    }
    const sameOrg = this._profiles.filter(
      p => p.org === binding.org && p.session.info.status === 'signed-in'
    );
    const pick =
      sameOrg.find(p => p.email && binding.profile.startsWith(p.email)) ??
      (binding.org !== null ? sameOrg[0] : undefined);
    return pick
      ? { profile: pick, matched: true }
      : { profile: this.defaultProfile, matched: false };
  }

  /** Restore every profile's session (once the application is restored). */
  restore(): Promise<void> {
    this._ready = Promise.all(
      this.sessions.map(session => session.restore())
    ).then(() => undefined);
    return this._ready;
  }

  /**
   * Sign in to another CARTO account: a new profile. With the one profile
   * signed out, this is today's sign-in of that profile. The same account
   * signed in twice stays one profile.
   */
  async add(options: ISignInOptions = {}): Promise<IProfile> {
    const only = this._list.entries.length === 1 ? this._profiles[0] : null;
    if (only && only.session.info.status !== 'signed-in') {
      await only.session.signIn(options);
      return this.get(only.slot) ?? only;
    }
    const slot = (this._options.newSlot ?? randomSlot)();
    const session = this._options.create(slot);
    void session.restore();
    try {
      await session.signIn(options);
    } catch (error) {
      session.dispose();
      throw error;
    }
    const user = session.info.user;
    const twin = this._profiles.find(
      p =>
        p.session.info.status === 'signed-in' &&
        p.email === user?.email &&
        p.org === (user?.org ?? null)
    );
    if (twin) {
      await session.signOut();
      session.dispose();
      return twin;
    }
    this._sessions.set(slot, session);
    session.changed.connect(this._onSessionChanged, this);
    this._save({
      ...this._list,
      entries: [
        ...this._list.entries,
        {
          slot,
          name: null,
          email: user?.email ?? null,
          org: user?.org ?? null
        }
      ]
    });
    return this.get(slot)!;
  }

  /** Rename a profile; throws a {@link ProfileNameError} that says why not. */
  rename(slot: string, name: string): void {
    const trans =
      this._options.trans ?? nullTranslator.load('jupyterlab_carto_auth');
    const wanted = name.trim();
    const profile = this.get(slot);
    if (!profile) {
      throw new ProfileNameError(trans.__('That CARTO profile is gone.'));
    }
    if (!isProfileName(wanted)) {
      throw new ProfileNameError(
        trans.__('A profile name has 1 to 128 characters. Type another name.')
      );
    }
    if (this._profiles.some(p => p.slot !== slot && p.name === wanted)) {
      throw new ProfileNameError(
        trans.__('Another profile has that name. Type another name.')
      );
    }
    const from = profile.name;
    this._save({
      ...this._list,
      entries: this._list.entries.map(e =>
        e.slot === slot ? { ...e, name: wanted } : e
      )
    });
    if (from !== wanted) {
      this._renamed.emit({ from, to: wanted });
    }
  }

  /** Make a profile the default (what unbound notebooks use). */
  setDefault(slot: string): void {
    if (this.get(slot) && this._list.default !== slot) {
      this._save({ ...this._list, default: slot });
    }
  }

  /**
   * Sign one profile out (in every tab; its refresh token is revoked). The
   * last profile stays, signed out, as today; another one leaves the list.
   */
  async signOut(slot: string): Promise<void> {
    const session = this._sessions.get(slot);
    if (!session) {
      return;
    }
    await session.signOut();
    if (this._list.entries.length > 1) {
      this._remove(slot);
    }
  }

  /** Sign every profile out; the default profile's slot stays, signed out. */
  async signOutAll(): Promise<void> {
    const keep = this._list.default;
    await Promise.all(
      this.sessions.map(session => session.signOut().catch(() => undefined))
    );
    for (const entry of this._list.entries) {
      if (entry.slot !== keep) {
        this._remove(entry.slot);
      }
    }
  }

  dispose(): void {
    this._unwatch?.();
    for (const session of this._sessions.values()) {
      session.dispose();
    }
    this._sessions.clear();
    Signal.clearData(this);
  }

  private _remove(slot: string): void {
    const entries = this._list.entries.filter(e => e.slot !== slot);
    if (!entries.length) {
      return;
    }
    this._save({
      entries,
      default:
        this._list.default === slot ? entries[0].slot : this._list.default
    });
    const session = this._sessions.get(slot);
    this._sessions.delete(slot);
    session?.changed.disconnect(this._onSessionChanged, this);
    session?.dispose();
    this._computeProfiles();
    this._changed.emit();
  }

  /** Another tab changed the list: follow it (new slots are restored from their stores). */
  private _followStore(): void {
    const list = this._options.store.load();
    if (!list) {
      return;
    }
    this._list = list;
    for (const entry of list.entries) {
      if (!this._sessions.has(entry.slot)) {
        void this._sessionOf(entry.slot).restore();
      }
    }
    for (const [slot, session] of [...this._sessions]) {
      if (!list.entries.some(e => e.slot === slot)) {
        this._sessions.delete(slot);
        session.changed.disconnect(this._onSessionChanged, this);
        session.dispose();
      }
    }
    this._computeProfiles();
    this._changed.emit();
  }

  private _sessionOf(slot: string): IProfileSession {
    let session = this._sessions.get(slot);
    if (!session) {
      session = this._options.create(slot);
      this._sessions.set(slot, session);
      session.changed.connect(this._onSessionChanged, this);
    }
    return session;
  }

  /** Keep the e-mail and organization of who signed in to each slot. */
  private _onSessionChanged(
    session: ICartoSession,
    info: ICartoSessionInfo
  ): void {
    const slot = [...this._sessions].find(([, s]) => s === session)?.[0];
    const entry = this._list.entries.find(e => e.slot === slot);
    if (
      entry &&
      info.status === 'signed-in' &&
      info.user &&
      (entry.email !== info.user.email || entry.org !== info.user.org)
    ) {
      this._save({
        ...this._list,
        entries: this._list.entries.map(e =>
          e === entry
            ? { ...e, email: info.user!.email, org: info.user!.org }
            : e
        )
      });
      return;
    }
    this._computeProfiles();
    this._changed.emit();
  }

  private _save(list: IProfileList): void {
    this._list = list;
    try {
      this._options.store.save(list);
    } catch (error) {
      console.warn('jupyterlab-carto-auth: could not save profiles', error);
    }
    this._computeProfiles();
    this._changed.emit();
  }

  /** The profiles with unique names, in the list's order. */
  private _computeProfiles(): void {
    const used = new Set<string>();
    const profiles: IProfile[] = [];
    // Given names first, so a default name never takes one the user chose.
    for (const entry of this._list.entries) {
      if (entry.name) {
        used.add(entry.name);
      }
    }
    for (const entry of this._list.entries) {
      const session = this._sessions.get(entry.slot);
      if (!session) {
        continue;
      }
      let name = entry.name;
      if (!name) {
        const base =
          defaultProfileName(entry.email, entry.org) ??
          this._options.unnamed ??
          'CARTO';
        name = base;
        for (let n = 2; used.has(name); n++) {
          name = `${base} (${n})`;
        }
        used.add(name);
      }
      profiles.push({
        slot: entry.slot,
        name,
        email: entry.email,
        org: entry.org,
        isDefault: entry.slot === this._list.default,
        session
      });
    }
    this._profiles = profiles;
  }

  private _list: IProfileList;
  private _sessions = new Map<string, IProfileSession>();
  private _profiles: IProfile[] = [];
  private _ready: Promise<void> = Promise.resolve();
  private _unwatch: (() => void) | null;
  private _changed = new Signal<this, void>(this);
  private _renamed = new Signal<this, { from: string; to: string }>(this);
}

function randomSlot(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return 'p' + [...bytes].map(b => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The profiles of this lab: several CARTO accounts at once. `ICartoSession`
 * stays the default profile's session.
 */
export interface ICartoProfiles {
  readonly profiles: readonly IProfile[];
  readonly defaultProfile: IProfile;
  /** Emitted when a profile is added, removed, renamed, made default, or its session changes. */
  readonly changed: ISignal<ICartoProfiles, void>;
  get(slot: string): IProfile | null;
  byName(name: string): IProfile | null;
  resolve(binding: IBinding | null): { profile: IProfile; matched: boolean };
  /** Sign in to another CARTO account; resolves with its profile. */
  add(options?: ISignInOptions): Promise<IProfile>;
  rename(slot: string, name: string): void;
  setDefault(slot: string): void;
  signOut(slot: string): Promise<void>;
  signOutAll(): Promise<void>;
}

/** The profiles token. */
export const ICartoProfiles = new Token<ICartoProfiles>(
  'jupyterlab-carto-auth:ICartoProfiles',
  'The CARTO profiles: several signed-in CARTO accounts, one of them the default.'
);

/**
 * `ICartoSession` for other extensions: the default profile's session,
 * following the default when it changes.
 */
export class DefaultSession implements ICartoSession {
  constructor(readonly profiles: CartoProfiles) {
    this._profiles = profiles;
    this._current = profiles.defaultProfile.session;
    this._current.changed.connect(this._forward, this);
    this._current.expiring.connect(this._forwardExpiring, this);
    profiles.changed.connect(this._follow, this);
  }

  /** The default profile's settings (the settings of every profile). */
  get settings(): unknown {
    return (this._session as any).settings;
  }

  dispose(): void {
    this._profiles.dispose();
    Signal.clearData(this);
  }

  private get _session(): ICartoSession {
    return this._profiles.defaultProfile.session;
  }

  get info(): ICartoSessionInfo {
    return this._session.info;
  }
  get changed(): ISignal<ICartoSession, ICartoSessionInfo> {
    return this._changed;
  }
  get expiring(): ISignal<ICartoSession, number> {
    return this._expiring;
  }
  get organization(): string {
    return this._session.organization;
  }
  get signInTimeoutSeconds(): number {
    return this._session.signInTimeoutSeconds;
  }
  get ready(): Promise<void> {
    return this._profiles.ready;
  }
  getAccessToken(minTtlSeconds?: number): Promise<string | null> {
    return this._session.getAccessToken(minTtlSeconds);
  }
  signIn(options?: ISignInOptions): Promise<void> {
    return this._session.signIn(options);
  }
  cancelSignIn(): void {
    for (const profile of this._profiles.profiles) {
      profile.session.cancelSignIn();
    }
  }
  signOut(): Promise<void> {
    return this._profiles.signOut(this._profiles.defaultProfile.slot);
  }

  private _follow(): void {
    const next = this._session;
    if (next === this._current) {
      return;
    }
    this._current.changed.disconnect(this._forward, this);
    this._current.expiring.disconnect(this._forwardExpiring, this);
    this._current = next;
    next.changed.connect(this._forward, this);
    next.expiring.connect(this._forwardExpiring, this);
    this._changed.emit(next.info);
  }

  private _forward(_: ICartoSession, info: ICartoSessionInfo): void {
    this._changed.emit(info);
  }

  private _forwardExpiring(_: ICartoSession, seconds: number): void {
    this._expiring.emit(seconds);
  }

  private _profiles: CartoProfiles;
  private _current: ICartoSession;
  private _changed = new Signal<ICartoSession, ICartoSessionInfo>(this);
  private _expiring = new Signal<ICartoSession, number>(this);
}
