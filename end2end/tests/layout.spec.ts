// Tables that fit: from 1024 px up every column of the tokens and users tables is on screen
// without sideways scrolling and names break only between words; at 390 px no console page
// scrolls sideways and each row is a card whose "…" button is on screen.
import type { Browser, Locator, Page } from '@playwright/test';
import { test, expect, generateToken, goto, signIn, unique, ADMIN, MEMBER } from './fixtures';

// Names as long as the ones admins give (the seed's examples, and longer).
const TINES = 'Tines-integration-prod';
const FORWARDER = 'forwarder-dc-east-very-long-name';
const REVOKED = 'Tines-integration-staging-eu-west';
const LONG_PERSON = { name: 'Bartholomew Featherstonehaugh-Worthington', email: 'bartholomew.featherstonehaugh-worthington@subsidiary.acme.test' };

/**
 * Puts on the seeded console the rows whose cells are widest: an API/CLI token that has been
 * used (so "Last used" has an address), a File Forwarder token (and its service account), a
 * revoked token (with who revoked it and when), and a person with a long name and email. Safe to
 * run again: a worker restarted after a failure finds them in place.
 */
async function seedLongRows(browser: Browser) {
  const page = await browser.newPage();
  await signIn(page, ADMIN);
  const { dialog, secret } = await generateToken(page, 'API/CLI token', unique('layout-api-client'));
  await dialog.getByRole('button', { name: 'Done' }).click();

  const api = page.request;
  const headers = { Authorization: `Bearer ${secret}` };
  for (const [type, name] of [['api', TINES], ['forwarder', FORWARDER]]) {
    const res = await api.post('/api/v1/tokens', { headers, data: { type, name } });
    expect([201, 409], `generate ${name}`).toContain(res.status());
  }
  const revoked = await api.get(`/api/v1/tokens?q=${encodeURIComponent(REVOKED)}&status=revoked`, { headers });
  if ((await revoked.json()).total === 0) {
    const res = await api.post('/api/v1/tokens', { headers, data: { type: 'api', name: REVOKED } });
    expect(res.status()).toBe(201);
    const { token } = await res.json();
    expect((await api.delete(`/api/v1/tokens/${token.id}`, { headers })).status()).toBe(200);
  }
  // "Last used" is recorded off the request path; the tokens test waits for it to show.
  expect((await api.get('/api/v1/whoami', { headers })).status()).toBe(200);

  await goto(page, `/settings/users?q=${encodeURIComponent(LONG_PERSON.name)}`);
  if ((await page.getByRole('rowheader', { name: new RegExp(`^${LONG_PERSON.name}`) }).count()) === 0) {
    await page.getByRole('button', { name: 'Add user' }).click();
    const add = page.getByRole('dialog', { name: 'Add user' });
    await add.getByLabel('Name').fill(LONG_PERSON.name);
    await add.getByLabel('Email').fill(LONG_PERSON.email);
    await add.getByRole('button', { name: 'Add user' }).click();
    await add.getByRole('button', { name: 'Done' }).click();
  }
  await page.close();
}

test.beforeAll(async ({ browser }) => {
  await seedLongRows(browser);
});

/** Neither the document nor any table (nor the box around it) is wider than its view. */
async function expectNoSidewaysScroll(page: Page, what: string) {
  const overflow = await page.evaluate(() => {
    const wide: string[] = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > doc.clientWidth) wide.push(`document ${doc.scrollWidth} > ${doc.clientWidth}`);
    for (const table of document.querySelectorAll('table')) {
      for (const el of [table, table.parentElement!]) {
        if (el.scrollWidth > el.clientWidth) wide.push(`${el.tagName}.${el.className} ${el.scrollWidth} > ${el.clientWidth}`);
      }
      const panel = table.parentElement!.getBoundingClientRect();
      const box = table.getBoundingClientRect();
      if (box.right > panel.right + 0.5) wide.push(`table ends at ${box.right}, past its box at ${panel.right}`);
    }
    return wide;
  });
  expect(overflow, `${what} at ${page.viewportSize()!.width} px`).toEqual([]);
}

