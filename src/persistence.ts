// Where a session survives a reload: lab state (IStateDB, saved to the
// workspace with a debounce) and this browser's sealed copy in IndexedDB
// (written at once, shared by all tabs). Reconciles the two on restore and
// seals or opens the token material with the browser's key (vault.ts), bound
// to the server's scope and the session's clear fields (scope.ts).
// With `rememberSession` off neither is written: the session and its key
// live in the memory of the open tabs only (they share both over tabsync).
import { IStateDB } from '@jupyterlab/statedb';

import { additionalData, ServerScope } from './scope';
import { PluginIDs } from './settings';
import { ISecrets, IStoredSession } from './storedsession';
import { ISealed, LatestSession, Vault } from './vault';

/** Lab state key of the session (of the default profile slot). */
export const STATE_KEY = `${PluginIDs.session}`;

/** Lab state key of a profile slot's session: the default slot keeps {@link STATE_KEY}. */
export function stateKeyOf(profile: string): string {
  return profile ? `${STATE_KEY}:profile:${profile}` : STATE_KEY;
}

/**
 * The session's two stores, kept in step.
 */
export class SessionPersistence {
  /**
   * @param _state - lab state.
   * @param _remember - the `rememberSession` setting: whether lab state keeps the session.
   * @param scope - the server whose session this is (scope.ts).
   * @param vault - default: this server's {@link Vault} in IndexedDB.
   */
  constructor(
    private _state: IStateDB,
    private _remember: () => boolean,
    scope: ServerScope,
    vault?: Vault
  ) {
    this._scope = scope;
    this._key = stateKeyOf(scope.profile);
    this._vault = vault ?? new Vault(scope, undefined, _remember);
    this._latest = new LatestSession(scope);
  }

  /**
   * The session to restore on load, or null.
   *
   * Lab state is saved to the workspace with a debounce, so right after a
   * sign-in or sign-out a reload can find it stale. This browser's sealed copy
   * in IndexedDB is written before either completes, so it decides: a lab
   * state session is only restored when that copy agrees, and a sign-out is
   * never undone by a late workspace save.
   */
  async restore(): Promise<IStoredSession | null> {
    if (!this._remember()) {
      // Nothing of an earlier remembered session stays behind.
      await this._state.remove(this._key);
      await this._vault.forgetKey();
      return null;
    }
    const saved = (await this._state.fetch(this._key)) as
      IStoredSession | undefined;
    const latest = await this.latest();
    if (!latest || latest.v !== 1) {
      if (saved) {
        await this._state.remove(this._key); // signed out since it was saved
      }
      return null;
    }
    return saved?.v === 1 &&
      saved.sessionId === latest.sessionId &&
      saved.expiresAt > latest.expiresAt
      ? saved
      : latest;
  }

  /**
   * This browser's newest session (another tab may have written it); null
   * when not remembered (the tabs share it over tabsync only).
   */
  async latest(): Promise<IStoredSession | null> {
    return this._remember() ? this._latest.read<IStoredSession>() : null;
  }

  /** Keep a session, if remembered: in this browser and in lab state. */
  async save(stored: IStoredSession): Promise<void> {
    if (this._remember()) {
      await this._latest.write(stored).catch(() => undefined);
      await this._state.save(this._key, stored as any);
    }
  }

  /** Forget the session in both stores. */
  async clear(): Promise<void> {
    if (this._remember()) {
      await this._latest.write(null).catch(() => undefined);
    }
    await this._state.remove(this._key);
  }

  /**
   * Follow a change of `rememberSession` (already applied): drop the
   * session from lab state when it was turned off, save it when on.
   */
  rememberChanged(before: boolean, stored: IStoredSession | null): void {
    if (before && !this._remember()) {
      void this._state.remove(this._key);
      void this._vault.forgetKey();
    } else if (this._remember() && stored) {
      void (async () => {
        if (!before) {
          await this._vault.keepKey().catch(() => undefined);
        }
        await this._latest.write(stored).catch(() => undefined);
        await this._state.save(this._key, stored as any);
      })();
    }
  }

  /** The key another tab needs to open what this one shares (rememberSession off), or null. */
  sharedKey(): CryptoKey | null {
    return this._vault.sharedKey;
  }

  /**
   * Seal token material with this browser's key for this server, bound to
   * `clearFields`: the rest of the stored session (everything but `sealed`).
   */
  seal(
    secrets: ISecrets,
    clearFields: Omit<IStoredSession, 'sealed'>
  ): Promise<ISealed> {
    return this._vault.seal(secrets, additionalData(this._scope, clearFields));
  }

  /**
   * The token material of a session (with `key`, another tab's in-memory
   * key); null when sealed by another browser or for another server, when a
   * clear field was edited since, or by a version that did not keep the
   * session's client (sign in again).
   */
  async open(
    stored: IStoredSession,
    key?: CryptoKey | null
  ): Promise<ISecrets | null> {
    const { sealed, ...clearFields } = stored;
    if (!sealed || typeof sealed !== 'object') {
      return null;
    }
    const secrets = await this._vault.open<ISecrets>(
      sealed,
      additionalData(this._scope, clearFields),
      key ?? undefined
    );
    if (secrets?.client && key && !this._remember()) {
      this._vault.useKey(key); // the tabs' one in-memory key
    }
    return secrets?.client ? secrets : null;
  }

  private _scope: ServerScope;
  private _key: string;
  private _vault: Vault;
  private _latest: LatestSession;
}
