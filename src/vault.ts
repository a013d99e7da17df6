// Encryption of token material before it goes into lab state.
//
// Lab state (IStateDB) is written by the server into the workspace file, which
// is world-readable on disk and exportable. So tokens are sealed with AES-GCM
// under a non-extractable WebCrypto key that lives only in this browser's
// IndexedDB: a copied workspace file holds no usable token. The database is
// the server's (scope.ts), and every sealed value is bound to that scope and to
// the session's clear fields by AES-GCM's additional data.
import { ServerScope } from './scope';

const DB_NAME = 'jupyterlab-carto-auth';
const STORE = 'keys';
const KEY_ID = 'session-key-v1';

/** Sealed bytes, base64-encoded for JSON. */
export interface ISealed {
  readonly iv: string;
  readonly data: string;
}

function toBase64(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) {
    text += String.fromCharCode(byte);
  }
  return btoa(text);
}

function fromBase64(text: string): Uint8Array {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    bytes[i] = raw.charCodeAt(i);
  }
  return bytes;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** The IndexedDB database of one server's key and session. */
export function databaseName(scope: ServerScope): string {
  return scope.name(DB_NAME);
}

async function openDb(scope: ServerScope): Promise<IDBDatabase> {
  const open = indexedDB.open(databaseName(scope), 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  return request(open);
}

/**
 * Seals and opens token material with a per-browser, per-server,
 * non-extractable key.
 *
 * With `rememberSession` off the key lives only in the memory of the tabs:
 * it is never written to IndexedDB, and a tab hands it to the others with
 * the session it shares (see {@link Vault.sharedKey}).
 */
export class Vault {
  /**
   * @param _scope - the server whose key this is.
   * @param keys - where a kept key lives (default: this server's IndexedDB);
   *   `create` asks for a new key when there is none.
   * @param _persist - whether the key is kept (`rememberSession`).
   */
  constructor(
    private _scope: ServerScope,
    keys?: (create: boolean) => Promise<CryptoKey | null>,
    private _persist: () => boolean = () => true
  ) {
    this._keys = keys ?? (create => this._storedKey(create));
  }

  /** The key other tabs need to open what this tab shares: the in-memory one, or null. */
  get sharedKey(): CryptoKey | null {
    return this._persist() ? null : this._cached;
  }

  /** Seal and open with another tab's in-memory key from now on. */
  useKey(key: CryptoKey): void {
    this._cached = key;
  }

  /** `rememberSession` turned on: keep this tab's key in this server's IndexedDB. */
  async keepKey(): Promise<void> {
    if (!this._cached) {
      return;
    }
    const db = await openDb(this._scope);
    try {
      const write = db.transaction(STORE, 'readwrite').objectStore(STORE);
      await request(write.put(this._cached, KEY_ID));
    } finally {
      db.close();
    }
  }

  /**
   * `rememberSession` is off: keep the key in memory only and delete this
   * server's database in this browser (key and sealed session), which
   * nothing needs now.
   */
  async forgetKey(): Promise<void> {
    this._cached ??= (await this._existingKey()) ?? null;
    await request(indexedDB.deleteDatabase(databaseName(this._scope))).catch(
      () => undefined
    );
  }

  /**
   * Seal a JSON-serialisable value, bound to `additionalData` (which is not
   * secret, and must be given again to open it).
   */
  async seal(value: unknown, additionalData: Uint8Array): Promise<ISealed> {
    const key = await this._key(true);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const plain = new TextEncoder().encode(JSON.stringify(value));
    const data = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: additionalData as BufferSource },
      key!,
      plain
    );
    return { iv: toBase64(iv), data: toBase64(new Uint8Array(data)) };
  }

  /**
   * Open a sealed value (with `withKey`, another tab's in-memory key); null
   * when this browser does not hold the key (the workspace came from
   * elsewhere), or the data or its additional data differ from what was
   * sealed (another server's session, edited fields).
   */
  async open<T>(
    sealed: ISealed,
    additionalData: Uint8Array,
    withKey?: CryptoKey
  ): Promise<T | null> {
    let key: CryptoKey | null;
    try {
      key = withKey ?? (await this._key(false));
    } catch {
      return null;
    }
    if (!key) {
      return null;
    }
    try {
      const plain = await crypto.subtle.decrypt(
        {
          name: 'AES-GCM',
          iv: fromBase64(sealed.iv) as BufferSource,
          additionalData: additionalData as BufferSource
        },
        key,
        fromBase64(sealed.data) as BufferSource
      );
      return JSON.parse(new TextDecoder().decode(plain)) as T;
    } catch {
      console.warn(
        'jupyterlab-carto-auth: refused a stored CARTO session: it was sealed for another Jupyter server, or its fields were edited. Sign in again.'
      );
      return null;
    }
  }

  private async _key(create: boolean): Promise<CryptoKey | null> {
    if (this._cached) {
      return this._cached;
    }
    if (!this._persist()) {
      this._cached = create ? await newKey() : null;
      return this._cached;
    }
    this._cached = await this._keys(create);
    return this._cached;
  }

  private async _storedKey(create: boolean): Promise<CryptoKey | null> {
    const db = await openDb(this._scope);
    try {
      const read = db.transaction(STORE, 'readonly').objectStore(STORE);
      let key = (await request(read.get(KEY_ID))) as CryptoKey | undefined;
      if (!key && create) {
        key = await newKey();
        const write = db.transaction(STORE, 'readwrite').objectStore(STORE);
        try {
          // `add`, not `put`: when another tab created a key first, keep theirs.
          await request(write.add(key, KEY_ID));
        } catch {
          const again = db.transaction(STORE, 'readonly').objectStore(STORE);
          key = (await request(again.get(KEY_ID))) as CryptoKey | undefined;
        }
      }
      return key ?? null;
    } finally {
      db.close();
    }
  }

  /** The key in this server's IndexedDB, if the database exists; creates nothing. */
  private async _existingKey(): Promise<CryptoKey | undefined> {
    const names = (await indexedDB.databases?.()) ?? [];
    if (!names.some(info => info.name === databaseName(this._scope))) {
      return undefined;
    }
    const db = await openDb(this._scope);
    try {
      const read = db.transaction(STORE, 'readonly').objectStore(STORE);
      return (await request(read.get(KEY_ID))) as CryptoKey | undefined;
    } finally {
      db.close();
    }
  }

  private _keys: (create: boolean) => Promise<CryptoKey | null>;
  private _cached: CryptoKey | null = null;
}

/** A new non-extractable AES-GCM key. */
function newKey(): Promise<CryptoKey> {
  return crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
    'encrypt',
    'decrypt'
  ]);
}

/**
 * The newest session of this browser on this server, sealed, shared by all tabs through
 * IndexedDB: read under the refresh lock so that a tab that waited for the
 * lock sees another tab's refresh at once, whatever the order in which
 * BroadcastChannel messages arrive.
 */
export class LatestSession {
  constructor(private _scope: ServerScope) {}

  async read<T>(): Promise<T | null> {
    const db = await openDb(this._scope);
    try {
      const store = db.transaction(STORE, 'readonly').objectStore(STORE);
      return ((await request(store.get(LATEST_ID))) as T | undefined) ?? null;
    } finally {
      db.close();
    }
  }

  async write(value: unknown | null): Promise<void> {
    const db = await openDb(this._scope);
    try {
      const store = db.transaction(STORE, 'readwrite').objectStore(STORE);
      if (value === null) {
        await request(store.delete(LATEST_ID));
      } else {
        await request(store.put(value, LATEST_ID));
      }
    } finally {
      db.close();
    }
  }
}

const LATEST_ID = 'latest-session-v1';
