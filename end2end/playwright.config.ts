import { defineConfig } from '@playwright/test';

// Two servers from the release build, each on its own fresh SQLite database:
// - "first-run" starts empty, for the setup flow;
// - "console" starts with an organization, an admin and a member (see serve.sh).
const FIRST_RUN = 'http://127.0.0.1:3100';
const CONSOLE = 'http://127.0.0.1:3101';

export default defineConfig({
  testDir: './tests',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 5_000 },
  reporter: [['list']],
  use: {
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
    viewport: { width: 1280, height: 800 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    { name: 'first-run', testMatch: /first-run\.spec\.ts/, use: { baseURL: FIRST_RUN } },
    { name: 'console', testIgnore: /first-run\.spec\.ts/, use: { baseURL: CONSOLE } },
  ],
  webServer: [
    { command: 'sh ./serve.sh empty 3100', url: `${FIRST_RUN}/healthz`, timeout: 60_000, reuseExistingServer: false },
    { command: 'sh ./serve.sh seeded 3101', url: `${CONSOLE}/healthz`, timeout: 60_000, reuseExistingServer: false },
  ],
});
