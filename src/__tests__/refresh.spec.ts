// The refresh schedule: the margin (setting, capped at a quarter of the
// token's lifetime), the timers at margin and expiry, the retry delay and
// the once-per-token warning.
import { RefreshScheduler, retryDelay } from '../refresh';
import { IStoredSession } from '../storedsession';

const NOW = 1_000_000_000;

function session(lifetimeS: number, leftS: number, canRefresh = true) {
  return {
    v: 1,
    sessionId: 's1',
    obtainedAt: NOW - (lifetimeS - leftS) * 1000,
    expiresAt: NOW + leftS * 1000,
    canRefresh
  } as IStoredSession;
}

function scheduler(marginSeconds = 300) {
  const calls = {
    refresh: jest.fn(async () => undefined),
    expired: jest.fn(async () => undefined),
    warn: jest.fn()
  };
  const it = new RefreshScheduler({
    marginSeconds: () => marginSeconds,
    refresh: calls.refresh,
    expired: calls.expired,
    warn: calls.warn
  });
  return { scheduler: it, calls };
}

describe('RefreshScheduler margin', () => {
  it('is the setting for a long-lived token', () => {
    expect(scheduler(300).scheduler.margin(session(3600, 3600))).toBe(300_000);
  });
  it('is at most a quarter of the lifetime', () => {
    expect(scheduler(300).scheduler.margin(session(600, 600))).toBe(150_000);
  });
  it('is 0 without a session', () => {
    expect(scheduler().scheduler.margin(null)).toBe(0);
  });
});

describe('RefreshScheduler due checks', () => {
  const { scheduler: s } = scheduler(300);
  it('needs a refresh within the margin only', () => {
    expect(s.needsRefresh(session(3600, 301), NOW)).toBe(false);
    expect(s.needsRefresh(session(3600, 300), NOW)).toBe(true);
    expect(s.needsRefresh(null, NOW)).toBe(false);
  });
  it('is due within the margin or within the asked validity', () => {
    expect(s.isDue(session(3600, 1000), 0, NOW)).toBe(false);
    expect(s.isDue(session(3600, 1000), 1_000_000, NOW)).toBe(true);
    expect(s.isDue(session(3600, 200), 0, NOW)).toBe(true);
  });
});

describe('retryDelay', () => {
  it('is a third of the time left, between 1 and 30 s', () => {
    expect(retryDelay(session(3600, 60), NOW)).toBe(20_000);
    expect(retryDelay(session(3600, 3600), NOW)).toBe(30_000);
    expect(retryDelay(session(3600, 1), NOW)).toBe(1_000);
  });
});

describe('RefreshScheduler timers', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(NOW);
  });
  afterEach(() => jest.useRealTimers());

  it('refreshes at the margin, and reports expiry at expiry', () => {
    const { scheduler: s, calls } = scheduler(300);
    const stored = session(3600, 3600);
    s.scheduleFor(stored);
    jest.advanceTimersByTime(3600_000 - 300_000 - 1);
    expect(calls.refresh).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(calls.refresh).toHaveBeenCalledTimes(1);
    expect(calls.expired).not.toHaveBeenCalled();
    jest.advanceTimersByTime(300_000);
    expect(calls.expired).toHaveBeenCalledWith(stored);
  });

  it('warns once, instead of refreshing, a token that cannot be renewed', () => {
    const { scheduler: s, calls } = scheduler(300);
    const stored = session(3600, 3600, false);
    s.scheduleFor(stored);
    jest.advanceTimersByTime(3600_000 - 300_000);
    expect(calls.refresh).not.toHaveBeenCalled();
    expect(calls.warn).toHaveBeenCalledWith(300);
    s.warnExpiring(stored);
    expect(calls.warn).toHaveBeenCalledTimes(1);
  });

  it('after a failure, warns and retries soon', () => {
    const { scheduler: s, calls } = scheduler(300);
    const stored = session(3600, 60);
    s.retry(stored, stored);
    expect(calls.warn).toHaveBeenCalledWith(60);
    jest.advanceTimersByTime(20_000);
    expect(calls.refresh).toHaveBeenCalledTimes(1);
  });

  it('stops when cleared', () => {
    const { scheduler: s, calls } = scheduler(300);
    s.scheduleFor(session(3600, 3600));
    s.clear();
    jest.advanceTimersByTime(3600_000);
    expect(calls.refresh).not.toHaveBeenCalled();
    expect(calls.expired).not.toHaveBeenCalled();
  });
});
