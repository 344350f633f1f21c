import { test, expect, filterToOne, generateToken, goto, signIn, unique, ADMIN, MEMBER, TOKEN_RE } from './fixtures';
import type { Page } from '@playwright/test';

/** The seed's steps 1–3: sign in, Settings icon in the left menu, Auth tokens tab. */
async function openAuthTokens(page: Page) {
  await signIn(page, ADMIN);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('navigation', { name: 'Organization' }).getByRole('link', { name: 'Auth tokens' }).click();
  await expect(page).toHaveURL(/\/settings\/auth-tokens/);
  await expect(page.getByRole('heading', { name: 'Auth tokens' })).toBeVisible();
}

function row(page: Page, name: string) {
  return page.getByRole('row').filter({ has: page.getByRole('rowheader', { name, exact: true }) });
}

test('generate an API/CLI token: copy it once, then it is gone for good', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await openAuthTokens(page);
  const name = unique('Tines-integration-prod');
  const { dialog, secret } = await generateToken(page, 'API/CLI token', name);
  expect(secret.startsWith('twa_')).toBe(true);

  await dialog.getByRole('button', { name: 'Copy' }).click();
  await expect(dialog.getByRole('button', { name: 'Copied' })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  await expect(dialog.getByRole('button', { name: 'Copy' })).toBeVisible({ timeout: 4_000 });

  // It is in the table at once, shown only by its hint.
  const r = row(page, name);
  await expect(r).toContainText('API/CLI token');
  await expect(r).toContainText(`twa_…${secret.slice(-4)}`);
  await expect(r).toContainText('Ada Admin');
  await expect(r).toContainText('Never');
  await expect(r).toContainText('Active');

  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(dialog).toBeHidden();
  expect(await page.content()).not.toContain(secret);
  await page.reload();
  await expect(row(page, name)).toBeVisible();
  expect(await page.content()).not.toContain(secret);
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  expect(stored).not.toContain(secret);
});

test('generate a File Forwarder token; its service account appears under Users', async ({ page }) => {
  await openAuthTokens(page);
  const name = unique('forwarder-dc-east');
  const { dialog, secret } = await generateToken(page, 'File Forwarder token', name);
  expect(secret.startsWith('twf_')).toBe(true);
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  expect(await page.content()).not.toContain(secret);
  await expect(row(page, name)).toContainText('File Forwarder token');

  await page.getByRole('navigation', { name: 'Organization' }).getByRole('link', { name: 'Users' }).click();
  await page.getByLabel('Filter users').fill(name);
  const account = page.getByRole('row').filter({ hasText: `Forwarder: ${name}` });
  await expect(account).toContainText('Forwarder Service Account');
  await expect(account).toContainText('Active');
});

test('a duplicate active name is refused inline', async ({ page }) => {
  await openAuthTokens(page);
  const name = unique('duplicate');
  const { dialog } = await generateToken(page, 'API/CLI token', name);
  await dialog.getByRole('button', { name: 'Done' }).click();
  await page.getByRole('button', { name: 'Generate Token' }).click();
  const again = page.getByRole('dialog', { name: 'Generate Token' });
  await again.getByLabel('Name').fill(name.toUpperCase());
  await again.getByRole('button', { name: 'Generate' }).click();
  await expect(again.getByText('An active token is already named')).toBeVisible();
  await expect(again.getByLabel('Name')).toHaveAttribute('aria-invalid', 'true');
  await again.getByRole('button', { name: 'Cancel' }).click();
  await expect(again).toBeHidden();
});

test('filter by name, type and status; the URL keeps the view across a reload', async ({ page }) => {
  await openAuthTokens(page);
  const tag = unique('flt');
  for (const [type, name] of [
    ['API/CLI token', `${tag}-api`],
    ['File Forwarder token', `${tag}-fwd`],
    ['API/CLI token', `${tag}-old`],
  ] as const) {
    const { dialog } = await generateToken(page, type, name);
    await dialog.getByRole('button', { name: 'Done' }).click();
  }
  await page.getByLabel('Filter tokens').fill(tag);
  await expect(page).toHaveURL(new RegExp(`q=${tag}`));
  await expect(page.getByText('Showing 1–3 of 3')).toBeVisible();

  await page.getByLabel('Type').selectOption({ label: 'File Forwarder token' });
  await expect(page).toHaveURL(/type=forwarder/);
  await expect(page.getByText('Showing 1–1 of 1')).toBeVisible();
  await expect(row(page, `${tag}-fwd`)).toBeVisible();

  await page.reload();
  await expect(page.getByLabel('Filter tokens')).toHaveValue(tag);
  await expect(page.getByLabel('Type')).toHaveValue('forwarder');
  await expect(page.getByText('Showing 1–1 of 1')).toBeVisible();

  await page.getByLabel('Type').selectOption({ label: 'All types' });
  await row(page, `${tag}-old`).getByRole('button', { name: `Actions for ${tag}-old` }).click();
  await page.getByRole('menuitem', { name: 'Revoke' }).click();
  await page.getByRole('alertdialog', { name: 'Revoke token' }).getByRole('button', { name: 'Revoke token' }).click();
  await expect(page.getByText('Showing 1–2 of 2')).toBeVisible();

  await page.getByLabel('Status').selectOption({ label: 'Revoked' });
  await expect(page).toHaveURL(/status=revoked/);
  await expect(page.getByText('Showing 1–1 of 1')).toBeVisible();
  await expect(row(page, `${tag}-old`)).toContainText('Revoked');
  await page.goBack();
  await expect(page.getByLabel('Status')).toHaveValue('active');
  await expect(page.getByText('Showing 1–2 of 2')).toBeVisible();

  await page.getByLabel('Filter tokens').fill(`${tag}-nothing-matches`);
  await expect(page.getByText('No tokens match these filters')).toBeVisible();
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await expect(page.getByLabel('Filter tokens')).toHaveValue('');
});

