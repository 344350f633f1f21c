// Cold load of the Auth tokens tab in Chromium: from navigation until the page is hydrated,
// then until a click on "Generate Token" has opened its dialog. Each run is a new browser
// context (empty cache, the admin's session cookie only), with and without 4× CPU slowdown.
//   node bench/cold-load.mjs                 RUNS=15 PORT=3950 BIN=target/release/tokenwell SITE=target/site
// Needs the release build (make build) and the end2end packages (make test's set-up).
// Starts its own server on a fresh SQLite database seeded like end2end/serve.sh, plus TOKENS
// tokens (default 25) so the table has rows; every wait is bounded.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'end2end', 'package.json'));
const { chromium } = require('@playwright/test');

const RUNS = Number(process.env.RUNS ?? 15);
const PORT = Number(process.env.PORT ?? 3950);
const TOKENS = Number(process.env.TOKENS ?? 25);
const BIN = resolve(root, process.env.BIN ?? 'target/release/tokenwell');
const SITE = resolve(root, process.env.SITE ?? 'target/site');
const BASE = `http://127.0.0.1:${PORT}`;
const ADMIN = { email: 'admin@acme.test', password: 'admin password 123' };
// The whole measurement may not run longer than this.
const DEADLINE = Date.now() + 15 * 60_000;
// Chromium as the browser tests start it.
const LAUNCH = JSON.parse(readFileSync(resolve(root, 'end2end/chromium.json'), 'utf8'));

const dir = mkdtempSync(join(tmpdir(), 'tokenwell-cold-load-'));
const env = {
  ...process.env,
  DATABASE_URL: `sqlite:${dir}/tokenwell.db`,
  LEPTOS_SITE_ROOT: SITE,
  TOKENWELL_DATA_DIR: `${dir}/files`,
  TOKENWELL_LOG: 'warn',
};

function run(args, input) {
  return new Promise((ok, fail) => {
    const child = spawn(BIN, args, { env, stdio: ['pipe', 'ignore', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      code === 0 ? ok() : fail(new Error(`${args[0]} exited with ${code}`));
    });
    child.stdin.end(input);
  });
}

async function waitForHealth() {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    try {
      if ((await fetch(`${BASE}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the server did not answer /healthz within 30 s');
}

// Records, in the page's own clock (ms since navigation start), when hydration marks <body>.
function recordHydration() {
  const mark = () => {
    if (document.body?.hasAttribute('data-hydrated') && window.__hydratedAt === undefined) {
      window.__hydratedAt = performance.now();
    }
  };
  new MutationObserver(mark).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-hydrated'] });
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { median: at(0.5), p95: at(0.95), min: sorted[0], max: sorted[sorted.length - 1] };
}

async function coldLoad(browser, storageState, rate) {
  const context = await browser.newContext({ storageState, viewport: { width: 1280, height: 800 } });
  try {
    await context.addInitScript(recordHydration);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate });
    await page.goto(`${BASE}/settings/auth-tokens`, { timeout: 60_000 });
    await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 60_000 });
    const hydrated = await page.waitForFunction(() => window.__hydratedAt, null, { timeout: 60_000 });
    const timing = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const pkg = performance.getEntriesByType('resource').filter((r) => r.name.includes('/pkg/'));
      return {
        html: nav.responseEnd,
        dcl: nav.domContentLoadedEventEnd,
        pkgBytes: pkg.reduce((n, r) => n + r.transferSize, 0),
        pkgDone: Math.max(...pkg.map((r) => r.responseEnd)),
      };
    });
    // Interactive: a click reaches its handler and the dialog opens.
    const clickedAt = Date.now();
    await page.getByRole('button', { name: 'Generate Token' }).click({ timeout: 30_000 });
    await page.getByRole('dialog', { name: 'Generate Token' }).waitFor({ timeout: 30_000 });
    return { hydrated: await hydrated.jsonValue(), dialog: Date.now() - clickedAt, ...timing };
  } finally {
    await context.close();
  }
}

const server = spawn(BIN, ['serve', '--addr', `127.0.0.1:${PORT}`], { env, stdio: ['ignore', 'ignore', 'inherit'] });
let browser;
try {
  await run(['create-admin', '--org', 'Acme Corp', '--email', ADMIN.email, '--name', 'Ada Admin'], `${ADMIN.password}\n`);
  await run(['create-user', '--org', 'Acme Corp', '--email', 'member@acme.test', '--name', 'Max Member', '--role', 'member'], 'member password 123\n');
  await waitForHealth();
  browser = await chromium.launch(LAUNCH);

  const signIn = await browser.newContext();
  const page = await signIn.newPage();
  await page.goto(`${BASE}/login`);
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 60_000 });
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(/\/settings/, { timeout: 30_000 });
  for (let i = 0; i < TOKENS; i++) {
    const res = await signIn.request.post(`${BASE}/rpc/generate_token`, {
      data: { kind: 'api', name: `bench-${String(i).padStart(3, '0')}` },
    });
    if (!res.ok()) throw new Error(`generate_token answered ${res.status()}`);
  }
  const storageState = await signIn.storageState();
  await signIn.close();

  console.log(`${RUNS} cold loads of /settings/auth-tokens each, ${TOKENS} tokens; ms since navigation start`);
  console.log('| CPU | hydrated: median | p95 | HTML received (median) | /pkg/ files received (median) | /pkg/ bytes over the wire | click → dialog open: median | p95 |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const rate of [1, 4]) {
    await coldLoad(browser, storageState, rate); // warm-up: the server's and the OS's caches, not the browser's
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      if (Date.now() > DEADLINE) throw new Error('deadline passed');
      runs.push(await coldLoad(browser, storageState, rate));
    }
    const h = stats(runs.map((r) => r.hydrated));
    const d = stats(runs.map((r) => r.dialog));
    const fmt = (n) => n.toFixed(0);
    console.log(
      `| ${rate === 1 ? 'no slowdown' : `${rate}× slowdown`} | ${fmt(h.median)} | ${fmt(h.p95)} | ` +
        `${fmt(stats(runs.map((r) => r.html)).median)} | ${fmt(stats(runs.map((r) => r.pkgDone)).median)} | ` +
        `${runs[0].pkgBytes} | ${fmt(d.median)} | ${fmt(d.p95)} |`,
    );
  }
} finally {
  await browser?.close();
  server.kill('SIGTERM');
  await new Promise((r) => (server.exitCode !== null ? r() : server.on('exit', r)));
  rmSync(dir, { recursive: true, force: true });
}