/** Every row's "Actions for …" button is wholly on screen and nothing covers it. */
async function expectActionsOnScreen(page: Page, what: string) {
  const buttons = page.getByRole('button', { name: /^Actions for / });
  expect(await buttons.count(), `${what}: rows with actions`).toBeGreaterThan(0);
  for (const button of await buttons.all()) {
    const off = await button.evaluate((el) => {
      // Scroll the page vertically only: sideways scrolling is what must not be needed.
      const before = el.getBoundingClientRect();
      window.scrollTo(0, window.scrollY + before.top - window.innerHeight / 2);
      const r = el.getBoundingClientRect();
      const width = document.documentElement.clientWidth;
      const onScreen = r.left >= 0 && r.right <= width && r.top >= 0 && r.bottom <= window.innerHeight;
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      const reachable = hit !== null && el.contains(hit);
      return onScreen && reachable ? null : `${el.getAttribute('aria-label')} at ${Math.round(r.left)}–${Math.round(r.right)} of ${width} px${reachable ? '' : ', covered or clipped'}`;
    });
    expect(off, what).toBeNull();
  }
}

/**
 * Where the text of a name cell wraps between two characters that are not a space or a
 * hyphen ("Featherstonehaugh|-Worthington"), and how many lines each of its texts takes.
 */
async function wordBreaks(cell: Locator) {
  return cell.evaluate((th) => {
    const breaks: string[] = [];
    const lines: Record<string, number> = {};
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent ?? '';
      let top: number | null = null;
      let count = 0;
      for (let i = 0; i < text.length; i++) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = [...range.getClientRects()].find((r) => r.width > 0);
        if (!rect) continue; // a space collapsed at the end of a line
        if (top === null || rect.top > top + rect.height / 2) {
          count++;
          if (top !== null && !/[\s-]/.test(text[i - 1])) breaks.push(`${text.slice(0, i)}|${text.slice(i)}`);
        }
        top = rect.top;
      }
      if (text.trim()) lines[text.trim()] = count;
    }
    return { breaks, lines };
  });
}

/** Checks every name cell on the page; returns each text's line count. */
async function expectNamesWhole(page: Page, what: string) {
  const lines: Record<string, number> = {};
  for (const cell of await page.getByRole('rowheader').all()) {
    const found = await wordBreaks(cell);
    expect(found.breaks, `${what}: a name broken inside a word`).toEqual([]);
    Object.assign(lines, found.lines);
  }
  return lines;
}

/** A table, not cards: the contract's column headers (product.md), every one on screen, and each
 *  row's cells side by side. */
async function expectColumns(page: Page, what: string, names: string[]) {
  const headers = page.getByRole('columnheader');
  await expect(headers, `${what}: the contract's columns`).toHaveText(names);
  for (const header of await headers.all()) {
    await expect(header, `${what}: column ${await header.textContent()}`).toBeInViewport({ ratio: 1 });
  }
  for (const row of (await page.getByRole('row').all()).slice(1)) {
    const tops = await row.evaluate((tr) => [...tr.children].map((cell) => Math.round(cell.getBoundingClientRect().top)));
    expect(new Set(tops).size, `${what}: a row's cells side by side`).toBe(1);
  }
}

for (const width of [1024, 1280]) {
  test.describe(`at ${width} px`, () => {
    test.use({ viewport: { width, height: 800 } });

    test('the tokens table fits: every column on screen, names whole', async ({ page }) => {
      await signIn(page, ADMIN);
      // Status "All" lists the revoked token too.
      await goto(page, '/settings/auth-tokens?status=all');
      await expect(async () => {
        await page.reload();
        await expect(page.getByRole('row').filter({ hasText: /just now|minutes? ago/ }).first()).toBeVisible({ timeout: 500 });
      }).toPass({ timeout: 10_000 });
      await expect(page.getByRole('row').filter({ hasText: REVOKED }).first()).toContainText('Revoked');

      await expectNoSidewaysScroll(page, 'tokens table');
      await expectColumns(page, 'tokens table', ['Name', 'Type', 'Token', 'Created by', 'Created', 'Last used', 'Status', 'Actions']);
      await expectActionsOnScreen(page, 'tokens table');
      const lines = await expectNamesWhole(page, 'tokens table');
      expect(lines[FORWARDER], `${FORWARDER} is listed`).toBeGreaterThan(0);
      // At 1280 px the seed's example name is read at a glance, on one line.
      if (width >= 1280) expect(lines[TINES], `${TINES} lines`).toBe(1);

      // The open menu stays within the page and does not scroll the table.
      await page.getByRole('button', { name: `Actions for ${TINES}` }).click();
      await expect(page.getByRole('menuitem', { name: 'Revoke' })).toBeVisible();
      await expect(page.getByRole('menuitem', { name: 'Revoke' })).toBeInViewport({ ratio: 1 });
      await expectNoSidewaysScroll(page, 'tokens table with the row menu open');
      await expect(page.getByRole('rowheader', { name: TINES, exact: true })).toBeInViewport();
    });

    test('the users table fits: every column on screen, names whole', async ({ page }) => {
      await signIn(page, ADMIN);
      await goto(page, '/settings/users');
      await expect(page.getByRole('rowheader', { name: new RegExp(`^${LONG_PERSON.name}`) })).toBeVisible();
      await expect(page.getByRole('rowheader', { name: new RegExp(`^Forwarder: ${FORWARDER}`) })).toBeVisible();

      await expectNoSidewaysScroll(page, 'users table');
      await expectColumns(page, 'users table', ['Name', 'Email', 'Type', 'Role', 'Two-factor', 'Status', 'Created', 'Actions']);
      await expectActionsOnScreen(page, 'users table');
      await expectNamesWhole(page, 'users table');
    });
  });
}

