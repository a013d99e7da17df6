// The comm target name of the `carto_auth` protocol (docs/protocol.md), apart
// from protocol.ts: start-up code registers the target on every kernel, and
// the protocol's validation loads only with the kernel bridge.

/** Comm target name. */
export const TARGET = 'carto_auth';
