// What a profile name is (PROFILES-CONTRACT): its own module, so that the
// profiles (loaded at start) do not load the protocol (loaded with the first
// kernel).

/** Longest profile name, in characters (JavaScript's `length`, as docs/protocol.md counts them). */
export const MAX_PROFILE_NAME = 128;

/** Whether `value` is a profile name: a string of 1 to 128 characters. */
export function isProfileName(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length >= 1 &&
    value.length <= MAX_PROFILE_NAME
  );
}
