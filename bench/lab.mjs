// Browser side of the benchmarks (figures 7, 9, 10): Debian's Chromium driven by
// playwright-core against JupyterLab servers that bench/labfigures.py started.
//
//   node bench/lab.mjs <config.json>
//
// The config names a mode (pageload | session | soak) and its URLs; the result is one
// line of JSON on stdout. Every wait is bounded; the browser is closed on failure.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run'
];

const config = JSON.parse(readFileSync(process.argv[2], 'utf-8'));
const log = msg => process.stderr.write(`lab.mjs: ${msg}\n`);

// In every page: a big resource-timing buffer (the lab loads hundreds of files)
// and the first moments the launcher and the status bar's items are in the DOM.
const MARKS = `
  performance.setResourceTimingBufferSize(100000);
  window.__benchMarks = {};
  const seen = (name, selector) => {
    if (!window.__benchMarks[name] && document.querySelector(selector)) {
      window.__benchMarks[name] = performance.now();
    }
  };
  new MutationObserver(() => {
    seen('launcher', '.jp-Launcher');
    seen('statusbar', '#jp-main-statusbar .jp-StatusBar-Item');
    seen('carto_status', '.jp-CartoAuth-statusButton');
  }).observe(document, { childList: true, subtree: true });
`;

async function until(what, fn, timeoutMs, stepMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise(r => setTimeout(r, stepMs));
  }
}

async function startProfile(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  return async path => {
    const { profile } = await cdp.send('Profiler.stop');
    writeFileSync(path, JSON.stringify(profile));
    return topFunctions(profile);
  };
}

