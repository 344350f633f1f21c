import { test, expect, filterToOne, generateToken, goto, hydrated, signIn, unique, ADMIN } from './fixtures';
import type { Locator, Page } from '@playwright/test';

/** A dialog shows its call's error once, as the element just before its Cancel/confirm row. */
async function expectErrorAboveButtons(dialog: Locator) {
  await expect(dialog.getByRole('alert')).toHaveCount(1);
  const next = await dialog.getByRole('alert').evaluate((el) => el.nextElementSibling?.className ?? '');
  expect(next).toContain('modal-actions');
}

function userRow(page: Page, name: string) {
  return page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: new RegExp(`^${name}`) }) });
}

async function openUsers(page: Page) {
  await signIn(page, ADMIN);
  await page.getByRole('navigation', { name: 'Organization' }).getByRole('link', { name: 'Users' }).click();
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
}

test('add a member who signs in with the initial password, sets their own, and sees admins only', async ({ page, browser }) => {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await openUsers(page);
  const name = unique('Mia Member');
  const email = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '.')}@acme.test`;
  await page.getByRole('button', { name: 'Add user' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add user' });
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByLabel('Email').fill(email);
  await dialog.getByLabel('Role').selectOption({ label: 'Member' });
  await dialog.getByRole('button', { name: 'Add user' }).click();
  const value = dialog.getByRole('textbox', { name: 'Initial password' });
  await expect(value).toHaveValue(/^[0-9A-Za-z]{24}$/);
  await dialog.getByRole('button', { name: 'Copy' }).click();
  await expect(dialog.getByRole('button', { name: 'Copied' })).toBeVisible();
  const initial = await page.evaluate(() => navigator.clipboard.readText());
  expect(initial).toBe(await value.inputValue());
  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(userRow(page, name)).toContainText('Member');
  expect(await page.content()).not.toContain(initial);

  const other = await browser.newContext();
  const mia = await other.newPage();
  await goto(mia, '/login');
  await mia.getByLabel('Email').fill(email);
  await mia.getByLabel('Password').fill(initial);
  await mia.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(mia.getByRole('heading', { name: 'Set a new password' })).toBeVisible();
  await hydrated(mia);
  await mia.getByLabel('Temporary password').fill(initial);
  await mia.getByLabel('New password', { exact: true }).fill('mia has her own passphrase');
  await mia.getByLabel('Confirm new password').fill('mia has her own passphrase');
  await mia.getByRole('button', { name: 'Save password' }).click();
  await expect(mia.getByRole('heading', { name: 'Admins only' })).toBeVisible();
  await expect(mia.getByText('Only admins can manage organization settings.')).toBeVisible();
  await other.close();
});

test('demote and promote, disable and enable, with confirmations; guards explain themselves', async ({ page }) => {
  await openUsers(page);
  const name = unique('Rita Role');
  await page.getByRole('button', { name: 'Add user' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add user' });
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByLabel('Email').fill(`${name.toLowerCase().replace(/[^a-z0-9]+/g, '.')}@acme.test`);
  await dialog.getByLabel('Role').selectOption({ label: 'Admin' });
  await dialog.getByRole('button', { name: 'Add user' }).click();
  await dialog.getByRole('button', { name: 'Done' }).click();
  await filterToOne(page, 'Filter users', name);
  const row = userRow(page, name);
  await expect(row).toContainText('Admin');

  await row.getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Change role' }).click();
  const roleDialog = page.getByRole('dialog', { name: 'Change role' });
  await expect(roleDialog).toContainText('API/CLI token');
  await roleDialog.getByLabel('Role').selectOption({ label: 'Read-only' });
  await roleDialog.getByRole('button', { name: 'Change role' }).click();
  await expect(row).toContainText('Read-only');
  await row.getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Change role' }).click();
  await roleDialog.getByLabel('Role').selectOption({ label: 'Admin' });
  await roleDialog.getByRole('button', { name: 'Change role' }).click();
  await expect(row).toContainText('Admin');

  await row.getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Disable' }).click();
  const disable = page.getByRole('alertdialog', { name: 'Disable user' });
  await expect(disable).toContainText('stops every API/CLI token they generated');
  await disable.getByRole('button', { name: 'Cancel' }).click();
  await expect(row).toContainText('Active');
  await row.getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Disable' }).click();
  await disable.getByRole('button', { name: 'Disable' }).click();
  await expect(row).toContainText('Disabled');
  await row.getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Enable' }).click();
  const enable = page.getByRole('alertdialog', { name: 'Enable user' });
  await expect(enable).toContainText('not revoked');
  await enable.getByRole('button', { name: 'Enable' }).click();
  await expect(row).toContainText('Active');

  // Guards: the signed-in admin cannot demote or disable themselves.
  await filterToOne(page, 'Filter users', 'Ada Admin');
  const me = userRow(page, 'Ada Admin');
  await me.getByRole('button', { name: 'Actions for Ada Admin' }).click();
  await page.getByRole('menuitem', { name: 'Change role' }).click();
  await roleDialog.getByLabel('Role').selectOption({ label: 'Member' });
  await roleDialog.getByRole('button', { name: 'Change role' }).click();
  await expect(roleDialog.getByRole('alert')).toContainText('You cannot change your own role');
  // The call's error is said once, right above the dialog's buttons.
  await expectErrorAboveButtons(roleDialog);
  await roleDialog.getByRole('button', { name: 'Cancel' }).click();
  await me.getByRole('button', { name: 'Actions for Ada Admin' }).click();
  await page.getByRole('menuitem', { name: 'Disable' }).click();
  await page.getByRole('alertdialog', { name: 'Disable user' }).getByRole('button', { name: 'Disable' }).click();
  await expect(page.getByRole('alertdialog').getByRole('alert')).toContainText('You cannot disable yourself');
  await expectErrorAboveButtons(page.getByRole('alertdialog'));
  await page.keyboard.press('Escape');
  await expect(me).toContainText('Active');
});

test('revoke a File Forwarder token, then follow "Users" and disable its service account', async ({ page }) => {
  await signIn(page, ADMIN);
  const name = unique('forwarder-cleanup');
  const { dialog: gen } = await generateToken(page, 'File Forwarder token', name);
  await gen.getByRole('button', { name: 'Done' }).click();
  await filterToOne(page, 'Filter tokens', name);
  await page.getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Revoke' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Revoke token' });
  await confirm.getByRole('button', { name: 'Revoke token' }).click();
  await expect(confirm).toBeHidden();

  // The account outlives its revoked token, and its row says so.
  await page.goto(`/settings/users?q=${encodeURIComponent(`Forwarder: ${name}`)}`);
  await hydrated(page);
  const account = userRow(page, `Forwarder: ${name}`);
  await expect(account).toContainText('Forwarder Service Account');
  await expect(account).toContainText('(Revoked)');
  await account.getByRole('button', { name: `Actions for Forwarder: ${name}` }).click();
  await expect(page.getByRole('menuitem', { name: 'Change role' })).toHaveCount(0);
  await page.getByRole('menuitem', { name: 'Disable' }).click();
  const disable = page.getByRole('alertdialog', { name: 'Disable service account' });
  await expect(disable).toContainText('stops its File Forwarder token');
  await disable.getByRole('button', { name: 'Disable' }).click();
  await expect(account).toContainText('Disabled');
});

test('the revoke dialog of a File Forwarder token leads to its service account in two clicks', async ({ page }) => {
  await signIn(page, ADMIN);
  const name = unique('forwarder-two-clicks');
  const { dialog: gen } = await generateToken(page, 'File Forwarder token', name);
  await gen.getByRole('button', { name: 'Done' }).click();
  await filterToOne(page, 'Filter tokens', name);
  await page.getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Revoke' }).click();
  await page.getByRole('alertdialog', { name: 'Revoke token' }).getByRole('link', { name: 'Users' }).click();
  const account = userRow(page, `Forwarder: ${name}`);
  await account.getByRole('button', { name: `Actions for Forwarder: ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Disable' }).click();
  await page.getByRole('alertdialog', { name: 'Disable service account' }).getByRole('button', { name: 'Disable' }).click();
  await expect(account).toContainText('Disabled');
});

