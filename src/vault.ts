// Encryption of token material before it goes into lab state.
//
// Lab state (IStateDB) is written by the server into the workspace file, which
// is world-readable on disk and exportable. So tokens are sealed with AES-GCM
// under a non-extractable WebCrypto key that lives only in this browser's
// IndexedDB: a copied workspace file holds no usable token.

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

async function openDb(): Promise<IDBDatabase> {
  const open = indexedDB.open(DB_NAME, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  return request(open);
}

/**
 * Seals and opens token material with a per-browser, non-extractable key.
 *
 * With `rememberSession` off the key lives only in the memory of the tabs:
 * it is never written to IndexedDB, and a tab hands it to the others with
 * the session it shares (see {@link Vault.sharedKey}).
 */
export class Vault {
  /** @param _persist - whether the key is kept in IndexedDB (`rememberSession`). */
  constructor(private _persist: () => boolean = () => true) {}

  /** The key other tabs need to open what this tab shares: the in-memory one, or null. */
  get sharedKey(): CryptoKey | null {
    return this._persist() ? null : this._cached;
  }

  /** Seal and open with another tab's in-memory key from now on. */
  useKey(key: CryptoKey): void {
    this._cached = key;
  }

  /** `rememberSession` turned on: keep this tab's key in IndexedDB. */
  async keepKey(): Promise<void> {
    if (!this._cached) {
      return;
    }
    const db = await openDb();
    try {
      const write = db.transaction(STORE, 'readwrite').objectStore(STORE);
      await request(write.put(this._cached, KEY_ID));
    } finally {
      db.close();
    }
  }

  /**
   * `rememberSession` is off: keep the key in memory only and delete this
   * browser's database (key and sealed session), which nothing needs now.
   */
  async forgetKey(): Promise<void> {
    this._cached ??= (await this._storedKey()) ?? null;
    await request(indexedDB.deleteDatabase(DB_NAME)).catch(() => undefined);
  }

  /**
   * Seal a JSON-serialisable value.
   */
  async seal(value: unknown): Promise<ISealed> {
    const key = await this._key(true);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const plain = new TextEncoder().encode(JSON.stringify(value));
    const data = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv },
      key!,
      plain
    );
    return { iv: toBase64(iv), data: toBase64(new Uint8Array(data)) };
  }

  /**
   * Open a sealed value; null when this browser does not hold the key (the
   * workspace came from elsewhere) or the data was tampered with.
   */
  async open<T>(sealed: ISealed, withKey?: CryptoKey): Promise<T | null> {
    try {
      const key = withKey ?? (await this._key(false));
      if (!key) {
        return null;
      }
      const plain = await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: fromBase64(sealed.iv) as BufferSource },
        key,
        fromBase64(sealed.data) as BufferSource
      );
      return JSON.parse(new TextDecoder().decode(plain)) as T;
    } catch {
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
    const db = await openDb();
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
      this._cached = key ?? null;
      return this._cached;
    } finally {
      db.close();
    }
  }

  /** The key in IndexedDB, if the database exists; creates nothing. */
  private async _storedKey(): Promise<CryptoKey | undefined> {
    const names = (await indexedDB.databases?.()) ?? [];
    if (!names.some(info => info.name === DB_NAME)) {
      return undefined;
    }
    const db = await openDb();
    try {
      const read = db.transaction(STORE, 'readonly').objectStore(STORE);
      return (await request(read.get(KEY_ID))) as CryptoKey | undefined;
    } finally {
      db.close();
    }
  }

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
 * The newest session of this browser, sealed, shared by all tabs through
 * IndexedDB: read under the refresh lock so that a tab that waited for the
 * lock sees another tab's refresh at once, whatever the order in which
 * BroadcastChannel messages arrive.
 */
export class LatestSession {
  async read<T>(): Promise<T | null> {
    const db = await openDb();
    try {
      const store = db.transaction(STORE, 'readonly').objectStore(STORE);
      return ((await request(store.get(LATEST_ID))) as T | undefined) ?? null;
    } finally {
      db.close();
    }
  }

  async write(value: unknown | null): Promise<void> {
    const db = await openDb();
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
