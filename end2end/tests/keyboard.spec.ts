// The seed's two flows by keyboard alone: no clicks once signed in.
import type { Page } from '@playwright/test';
import { test, expect, signIn, unique, ADMIN, TOKEN_RE } from './fixtures';

/** Presses Tab until the element named `name` with `role` has focus (at most `max` times). */
async function tabTo(page: Page, role: 'button' | 'textbox' | 'searchbox' | 'combobox', name: string | RegExp, max = 40) {
  const target = page.getByRole(role, { name });
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement, undefined, { timeout: 1_000 }).catch(() => false)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`${role} ${name} never took focus after ${max} Tabs`);
}

test('generate a token, copy it and close, by keyboard alone', async ({ page }) => {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await signIn(page, ADMIN);
  const name = unique('keyboard-token');
  await tabTo(page, 'button', 'Generate Token');
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Generate Token' });
  await expect(dialog).toBeVisible();
  // Focus moved into the dialog.
  expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  await tabTo(page, 'combobox', 'Token type');
  await page.keyboard.press('ArrowDown');
  await expect(dialog.getByLabel('Token type')).toHaveValue('forwarder');
  await tabTo(page, 'textbox', 'Name');
  await page.keyboard.type(name);
  await page.keyboard.press('Enter');
  const value = dialog.getByRole('textbox', { name: 'Token value' });
  await expect(value).toHaveValue(TOKEN_RE);
  // Still modal after the list behind it reloaded (a page that re-inserts the open <dialog>
  // leaves it open but no longer modal: Escape and the inert background are gone).
  expect(await dialog.evaluate((d) => d.matches(':modal'))).toBe(true);
  // The secret replaced the form: focus is on Copy.
  await expect(dialog.getByRole('button', { name: 'Copy' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(dialog.getByRole('button', { name: 'Copied' })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await value.inputValue());
  await tabTo(page, 'button', 'Done');
  await page.keyboard.press('Enter');
  await expect(dialog).toBeHidden();
  // Focus is back on the control that opened the dialog.
  await expect(page.getByRole('button', { name: 'Generate Token' })).toBeFocused();
  await expect(page.getByRole('row').filter({ hasText: name })).toContainText('File Forwarder token');
});

test('revoke a token by keyboard alone: arrows in the menu, Escape, then confirm', async ({ page }) => {
  await signIn(page, ADMIN);
  const name = unique('keyboard-revoke');
  await tabTo(page, 'button', 'Generate Token');
  await page.keyboard.press('Enter');
  await tabTo(page, 'textbox', 'Name');
  await page.keyboard.type(name);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('textbox', { name: 'Token value' })).toHaveValue(TOKEN_RE);
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog', { name: 'Generate Token' })).toBeHidden();

  await tabTo(page, 'searchbox', 'Filter tokens');
  await page.keyboard.type(name);
  await expect(page.getByText('Showing 1–1 of 1')).toBeVisible();
  const actions = page.getByRole('button', { name: `Actions for ${name}` });
  await tabTo(page, 'button', `Actions for ${name}`);
  await page.keyboard.press('Enter');
  // Two items: Regenerate, then Revoke. Opening focuses the first.
  const regenerate = page.getByRole('menuitem', { name: 'Regenerate' });
  const revoke = page.getByRole('menuitem', { name: 'Revoke' });
  await expect(regenerate).toBeFocused();
  await page.keyboard.press('End');
  await expect(revoke).toBeFocused();
  await page.keyboard.press('Home');
  await expect(regenerate).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(revoke).toBeHidden();
  await expect(actions).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(regenerate).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(revoke).toBeFocused();
  await page.keyboard.press('Enter');
  const confirm = page.getByRole('alertdialog', { name: 'Revoke token' });
  await expect(confirm).toBeVisible();
  expect(await confirm.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  await tabTo(page, 'button', 'Revoke token');
  await page.keyboard.press('Enter');
  await expect(confirm).toBeHidden();
  await expect(page.getByText(`No tokens match these filters`)).toBeVisible();
});
