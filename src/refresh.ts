// When to renew the access token: a timer at the refresh margin before
// expiry, a timer at expiry, a retry schedule after a failed refresh, a
// once-per-token warning when the token cannot be renewed, and the Web Lock
// that lets one tab at a time refresh.
import { ServerScope } from './scope';
import { IStoredSession, lifetimeOf } from './storedsession';

/** Base name of the Web Lock held while refreshing; scoped per server. */
export const REFRESH_LOCK = 'jupyterlab-carto-auth-refresh';

/** The refresh lock of one server's tabs (Web Locks are per origin). */
export function refreshLockName(scope: ServerScope): string {
  return scope.name(REFRESH_LOCK);
}

/** What the scheduler does when its timers fire. */
export interface IRefreshSchedulerOptions {
  /** The `refreshMarginSeconds` setting. */
  marginSeconds(): number;
  /** Refresh the session (when it can be refreshed). */
  refresh(): Promise<void>;
  /** The access token of `stored` has expired. */
  expired(stored: IStoredSession): Promise<void>;
  /** The token ends in this many seconds and will not be renewed (once per token). */
  warn(secondsLeft: number): void;
}

/**
 * The refresh timers of one session at a time.
 */
export class RefreshScheduler {
  constructor(private _options: IRefreshSchedulerOptions) {}

  /** When to act before expiry, in ms: the margin setting, at most a quarter of the lifetime. */
  margin(stored: IStoredSession | null): number {
    return Math.min(
      this._options.marginSeconds() * 1000,
      lifetimeOf(stored) / 4
    );
  }

  /** Whether a session is within its refresh margin. */
  needsRefresh(stored: IStoredSession | null, now = Date.now()): boolean {
    return !!stored && stored.expiresAt - now <= this.margin(stored);
  }

  /** Whether a session is due for refresh, or lasts less than `minValidMs`. */
  isDue(stored: IStoredSession, minValidMs: number, now = Date.now()): boolean {
    return stored.expiresAt - now <= Math.max(this.margin(stored), minValidMs);
  }

  /** Arm the timers of a (new or refreshed) session. */
  scheduleFor(stored: IStoredSession): void {
    this.schedule(stored, stored.expiresAt - this.margin(stored) - Date.now());
  }

  /**
   * After a failed refresh of `failed`: tell the user, and try again while
   * the old token lasts (and once more at its expiry) for `current`.
   */
  retry(failed: IStoredSession, current: IStoredSession | null): void {
    this.warnExpiring(failed);
    this.schedule(current, retryDelay(failed));
  }

  /** Arm the refresh timer in `delay` ms and the expiry timer of `stored`. */
  schedule(stored: IStoredSession | null, delay: number): void {
    this.clear();
    if (!stored) {
      return;
    }
    this._timer = window.setTimeout(
      () => {
        if (stored.canRefresh) {
          void this._options.refresh().catch(() => undefined);
        } else {
          this.warnExpiring(stored);
        }
      },
      Math.max(0, delay)
    );
    if (stored.expiresAt > Date.now()) {
      this._expiryTimer = window.setTimeout(
        () => void this._options.expired(stored),
        stored.expiresAt - Date.now()
      );
    }
  }

  /** Tell the user, once per token, that it ends soon and cannot be renewed. */
  warnExpiring(stored: IStoredSession): void {
    if (this._warnedFor === stored.expiresAt) {
      return;
    }
    this._warnedFor = stored.expiresAt;
    this._options.warn(
      Math.max(0, Math.round((stored.expiresAt - Date.now()) / 1000))
    );
  }

  clear(): void {
    window.clearTimeout(this._timer);
    window.clearTimeout(this._expiryTimer);
  }

  private _timer = 0;
  private _expiryTimer = 0;
  private _warnedFor = 0;
}

/** The wait before retrying a failed refresh: a third of the time left, 1 to 30 s. */
export function retryDelay(stored: IStoredSession, now = Date.now()): number {
  return Math.min(30_000, Math.max(1_000, (stored.expiresAt - now) / 3));
}

/** Run `task` holding the refresh lock of this server's tabs (without Web Locks: at once). */
export async function withRefreshLock(
  scope: ServerScope,
  task: () => Promise<void>
): Promise<void> {
  if (navigator.locks) {
    await navigator.locks.request(refreshLockName(scope), task);
  } else {
    await task();
  }
}