test('revoke: Cancel changes nothing, confirm revokes; the forwarder note links to Users', async ({ page }) => {
  await openAuthTokens(page);
  const name = unique('forwarder-dc-west');
  const { dialog } = await generateToken(page, 'File Forwarder token', name);
  await dialog.getByRole('button', { name: 'Done' }).click();

  // Seed step 4: locate the token by using the filter.
  await filterToOne(page, 'Filter tokens', name);
  await row(page, name).getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Revoke' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Revoke token' });
  await expect(confirm).toContainText(name);
  await expect(confirm).toContainText('permanent and cannot be undone');
  await expect(confirm).toContainText('stop working immediately');
  await expect(confirm).toContainText(`Forwarder: ${name}`);
  await expect(confirm).toContainText('stays enabled');
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(confirm).toBeHidden();
  await expect(row(page, name)).toContainText('Active');

  await row(page, name).getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Revoke' }).click();
  await confirm.getByRole('button', { name: 'Revoke token' }).click();
  await expect(confirm).toBeHidden();
  await page.getByLabel('Status').selectOption({ label: 'All' });
  await expect(row(page, name)).toContainText('Revoked');
  await expect(row(page, name)).toContainText('by Ada Admin');
  await expect(row(page, name).getByRole('button', { name: `Actions for ${name}` })).toHaveCount(0);

  // The service account's link from a second forwarder token's revoke dialog.
  const other = unique('forwarder-dc-north');
  const second = await generateToken(page, 'File Forwarder token', other);
  await second.dialog.getByRole('button', { name: 'Done' }).click();
  await filterToOne(page, 'Filter tokens', other);
  await row(page, other).getByRole('button', { name: `Actions for ${other}` }).click();
  await page.getByRole('menuitem', { name: 'Revoke' }).click();
  await confirm.getByRole('link', { name: 'Users' }).click();
  await expect(page).toHaveURL(/\/settings\/users\?q=Forwarder/);
  await expect(page.getByRole('row').filter({ hasText: `Forwarder: ${other}` })).toContainText('Active');
});

test('a token name is shown as text, never as markup', async ({ page }) => {
  await openAuthTokens(page);
  const name = `<img src=x onerror=alert(1)> ${Date.now()}`;
  let alerted = false;
  page.on('dialog', async (d) => {
    alerted = true;
    await d.dismiss();
  });
  const { dialog } = await generateToken(page, 'API/CLI token', name);
  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(row(page, name)).toBeVisible();
  await page.reload();
  await expect(row(page, name)).toBeVisible();
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(alerted).toBe(false);
});

test('keyboard only: generate and revoke', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await openAuthTokens(page);
  const name = unique('keyboard');
  const open = page.getByRole('button', { name: 'Generate Token' });
  await open.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Generate Token' });
  // Focus moved into the dialog, onto the name field.
  await expect(dialog.getByLabel('Name')).toBeFocused();
  await page.keyboard.type(name);
  await page.keyboard.press('Enter');
  await expect(dialog.getByRole('textbox', { name: 'Token value' })).toHaveValue(TOKEN_RE);
  await expect(dialog.getByRole('button', { name: 'Copy' })).toBeFocused();
  // Focus is trapped: Tab cycles inside the dialog.
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  }
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(open).toBeFocused();

  await filterToOne(page, 'Filter tokens', name);
  const actions = row(page, name).getByRole('button', { name: `Actions for ${name}` });
  await actions.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('menuitem', { name: 'Regenerate' })).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(page.getByRole('menu')).toBeHidden();
  await expect(actions).toBeFocused();
  await page.keyboard.press('Space');
  await expect(page.getByRole('menuitem', { name: 'Regenerate' })).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(page.getByRole('menuitem', { name: 'Revoke' })).toBeFocused();
  await page.keyboard.press('Enter');
  const confirm = page.getByRole('alertdialog', { name: 'Revoke token' });
  await expect(confirm.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(confirm.getByRole('button', { name: 'Revoke token' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(confirm).toBeHidden();
  await expect(page.getByText('No tokens match these filters')).toBeVisible();
});

test('members see the admins-only page and no data', async ({ page }) => {
  await signIn(page, MEMBER);
  await expect(page.getByRole('heading', { name: 'Admins only' })).toBeVisible();
  await expect(page.getByText('Only admins can manage organization settings.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Generate Token' })).toHaveCount(0);
  await goto(page, '/settings/users');
  await expect(page.getByText('Only admins can manage organization settings.')).toBeVisible();
  await expect(page.getByRole('table')).toHaveCount(0);
});
