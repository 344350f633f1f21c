import AxeBuilder from '@axe-core/playwright';
import { test as base, expect, Page } from '@playwright/test';

export const ADMIN = { email: 'admin@acme.test', password: 'admin password 123' };
export const MEMBER = { email: 'member@acme.test', password: 'member password 123' };

/** Fails the test on any console error or uncaught exception (hydration warnings included). */
export const test = base.extend<{ consoleErrors: string[] }>({
  consoleErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on('console', (msg) => {
        const text = msg.text();
        // Chromium logs every non-2xx fetch. A refused sign-in (401), a field error (400), a
        // guard's refusal (403) or a name clash (409) from a server function is an expected
        // answer the page shows; anything else (a missing asset, a 5xx) is a failure.
        const expectedAnswer = /^Failed to load resource: the server responded with a status of (400|401|403|409|429) /.test(text);
        if ((msg.type() === 'error' && !expectedAnswer) || (msg.type() === 'warning' && /hydrat/i.test(text))) {
          errors.push(`${msg.type()}: ${text}`);
        }
      });
      page.on('response', (res) => {
        if (res.status() >= 500) errors.push(`HTTP ${res.status()} from ${res.url()}`);
      });
      page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
      await use(errors);
      expect(errors, 'browser console errors').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Waits until the WASM has hydrated the page, so clicks reach Leptos handlers. */
export async function hydrated(page: Page) {
  await page.locator('body[data-hydrated="true"]').waitFor();
}

export async function goto(page: Page, path: string) {
  await page.goto(path);
  await hydrated(page);
}

export async function signIn(page: Page, who: { email: string; password: string }) {
  await goto(page, '/login');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/settings/);
  await hydrated(page);
}

/**
 * Types into a debounced, URL-backed filter box and waits for the table that answers it: the
 * URL carries the text, one row matches, and it is on screen. Acting on a row before then
 * races the refresh that replaces the table (an open menu would vanish with its row).
 */
export async function filterToOne(page: Page, label: string, text: string) {
  await page.getByLabel(label).fill(text);
  await expect(page).toHaveURL((url) => url.searchParams.get('q') === text);
  await expect(page.getByText('Showing 1–1 of 1')).toBeVisible();
  await expect(page.getByRole('row').filter({ hasText: text })).toBeVisible();
}

/** The contract's token format. */
export const TOKEN_RE = /^tw[af]_[0-9A-Za-z]{38}$/;

/** The seed's steps 4–8 on the Auth tokens tab. Returns the open dialog and the secret shown once. */
export async function generateToken(page: Page, type: 'API/CLI token' | 'File Forwarder token', name: string) {
  await page.getByRole('button', { name: 'Generate Token' }).click();
  const dialog = page.getByRole('dialog', { name: 'Generate Token' });
  await dialog.getByLabel('Token type').selectOption({ label: type });
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByRole('button', { name: 'Generate' }).click();
  const value = dialog.getByRole('textbox', { name: 'Token value' });
  await expect(value).toHaveValue(TOKEN_RE);
  await expect(value).toHaveAttribute('readonly', '');
  await expect(dialog).toContainText('will not be displayed again');
  return { dialog, secret: await value.inputValue() };
}

/** A name no other test uses. */
export function unique(prefix: string) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

// WCAG 2.2 AA as axe-core checks it, in the light and the dark colour scheme (the console
// follows the operating system's).
const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

/** Fails with each violation's rule id and elements, naming the state and scheme. */
export async function expectAccessible(page: Page, state: string) {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const { violations } = await new AxeBuilder({ page }).withTags(WCAG_TAGS).analyze();
    const found = violations.map(
      (v) => `${v.id} [${v.impact}] ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`,
    );
    expect(found, `axe: ${state} (${colorScheme}, ${page.viewportSize()?.width} px)`).toEqual([]);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}
