import { defineConfig } from '@playwright/test';
import chromium from './chromium.json';

// Servers from the release build, each on its own fresh database:
// - "first-run" starts empty, for the setup flow (SQLite);
// - "console" starts with an organization, an admin and a member (SQLite, see serve.sh);
// - "postgres", only when TOKENWELL_TEST_PG_URL names a PostgreSQL server: the same seed on
//   PostgreSQL, two instances behind nginx's round robin (see serve-cluster.sh), for the
//   specs that use the seeded console.
const FIRST_RUN = 'http://127.0.0.1:3100';
const CONSOLE = 'http://127.0.0.1:3101';
const CLUSTER = 'http://127.0.0.1:3102';
// Passkeys need a host name (WebAuthn refuses IP addresses): the two-factor server is opened
// as localhost, its default public address.
const TWO_FACTOR = 'http://localhost:3103';
const postgres = Boolean(process.env.TOKENWELL_TEST_PG_URL);

export default defineConfig({
  testDir: './tests',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 5_000 },
  reporter: [['list']],
  use: {
    // Debian's Chromium, never a downloaded browser; bench/cold-load.mjs starts it the same way.
    launchOptions: chromium,
    viewport: { width: 1280, height: 800 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    { name: 'first-run', testMatch: /first-run\.spec\.ts/, use: { baseURL: FIRST_RUN } },
    { name: 'console', testIgnore: /(first-run|two-factor)\.spec\.ts/, use: { baseURL: CONSOLE } },
    { name: 'two-factor', testMatch: /two-factor\.spec\.ts/, use: { baseURL: TWO_FACTOR } },
    ...(postgres ? [{ name: 'postgres', testMatch: /(tokens|users)\.spec\.ts/, use: { baseURL: CLUSTER } }] : []),
  ],
  webServer: [
    { command: 'sh ./serve.sh empty 3100', url: `${FIRST_RUN}/healthz`, timeout: 60_000, reuseExistingServer: false },
    { command: 'sh ./serve.sh seeded 3101', url: `${CONSOLE}/healthz`, timeout: 60_000, reuseExistingServer: false },
    { command: 'sh ./serve.sh two-factor 3103', url: 'http://127.0.0.1:3103/healthz', timeout: 60_000, reuseExistingServer: false },
    // SIGTERM rather than the default SIGKILL, so the script stops its servers and nginx and
    // drops its database.
    ...(postgres
      ? [
          {
            command: 'bash ./serve-cluster.sh 3102',
            url: `${CLUSTER}/healthz`,
            timeout: 60_000,
            reuseExistingServer: false,
            gracefulShutdown: { signal: 'SIGTERM' as const, timeout: 15_000 },
          },
        ]
      : []),
  ],
});