test.describe('at 390 px', () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test('no console page scrolls sideways, dialogs and menus included', async ({ page, browser }) => {
    await goto(page, '/login');
    await expectNoSidewaysScroll(page, 'sign-in');
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect(page.getByRole('alert')).toBeVisible();
    await expectNoSidewaysScroll(page, 'sign-in error');

    await signIn(page, ADMIN);
    await goto(page, '/settings/auth-tokens?status=all');
    await expect(page.getByRole('rowheader', { name: TINES, exact: true })).toBeVisible();
    await expectNoSidewaysScroll(page, 'tokens');
    await page.getByRole('button', { name: `Actions for ${TINES}` }).click();
    await expect(page.getByRole('menuitem', { name: 'Revoke' })).toBeInViewport({ ratio: 1 });
    await expectNoSidewaysScroll(page, 'tokens with the row menu open');
    await page.getByRole('menuitem', { name: 'Revoke' }).click();
    await expectDialogFits(page, page.getByRole('alertdialog', { name: 'Revoke token' }), 'revoke dialog');
    await page.getByRole('alertdialog', { name: 'Revoke token' }).getByRole('button', { name: 'Cancel' }).click();

    const { dialog } = await generateToken(page, 'File Forwarder token', unique('forwarder-dc-east-narrow'));
    await expectDialogFits(page, dialog, 'revealed token');
    await dialog.getByRole('button', { name: 'Done' }).click();

    await goto(page, '/settings/users');
    await expect(page.getByRole('rowheader', { name: new RegExp(`^${LONG_PERSON.name}`) })).toBeVisible();
    await expectNoSidewaysScroll(page, 'users');
    await page.getByRole('button', { name: 'Add user' }).click();
    await expectDialogFits(page, page.getByRole('dialog', { name: 'Add user' }), 'add user dialog');
    await page.keyboard.press('Escape');

    await goto(page, '/account');
    await expectNoSidewaysScroll(page, 'account');

    const other = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const member = await other.newPage();
    await signIn(member, MEMBER);
    await expect(member.getByRole('heading', { name: 'Admins only' })).toBeVisible();
    await expectNoSidewaysScroll(member, 'admins only');
    await other.close();
  });

  test('each tab of the Organization navigation is one line', async ({ page }) => {
    await signIn(page, ADMIN);
    const links = page.getByRole('navigation', { name: 'Organization' }).getByRole('link');
    await expect(links).toHaveCount(4);
    for (const link of await links.all()) {
      const { lines } = await wordBreaks(link);
      // "Auth tokens" once broke over two lines here.
      expect(Object.values(lines), `tab ${await link.textContent()}`).toEqual([1]);
    }
    await expectNoSidewaysScroll(page, 'tab navigation');
  });

  test('each row is a card whose "…" button is on screen', async ({ page }) => {
    await signIn(page, ADMIN);
    for (const [path, what] of [
      ['/settings/auth-tokens?status=all', 'tokens'],
      ['/settings/users', 'users'],
    ]) {
      await goto(page, path);
      await expect(page.getByRole('row').nth(1)).toBeVisible();
      await expectNoSidewaysScroll(page, what);
      await expectActionsOnScreen(page, what);
      await expectNamesWhole(page, what);
      // A card: the cells stack under the name instead of standing beside it.
      const first = page.getByRole('row').nth(1);
      const name = await first.getByRole('rowheader').boundingBox();
      const cell = await first.getByRole('cell').first().boundingBox();
      expect(cell!.y, `${what}: the first cell sits under the name`).toBeGreaterThanOrEqual(name!.y + name!.height - 1);
    }
  });
});

/** The dialog is wholly on screen and the page behind it does not scroll sideways. */
async function expectDialogFits(page: Page, dialog: Locator, what: string) {
  await expect(dialog).toBeVisible();
  await expect(dialog, what).toBeInViewport({ ratio: 1 });
  await expectNoSidewaysScroll(page, what);
}
