// The `carto_auth` comm protocol v1, lab side (docs/protocol.md). The same
// rules live in jupyterlab_carto_auth/protocol.py; both are tested against
// docs/protocol-examples.json.

import { isProfileName } from './profilename';

export { TARGET } from './commtarget';
export { isProfileName, MAX_PROFILE_NAME } from './profilename';
/** Protocol major version. */
export const VERSION = 1;
/** Largest message, in bytes of compact JSON. */
export const MAX_BYTES = 65536;

export type Direction = 'lab_to_kernel' | 'kernel_to_lab';
export type ErrorCode =
  | 'cancelled'
  | 'timeout'
  | 'network'
  | 'denied'
  | 'unsupported_version'
  | 'bad_request'
  | 'unknown_profile';
export type SessionReason =
  | 'sign_in'
  | 'refresh'
  | 'reply'
  | 'attach'
  | 'sign_out'
  | 'not_granted'
  | 'profiles';

/** The feature a kernel names in its hello to get the profile fields (docs/protocol.md, "Profiles"). */
export const PROFILES_FEATURE = 'profiles';

export interface IHello {
  v: 1;
  type: 'hello';
  versions: number[];
  package_version: string;
  /** Optional: what the kernel understands beyond v1 (`profiles`). */
  features?: string[];
}

/** Which profile a session is of (feature kernels only). */
export interface IProfileRef {
  name: string;
  org: string | null;
}

/** One profile of the lab, as feature kernels see it: nothing secret. */
export interface IProfileSummary {
  name: string;
  email: string;
  org: string | null;
  default: boolean;
}

export interface IUserInfo {
  email: string;
  name: string;
  org: string | null;
}

export interface ISessionMessage {
  v: 1;
  type: 'session';
  state: 'signed_in' | 'signed_out';
  access_token?: string;
  expires_at?: number;
  api_base_url?: string | null;
  user?: IUserInfo;
  reason: SessionReason;
  id?: string;
  /** Feature kernels only: the profile this session is of. */
  profile?: IProfileRef;
  /** Feature kernels only: every profile of the lab. */
  profiles?: IProfileSummary[];
}

export interface IRequest {
  v: 1;
  type: 'request';
  id: string;
  interactive: boolean;
  org: string | null;
  min_ttl: number;
  reply_via: 'comm' | 'stdin';
  /** Optional: the profile (by name) the kernel wants. */
  profile?: string;
}

export interface ISignOut {
  v: 1;
  type: 'sign_out';
}

export interface IErrorMessage {
  v: 1;
  type: 'error';
  code: ErrorCode;
  message: string;
  id?: string;
}

export type Message =
  IHello | ISessionMessage | IRequest | ISignOut | IErrorMessage;