test('reset a password: a new initial password shown once; a guessable new password is refused with the reason', async ({ page, browser }) => {
  await openUsers(page);
  const name = unique('Rex Reset');
  const email = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '.')}@acme.test`;
  await page.getByRole('button', { name: 'Add user' }).click();
  const add = page.getByRole('dialog', { name: 'Add user' });
  await add.getByLabel('Name').fill(name);
  await add.getByLabel('Email').fill(email);
  await add.getByRole('button', { name: 'Add user' }).click();
  const first = await add.getByRole('textbox', { name: 'Initial password' }).inputValue();
  await add.getByRole('button', { name: 'Done' }).click();

  await filterToOne(page, 'Filter users', name);
  await userRow(page, name).getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Reset password' }).click();
  const dialog = page.getByRole('alertdialog', { name: 'Reset password' });
  await expect(dialog).toContainText('signed out everywhere');
  await dialog.getByRole('button', { name: 'Reset password' }).click();
  const value = dialog.getByRole('textbox', { name: 'Initial password' });
  await expect(value).toHaveValue(/^[0-9A-Za-z]{24}$/);
  const fresh = await value.inputValue();
  expect(fresh).not.toBe(first);
  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(dialog).toBeHidden();

  const other = await browser.newContext();
  const rex = await other.newPage();
  await goto(rex, '/login');
  await rex.getByLabel('Email').fill(email);
  await rex.getByLabel('Password').fill(first);
  await rex.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(rex.getByRole('alert')).toHaveText('Incorrect email or password.');
  await rex.getByLabel('Password').fill(fresh);
  await rex.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(rex.getByRole('heading', { name: 'Set a new password' })).toBeVisible();
  await hydrated(rex);
  await rex.getByLabel('Temporary password').fill(fresh);
  await rex.getByLabel('New password', { exact: true }).fill('password1234');
  await rex.getByLabel('Confirm new password').fill('password1234');
  await rex.getByRole('button', { name: 'Save password' }).click();
  await expect(rex.getByText(/This password is too easy to guess/)).toBeVisible();
  await other.close();
});