/** Self time by function (with its script), the heaviest first. */
function topFunctions(profile, count = 15) {
  const byId = new Map(profile.nodes.map(n => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const url = f.url.split('/').slice(-2).join('/');
    const key = `${f.functionName || '(anonymous)'} ${url}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([fn, us]) => ({ fn, ms: Math.round(us / 100) / 10 }));
}

// --- figure 7: page load with the extension against without it ---------------------

async function loadOnce(browser, url, profilePath) {
  const context = await browser.newContext();
  let ourBytes = 0;
  let ourRequests = 0;
  context.on('response', async response => {
    if (response.url().includes('/lab/extensions/jupyterlab-carto-auth/')) {
      ourRequests += 1;
      const body = await response.body().catch(() => Buffer.alloc(0));
      ourBytes += body.length;
    }
  });
  try {
    const page = await context.newPage();
    await page.addInitScript(MARKS);
    const stopProfile = profilePath ? await startProfile(page) : null;
    await page.goto(`${url}lab?reset`, { timeout: 90000 });
    const marks = await until(
      'the launcher and the status bar',
      () =>
        page.evaluate(() => {
          const m = window.__benchMarks;
          return m.launcher && m.statusbar ? m : null;
        }),
      90000
    );
    await page.waitForTimeout(300); // late JS requests
    const top = stopProfile ? await stopProfile(profilePath) : undefined;
    return { ...marks, ourRequests, ourBytes, top };
  } finally {
    await context.close();
  }
}

async function pageload(browser) {
  // The three labs in turn, the order rotating each round: ours, absent (no
  // file of ours), and `jupyter labextension disable`d (our JS fetched, no
  // plugin of ours activated), so ours/disabled is what our plugins cost and
  // disabled/absent what fetching our files costs.
  const urls = {
    ours: config.ours_url,
    absent: config.absent_url,
    disabled: config.disabled_url
  };
  const names = Object.keys(urls);
  const runs = Object.fromEntries(names.map(name => [name, []]));
  for (const name of names) {
    await loadOnce(browser, urls[name]); // warm the servers once, not measured
  }
  for (let i = 0; i < config.pairs; i++) {
    const k = i % names.length;
    for (const name of [...names.slice(k), ...names.slice(0, k)]) {
      runs[name].push(await loadOnce(browser, urls[name]));
    }
  }
  const result = { runs };
  if (config.profile) {
    result.profile_top = (
      await loadOnce(browser, urls.ours, config.profile)
    ).top;
  }
  return result;
}

// --- figures 9 and 10: sign-in, then refreshes fanned out to N kernels -------------

/** Python run silently in a console's kernel: log every session it gets to `path`. */
function watchCode(path) {
  return `
def _carto_bench_watch(path):
    import hashlib, json, sys, threading, time
    def current(mod):
        info = mod.SESSION.current
        return getattr(info, 'access_token', None) if info is not None else None
    def note(token):
        digest = hashlib.sha256(token.encode()).hexdigest()[:12] if token else None
        with open(path, 'a') as f:
            f.write(json.dumps({'t': time.time(), 'tok': digest}) + '\\n')
    def imported():
        mod = sys.modules.get('jupyterlab_carto_auth.kernel')
        spec = getattr(mod, '__spec__', None)
        # In sys.modules from the start of its import: wait for the end.
        if mod is None or getattr(spec, '_initializing', False):
            return None
        return mod if hasattr(mod, 'SESSION') else None
    def install():
        try:
            _install()
        except Exception as exc:
            with open(path + '.error', 'a') as f:
                f.write(repr(exc) + '\\n')
    def _install():
        deadline = time.time() + 120
        while imported() is None:
            if time.time() > deadline:
                raise TimeoutError('jupyterlab_carto_auth.kernel never imported')
            time.sleep(0.01)
        mod = imported()
        session = mod.SESSION
        note(current(mod))
        # Every way a lab's session lands: offer (pushes and replies), update.
        names = [n for n in ('offer', 'update') if hasattr(session, n)]
        for name in names:
            def wrap(original):
                def recorded(*args, **kwargs):
                    result = original(*args, **kwargs)
                    note(current(mod))
                    return result
                return recorded
            setattr(session, name, wrap(getattr(session, name)))
        if not names:  # no method to wrap: poll
            def poll():
                held = current(mod)
                while True:
                    time.sleep(0.002)
                    now = current(mod)
                    if now != held:
                        held = now
                        note(now)
            threading.Thread(target=poll, daemon=True).start()
    if imported() is not None:
        install()
    else:
        threading.Thread(target=install, daemon=True).start()
_carto_bench_watch(${JSON.stringify(path)})
del _carto_bench_watch
`;
}

function records(path) {
  if (!existsSync(path)) {
    return [];
  }
  return readFileSync(path, 'utf-8')
    .split('\n')
    .filter(Boolean)
    .map(line => JSON.parse(line));
}

async function hook(name, query = '') {
  const response = await fetch(
    new URL(`__sandbox/${name}${query}`, config.issuer),
    {
      method: 'POST'
    }
  );
  if (!response.ok) {
    throw new Error(`sandbox hook ${name}: ${response.status}`);
  }
}

async function openLab(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(MARKS);
  await page.goto(`${config.lab_url}lab?reset`, { timeout: 90000 });
  await page.waitForSelector('.jp-CartoAuth-statusButton', { timeout: 90000 });
  await until(
    'the lab to be ready',
    () => page.evaluate(() => !!window.jupyterapp),
    60000
  );
  // kernelAccess is "all" in this lab: confirm it once, as its user would.
  await page
    .getByRole('button', { name: 'Allow every kernel' })
    .click({ timeout: 30000 });
  return { context, page };
}

let consoleCount = 0;
// Consoles whose kernel went away while its watcher was being installed
// ("Canceled future for execute_request": a kernel that died or was restarted
// under the load of ten starting at once) and were opened again. Setup, not the
// figure: reported beside it.
let setupRetries = 0;

/**
 * Open `count` more consoles with Python kernels, each watched (and running
 * `extra(path)` after the watcher, when given); returns their log paths.
 */
async function openConsoles(page, count, extra = () => '') {
  const paths = [];
  for (let i = 0; i < count; i++) {
    consoleCount += 1;
    paths.push(`${config.watch_dir}/console-${consoleCount}.jsonl`);
  }
  const batch = 10;
  for (let i = 0; i < paths.length; i += batch) {
    const codes = paths.slice(i, i + batch).map(p => watchCode(p) + extra(p));
    setupRetries += await page.evaluate(async codes => {
      const app = window.jupyterapp;
      let retries = 0;
      const watched = async code => {
        const panel = await app.commands.execute('console:create', {
          kernelPreference: { name: 'python3' },
          activate: false
        });
        try {
          await panel.sessionContext.ready;
          const kernel = panel.sessionContext.session.kernel;
          const reply = await kernel.requestExecute({
            code,
            silent: true,
            store_history: false
          }).done;
          if (reply.content.status !== 'ok') {
            throw new Error(
              `watcher: ${reply.content.ename}: ${reply.content.evalue}`
            );
          }
        } catch (error) {
          panel.dispose();
          throw error;
        }
      };
      await Promise.all(
        codes.map(async code => {
          for (let attempt = 1; ; attempt++) {
            try {
              return await watched(code);
            } catch (error) {
              if (
                attempt >= 3 ||
                !/Canceled future|disposed|dead/i.test(String(error))
              ) {
                throw error;
              }
              retries += 1;
            }
          }
        })
      );
      return retries;
    }, codes);
  }
  return paths;
}

async function shutdownAll(page) {
  await page
    .evaluate(async () => {
      await window.jupyterapp.serviceManager.sessions.shutdownAll();
    })
    .catch(() => undefined);
}

async function signIn(page) {
  const popupOpened = page.waitForEvent('popup', { timeout: 30000 });
  const clicked = await page.evaluate(() => {
    const t = performance.timeOrigin + performance.now();
    document.querySelector('.jp-CartoAuth-statusButton').click();
    return t / 1000;
  });
  const popup = await popupOpened;
  await popup.waitForSelector('#email', { timeout: 30000 });
  await popup.fill('#email', config.user.email);
  await popup.fill('#password', config.user.password);
  await popup.click('button[type="submit"]:has-text("Sign in")');
  await page.waitForSelector(
    '.jp-CartoAuth-statusButton[data-status="signed-in"]',
    { timeout: 60000 }
  );
  return clicked;
}

/** Figure 10: click to the first kernel holding a token, in a fresh browser. */
async function signInOnce(browser) {
  const { context, page } = await openLab(browser);
  try {
    const [path] = await openConsoles(page, 1);
    await until('the watcher', () => records(path).length > 0, 60000);
    const clicked = await signIn(page);
    const first = await until(
      'a kernel holding a token',
      () => records(path).find(r => r.tok && r.t >= clicked),
      60000
    );
    return first.t - clicked;
  } finally {
    await shutdownAll(page);
    await context.close();
  }
}

/** The newest token request the page made after `since` (page ms), or null. */
function tokenRequestAfter(page, since) {
  return page.evaluate(since => {
    const hits = performance
      .getEntriesByType('resource')
      .filter(
        e =>
          /\/oauth\/token|\/carto-auth\/proxy/.test(e.name) &&
          e.startTime > since &&
          e.responseEnd > 0
      );
    const e = hits[hits.length - 1];
    return e
      ? {
          start: (performance.timeOrigin + e.startTime) / 1000,
          end: (performance.timeOrigin + e.responseEnd) / 1000
        }
      : null;
  }, since);
}

/** Wait until every kernel of `paths` logged a token. */
async function untilAllHold(paths) {
  await until(
    `${paths.length} kernels holding a token`,
    () => paths.every(p => records(p).some(r => r.tok)),
    60000 + paths.length * 3000,
    100
  ).catch(error => {
    const logged = paths.filter(p => existsSync(p)).length;
    const holding = paths.filter(p => records(p).some(r => r.tok)).length;
    throw new Error(
      `${error.message}: ${logged} kernels logged, ${holding} hold a token`
    );
  });
}

/** Figure 9: from the refresh's token response to the last of `paths` holding the new token. */
async function fanOut(page, paths) {
  const tokenAt = (path, t) => {
    const held = records(path).filter(r => r.t < t);
    return held.length ? held[held.length - 1].tok : null;
  };
  await untilAllHold(paths);
  const since = await page.evaluate(() => performance.now());
  const request = await until(
    'the next refresh',
    () => tokenRequestAfter(page, since),
    (config.ttl + 30) * 1000,
    50
  );
  const last = await until(
    'every kernel holding the new token',
    () => {
      const times = paths.map(p => {
        const before = tokenAt(p, request.start);
        const got = records(p).find(
          r => r.t >= request.start && r.tok && r.tok !== before
        );
        return got ? got.t : null;
      });
      return times.every(t => t !== null) ? Math.max(...times) : null;
    },
    60000,
    50
  ).catch(error => {
    const missing = paths.filter(p => {
      const before = tokenAt(p, request.start);
      return !records(p).some(
        r => r.t >= request.start && r.tok && r.tok !== before
      );
    });
    throw new Error(
      `${error.message}: ${missing.length} of ${paths.length} kernels never got it ` +
        `(${missing.map(p => p.split('/').pop()).join(', ')})`
    );
  });
  return last - request.end;
}

/** Figures 10 then 9; a failure is recorded per figure, the others still count. */
async function session(browser) {
  const result = { signin_s: [], fanout_s: {}, errors: {}, setup_retries: 0 };
  try {
    for (let i = 0; i < config.signin_repeats; i++) {
      result.signin_s.push(await signInOnce(browser));
    }
  } catch (error) {
    result.errors.signin = error.message;
  }
  await hook('lifetimes', `?access_token_ttl=${config.ttl}`);
  const { context, page } = await openLab(browser);
  try {
    let paths = await openConsoles(page, config.kernels[0]);
    await signIn(page);
    const biggest = config.kernels[config.kernels.length - 1];
    for (const n of config.kernels) {
      try {
        if (paths.length < n) {
          paths = paths.concat(await openConsoles(page, n - paths.length));
        }
        result.fanout_s[n] = [];
        for (let r = 0; r < config.fanout_repeats; r++) {
          const last = r === config.fanout_repeats - 1;
          const profiling = config.profile && last && n === biggest;
          const stopProfile = profiling ? await startProfile(page) : null;
          result.fanout_s[n].push(await fanOut(page, paths));
          if (stopProfile) {
            result.profile_top = await stopProfile(config.profile);
          }
        }
      } catch (error) {
        result.errors[n] = error.message;
        break;
      }
    }
  } catch (error) {
    result.errors.fanout = error.message;
  } finally {
    await shutdownAll(page);
    await context.close();
    await hook('lifetimes', '?access_token_ttl=3600').catch(() => undefined);
  }
  result.setup_retries = setupRetries;
  return result;
}

// --- soak (bench/soak.py): N kernels calling the CARTO API stand-in for minutes ----

/**
 * Python run silently after the watcher: a thread that, once the lab's session
 * is there, calls the CARTO API stand-in through the package every `interval`
 * seconds (`CartoAuth.from_oauth().get_access_token()`, then
 * `get_carto_dw_credentials()`, a GET with that token) and keeps its counts in
 * `path` (JSON, replaced whole). Errors are kept by type and text (the
 * package's texts carry no token).
 */
function loopCode(path, interval) {
  return `
def _carto_soak_loop(path, interval):
    import json, os, sys, threading, time
    counts = {'calls': 0, 'ok': 0, 'token_max_ms': 0.0, 'slow_tokens': 0,
              'errors': {}, 'started': None, 'updated': None, 'fatal': None}
    def save():
        counts['updated'] = time.time()
        with open(path + '.tmp', 'w') as f:
            json.dump(counts, f)
        os.replace(path + '.tmp', path)
    def run():
        try:
            deadline = time.time() + 300
            while True:
                mod = sys.modules.get('jupyterlab_carto_auth.kernel')
                session = getattr(mod, 'SESSION', None)
                if getattr(session, 'fresh', None) is not None:
                    break
                if time.time() > deadline:
                    raise TimeoutError('no session from the lab within 300 s')
                time.sleep(0.1)
            from jupyterlab_carto_auth import CartoAuth
            counts['started'] = time.time()
            while True:
                try:
                    t0 = time.perf_counter()
                    auth = CartoAuth.from_oauth()
                    auth.get_access_token()
                    ms = (time.perf_counter() - t0) * 1000
                    counts['token_max_ms'] = max(counts['token_max_ms'], ms)
                    # Slower than a held token: the kernel asked the lab.
                    counts['slow_tokens'] += ms > 20
                    auth.get_carto_dw_credentials()
                    counts['ok'] += 1
                except Exception as exc:
                    key = (type(exc).__name__ + ': ' + str(exc))[:300]
                    counts['errors'][key] = counts['errors'].get(key, 0) + 1
                counts['calls'] += 1
                save()
                time.sleep(interval)
        except BaseException as exc:
            counts['fatal'] = repr(exc)[:300]
            save()
    threading.Thread(target=run, daemon=True, name='carto-soak').start()
_carto_soak_loop(${JSON.stringify(path)}, ${Number(interval)})
del _carto_soak_loop
`;
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf-8'));
  } catch {
    return null;
  }
}

/** Resident set size of a process, KiB (null when it is gone). */
function rssKiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf-8');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The process ids whose parent is `pid` (the server's kernels). */
function childrenOf(pid) {
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) {
      continue;
    }
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf-8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) {
        found.push(Number(name));
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function providerStats() {
  const response = await fetch(new URL('__sandbox/stats', config.issuer));
  if (!response.ok) {
    throw new Error(`sandbox stats: ${response.status}`);
  }
  return response.json();
}

/** Heap, RSS, provider counters, kernels alive and the kernels' loop counts now. */
async function sample(page, cdp, paths) {
  // A full collection first, twice (the second catches what finalizers freed).
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('HeapProfiler.collectGarbage');
  const heap = await cdp.send('Runtime.getHeapUsage');
  const kernels = childrenOf(config.server_pid);
  const kernelRss = kernels.map(rssKiB).filter(v => v !== null);
  const pageState = await page.evaluate(() => {
    const app = window.jupyterapp;
    const sessions = [...app.serviceManager.sessions.running()];
    const button = document.querySelector('.jp-CartoAuth-statusButton');
    return {
      sessions: sessions.length,
      status: button?.getAttribute('data-status') ?? null
    };
  });
  return {
    t: Date.now() / 1000,
    heap_used: heap.usedSize,
    heap_total: heap.totalSize,
    server_rss_kib: rssKiB(config.server_pid),
    kernel_processes: kernelRss.length,
    kernels_rss_kib: kernelRss.reduce((a, b) => a + b, 0),
    ...pageState,
    provider: await providerStats(),
    loops: paths.map(p => readJson(`${p}.loop.json`))
  };
}

/** Each kernel's token changes (pushes and replies) between `t0` and `t1`, epoch s. */
function tokensReceived(path, t0, t1) {
  let held = null;
  let count = 0;
  for (const r of records(path)) {
    if (r.tok && r.tok !== held && r.t >= t0 && r.t < t1) {
      count += 1;
    }
    held = r.tok ?? held;
  }
  return count;
}

/**
 * Soak: `kernels` consoles, each calling the API stand-in every `interval` s,
 * tokens living `ttl` s, for `seconds` after the first refresh; refreshes are
 * timed by polling the provider's counters every second.
 */
async function soak(browser) {
  await hook('lifetimes', `?access_token_ttl=${config.ttl}`);
  const result = { errors: [] };
  const { context, page } = await openLab(browser);
  const cdp = await context.newCDPSession(page);
  try {
    const paths = await openConsoles(page, config.kernels, p =>
      loopCode(`${p}.loop.json`, config.interval)
    );
    result.opened_s = await page.evaluate(() => performance.now() / 1000);
    await signIn(page);
    await untilAllHold(paths);
    // Steady state: the loops run and the first refresh went out.
    const signedIn = (await providerStats()).token_requests;
    await until(
      'the first refresh',
      async () =>
        (await providerStats()).token_requests.refresh_token >
        signedIn.refresh_token,
      (config.ttl + 30) * 1000,
      250
    );
    await page.waitForTimeout(2000);
    result.start = await sample(page, cdp, paths);
    const refreshes = [];
    let last = result.start.provider.token_requests.refresh_token;
    const end = result.start.t + config.seconds;
    while (Date.now() / 1000 < end) {
      await page.waitForTimeout(
        Math.min(1000, (end - Date.now() / 1000) * 1000)
      );
      const now = (await providerStats()).token_requests.refresh_token;
      if (now > last) {
        refreshes.push({ t: Date.now() / 1000, n: now - last });
        last = now;
      }
    }
    result.end = await sample(page, cdp, paths);
    result.refreshes = refreshes;
    result.tokens_received = paths.map(p =>
      tokensReceived(p, result.start.t, result.end.t)
    );
    result.watch_errors = paths
      .filter(p => existsSync(`${p}.error`))
      .map(p => readFileSync(`${p}.error`, 'utf-8').slice(0, 300));
  } catch (error) {
    result.errors.push(error.message);
  } finally {
    await shutdownAll(page);
    await context.close();
    await hook('lifetimes', '?access_token_ttl=3600').catch(() => undefined);
  }
  return result;
}

const browser = await chromium.launch({
  executablePath: config.chromium,
  headless: true,
  args: ARGS
});
const watchdog = setTimeout(() => {
  log(`gave up after ${config.timeout_s} s`);
  process.exit(3);
}, config.timeout_s * 1000);
try {
  const modes = { pageload, session, soak };
  const result = await modes[config.mode](browser);
  process.stdout.write(JSON.stringify(result) + '\n');
} catch (error) {
  log(error.stack ?? String(error));
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await browser.close();
}