/** Why a message was refused; `code` is what the `error` answer carries. */
export class ProtocolError extends Error {
  constructor(
    readonly code: 'bad_request' | 'unsupported_version',
    message: string
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const ERROR_CODES = new Set<string>([
  'cancelled',
  'timeout',
  'network',
  'denied',
  'unsupported_version',
  'bad_request',
  'unknown_profile'
]);
const REASONS = new Set<string>([
  'sign_in',
  'refresh',
  'reply',
  'attach',
  'sign_out',
  'not_granted',
  'profiles'
]);
const TYPES: Record<Direction, Set<string>> = {
  kernel_to_lab: new Set(['hello', 'request', 'sign_out', 'error']),
  lab_to_kernel: new Set(['session', 'error'])
};
const ID = /^[A-Za-z0-9_-]{1,64}$/;

function bad(message: string): ProtocolError {
  return new ProtocolError('bad_request', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function optionalId(message: Record<string, unknown>): void {
  if (
    'id' in message &&
    (typeof message.id !== 'string' || !ID.test(message.id))
  ) {
    throw bad('id must be 1 to 64 of A-Z a-z 0-9 _ -.');
  }
}

function nullableString(value: unknown): boolean {
  return value === null || typeof value === 'string';
}

function checkProfileFields(value: Record<string, unknown>): void {
  if ('profile' in value) {
    const profile = value.profile;
    if (
      !isObject(profile) ||
      !isProfileName(profile.name) ||
      !nullableString(profile.org)
    ) {
      throw bad('session "profile" must be {name (1 to 128 characters), org}.');
    }
  }
  if ('profiles' in value) {
    const profiles = value.profiles;
    if (
      !Array.isArray(profiles) ||
      !profiles.every(
        p =>
          isObject(p) &&
          isProfileName(p.name) &&
          typeof p.email === 'string' &&
          nullableString(p.org) &&
          typeof p.default === 'boolean'
      )
    ) {
      throw bad(
        'session "profiles" must be a list of {name, email, org, default}.'
      );
    }
  }
}

/**
 * What is wrong with `url` as the CARTO API base URL a kernel sends the token
 * to, or null: the rule of the kernel's discovery (config.py `url_problem`),
 * https, or plain http on loopback only, no user info.
 */
function apiUrlProblem(url: string): string | null {
  if (/[\s\x00-\x1f]/.test(url)) {
    return 'contains spaces or control characters';
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    return 'must be an https:// URL';
  }
  if (!parsed.hostname) {
    return 'has no host name';
  }
  if (parsed.username || parsed.password) {
    return 'must not contain a user name or password';
  }
  const host = parsed.hostname;
  const loopback =
    host === 'localhost' ||
    host === '[::1]' ||
    /^127\.\d+\.\d+\.\d+$/.test(host);
  if (parsed.protocol === 'http:' && !loopback) {
    return 'must use https:// (plain http:// is only allowed for localhost, 127.0.0.0/8 and ::1)';
  }
  return null;
}

/**
 * Validate a message received in `direction`. Returns it typed, or throws a
 * ProtocolError whose code the `error` answer should carry.
 */
export function parseMessage(value: unknown, direction: Direction): Message {
  if (!isObject(value)) {
    throw bad('A message must be a JSON object.');
  }
  if (new TextEncoder().encode(JSON.stringify(value)).length > MAX_BYTES) {
    throw bad(`A message must be at most ${MAX_BYTES} bytes.`);
  }
  const { v, type } = value;
  if (!isNumber(v) || !Number.isInteger(v)) {
    throw bad('A message needs an integer "v".');
  }
  if (v !== VERSION) {
    throw new ProtocolError(
      'unsupported_version',
      `Protocol version ${v} is not supported (this side speaks ${VERSION}).`
    );
  }
  if (typeof type !== 'string' || !TYPES[direction].has(type)) {
    throw bad(`Unknown message type ${JSON.stringify(type)}.`);
  }
  switch (type) {
    case 'hello':
      if (
        !Array.isArray(value.versions) ||
        value.versions.length === 0 ||
        !value.versions.every(x => isNumber(x) && Number.isInteger(x)) ||
        typeof value.package_version !== 'string'
      ) {
        throw bad('hello needs "versions" (integers) and "package_version".');
      }
      if (
        'features' in value &&
        (!Array.isArray(value.features) ||
          !value.features.every(f => typeof f === 'string'))
      ) {
        throw bad('hello "features" must be a list of strings.');
      }
      break;
    case 'session':
      optionalId(value);
      if (value.state !== 'signed_in' && value.state !== 'signed_out') {
        throw bad('session "state" must be signed_in or signed_out.');
      }
      if (typeof value.reason !== 'string' || !REASONS.has(value.reason)) {
        throw bad('session "reason" is unknown.');
      }
      checkProfileFields(value);
      if (value.state === 'signed_in') {
        const user = value.user;
        if (typeof value.access_token !== 'string' || !value.access_token) {
          throw bad('A signed-in session needs an "access_token".');
        }
        if (!isNumber(value.expires_at)) {
          throw bad('"expires_at" must be a number of seconds.');
        }
        if (!nullableString(value.api_base_url)) {
          throw bad('"api_base_url" must be a string or null.');
        }
        const problem =
          typeof value.api_base_url === 'string' && value.api_base_url.trim()
            ? apiUrlProblem(value.api_base_url)
            : null;
        if (problem) {
          throw bad(`"api_base_url" ${problem}.`);
        }
        if (
          !isObject(user) ||
          typeof user.email !== 'string' ||
          typeof user.name !== 'string' ||
          !nullableString(user.org)
        ) {
          throw bad('"user" must be {email, name, org}.');
        }
      }
      break;
    case 'request':
      if (typeof value.id !== 'string' || !ID.test(value.id)) {
        throw bad('request "id" must be 1 to 64 of A-Z a-z 0-9 _ -.');
      }
      if (typeof value.interactive !== 'boolean') {
        throw bad('request "interactive" must be true or false.');
      }
      if (!nullableString(value.org)) {
        throw bad('request "org" must be a string or null.');
      }
      if (
        !isNumber(value.min_ttl) ||
        value.min_ttl < 0 ||
        value.min_ttl > 3600
      ) {
        throw bad('request "min_ttl" must be 0 to 3600 seconds.');
      }
      if (value.reply_via !== 'comm' && value.reply_via !== 'stdin') {
        throw bad('request "reply_via" must be comm or stdin.');
      }
      if ('profile' in value && !isProfileName(value.profile)) {
        throw bad(
          'request "profile" must be a profile name (1 to 128 characters).'
        );
      }
      break;
    case 'error':
      optionalId(value);
      if (typeof value.code !== 'string' || !ERROR_CODES.has(value.code)) {
        throw bad('error "code" is unknown.');
      }
      if (typeof value.message !== 'string') {
        throw bad('error "message" must be a string.');
      }
      break;
    default:
      break;
  }
  return value as unknown as Message;
}

/** An `error` message. */
export function errorMessage(
  code: ErrorCode,
  message: string,
  id?: string
): IErrorMessage {
  return id === undefined
    ? { v: 1, type: 'error', code, message }
    : { v: 1, type: 'error', code, message, id };
}

/** The value of the unsolicited stdin `input_reply` answering a request. */
export function stdinReplyValue(id: string, message: Message): string {
  return JSON.stringify({ carto_auth: 1, id, message });
}
