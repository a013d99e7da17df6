// The server scope of every browser store, channel and lock. JupyterHub serves
// every user's server under one origin (`/user/<name>/`), and IndexedDB,
// BroadcastChannel and Web Locks are per origin: without a scope, a lab that a
// user opens on another user's server (admin access, sharing) would adopt her
// session and push her token into that server's kernels. The scope is the
// server's base URL, its owner and its name, read once at start from
// `GET {base_url}carto-auth/identity` (docs/server-api.md).
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';

/** Who owns this Jupyter server and who is using it. */
export interface IServerIdentity {
  /** The JupyterHub user of the server; null without JupyterHub. */
  readonly serverOwner: string | null;
  /** The JupyterHub server name ('' for the default server). */
  readonly serverName: string;
  /** The Jupyter user of this lab ('' when unknown). */
  readonly user: string;
  /** Whether this lab's user owns the server: only then do kernels get the session. */
  readonly isOwner: boolean;
}

/**
 * One Jupyter server as seen from this browser: the names of its stores,
 * channels and locks, and the additional data its sealed sessions are bound to.
 */
export class ServerScope {
  constructor(
    /** The server's absolute base URL, ending in `/`. */
    readonly baseUrl: string,
    readonly identity: IServerIdentity,
    /**
     * The profile (profiles.ts) whose stores these are: '' for the default
     * slot, which keeps the names of a lab before profiles (so a session
     * signed in before the upgrade is still restored).
     */
    readonly profile = ''
  ) {
    const parts = [
      'v1',
      baseUrl,
      identity.serverOwner ?? '',
      identity.serverName
    ];
    this.id = JSON.stringify(profile ? [...parts, profile] : parts);
  }

  /** The scope of one profile's stores, channels and locks on this server. */
  forProfile(profile: string): ServerScope {
    return profile === this.profile
      ? this
      : new ServerScope(this.baseUrl, this.identity, profile);
  }

  /** The canonical text of the scope (what names and the AES-GCM additional data carry). */
  readonly id: string;

  /** `base` made unique to this server: an IndexedDB, channel or lock name. */
  name(base: string): string {
    return `${base} ${this.id}`;
  }

  /**
   * The sentence that says why this lab's session does not reach the
   * server's kernels, or null when this lab's user owns the server.
   */
  notOwnerReason(trans: TranslationBundle): string | null {
    return this.identity.isOwner
      ? null
      : trans.__(
          'This Jupyter server belongs to %1: your CARTO session is not shared with its kernels.',
          this.identity.serverOwner ?? trans.__('another user')
        );
  }
}

/**
 * The additional data that binds a sealed session to its scope and to its
 * clear fields (AES-GCM, NIST SP 800-38D §5.2.1.1): a session sealed for
 * another server, or whose clear fields were edited (API base URL, user,
 * expiry, endpoints), does not open.
 */
export function additionalData(
  scope: ServerScope,
  clearFields: Record<string, unknown>
): Uint8Array {
  return new TextEncoder().encode(
    canonicalJson({ scope: scope.id, session: clearFields })
  );
}

/** JSON with object keys sorted at every level: the same value, the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(item => canonicalJson(item ?? null)).join(',')}]`;
  }
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .filter(key => (value as any)[key] !== undefined)
      .sort()
      .map(
        key =>
          `${JSON.stringify(key)}:${canonicalJson((value as any)[key] ?? null)}`
      );
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Name of the channel on which the callback page (server/static/callback.html)
 * hands its URL to the lab: the extension's name and the server's base path.
 * The page knows only its own path, so the base path is its scope; the
 * attempt's `state` does the rest.
 */
export function callbackChannelName(baseUrl: string): string {
  return `jupyterlab-carto-auth ${new URL(baseUrl, window.location.href).pathname}`;
}

/**
 * The identity when the server cannot say (an older server extension, a
 * network error): under JupyterHub (the page names a hub user) this lab is
 * not taken for the owner, so kernels get nothing; on a plain server it is.
 */
function fallbackIdentity(): IServerIdentity {
  const hubUser = PageConfig.getOption('hubUser') || null;
  return {
    serverOwner: hubUser,
    serverName: PageConfig.getOption('hubServerName') || '',
    user: '',
    isOwner: !hubUser
  };
}

/** Parse the identity endpoint's answer; throws on a malformed one. */
export function parseIdentity(body: any): IServerIdentity {
  if (
    !body ||
    typeof body !== 'object' ||
    !(body.server_owner === null || typeof body.server_owner === 'string') ||
    typeof body.server_name !== 'string' ||
    typeof body.user !== 'string' ||
    typeof body.is_owner !== 'boolean'
  ) {
    throw new Error('malformed carto-auth/identity answer');
  }
  return {
    serverOwner: body.server_owner || null,
    serverName: body.server_name,
    user: body.user,
    isOwner: body.is_owner
  };
}

const SCOPES = new Map<string, Promise<ServerScope>>();
/** How long the lab waits for the identity endpoint before it falls back. */
const IDENTITY_TIMEOUT_MS = 10_000;

/**
 * The scope of the server of `settings`, read once per page (every plugin
 * that asks shares the one request).
 */
export function readServerScope(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<ServerScope> {
  const baseUrl = new URL(settings.baseUrl, window.location.href).href;
  let scope = SCOPES.get(baseUrl);
  if (!scope) {
    scope = (async () => {
      let identity: IServerIdentity;
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), IDENTITY_TIMEOUT_MS);
      try {
        const response = await ServerConnection.makeRequest(
          URLExt.join(settings.baseUrl, 'carto-auth', 'identity'),
          { method: 'GET', cache: 'no-store', signal: controller.signal },
          settings
        );
        if (!response.ok) {
          throw new Error(`HTTP ${response.status}`);
        }
        identity = parseIdentity(await response.json());
      } catch (error) {
        identity = fallbackIdentity();
        console.warn(
          'jupyterlab-carto-auth: could not read whose server this is; assuming',
          identity.isOwner ? 'this user owns it' : 'another user owns it',
          String(error)
        );
      } finally {
        clearTimeout(timer);
      }
      return new ServerScope(baseUrl, identity);
    })();
    SCOPES.set(baseUrl, scope);
  }
  return scope;
}
