// Keeps the lab's tabs on one session over a BroadcastChannel: a new tab
// says hello and is sent the session; a sign-in, refresh or sign-out in one
// tab reaches the others.
import { ServerScope } from './scope';
import { IStoredSession } from './storedsession';

/** Base name of the channel; the server's scope makes it unique (scope.ts). */
export const TAB_CHANNEL = 'jupyterlab-carto-auth-session';

/** The channel of one server's tabs (a BroadcastChannel is per origin). */
export function tabChannelName(scope: ServerScope): string {
  return scope.name(TAB_CHANNEL);
}

/** What tabs tell each other. */
export type TabMessage =
  | { type: 'session'; stored: IStoredSession; key?: CryptoKey | null }
  | { type: 'signed-out' }
  | { type: 'hello' };

/** The part of a BroadcastChannel that TabSync uses. */
export interface ITabChannel {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: TabMessage): void;
  close(): void;
}

/** What TabSync needs from the session. */
export interface ITabSyncOptions {
  /** This tab's session, or null. */
  current(): IStoredSession | null;
  /** Take over a session another tab sent (with its key when not remembered). */
  adopt(stored: IStoredSession, key?: CryptoKey | null): Promise<void>;
  /** The key that opens what this tab shares when it lives in memory only, or null. */
  key?(): CryptoKey | null;
  /** Another tab signed out. */
  signedOut(): Promise<void>;
  /** The server whose tabs share the channel. */
  scope: ServerScope;
  /** Default: a BroadcastChannel named {@link tabChannelName}. */
  channel?: ITabChannel;
}

/**
 * This tab's end of the channel.
 */
export class TabSync {
  constructor(private _options: ITabSyncOptions) {
    this._channel =
      _options.channel ?? new BroadcastChannel(tabChannelName(_options.scope));
    this._channel.onmessage = event => void this.receive(event.data);
  }

  /** Ask the other tabs for their session. */
  hello(): void {
    this._channel.postMessage({ type: 'hello' });
  }

  /** Share this tab's new or refreshed session. */
  shareSession(stored: IStoredSession): void {
    const key = this._options.key?.() ?? null;
    this._channel.postMessage(
      key ? { type: 'session', stored, key } : { type: 'session', stored }
    );
  }

  /** Tell the other tabs to sign out. */
  signedOut(): void {
    this._channel.postMessage({ type: 'signed-out' });
  }

  /**
   * Handle a message from another tab. A session is adopted when this tab
   * has none, or it is another sign-in, or it lasts at least as long.
   */
  async receive(message: TabMessage): Promise<void> {
    const current = this._options.current();
    if (message?.type === 'hello') {
      if (current) {
        this.shareSession(current);
      }
    } else if (message?.type === 'session') {
      if (
        !current ||
        message.stored.expiresAt >= current.expiresAt ||
        message.stored.sessionId !== current.sessionId
      ) {
        await (message.key
          ? this._options.adopt(message.stored, message.key)
          : this._options.adopt(message.stored));
      }
    } else if (message?.type === 'signed-out') {
      await this._options.signedOut();
    }
  }

  dispose(): void {
    this._channel.close();
  }

  private _channel: ITabChannel;
}
