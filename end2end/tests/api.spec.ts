import { test, expect, generateToken, signIn, unique, ADMIN } from './fixtures';

test('a token generated in the console works against the API until it is revoked', async ({ page, request }) => {
  await signIn(page, ADMIN);
  const name = unique('whoami-script');
  const { dialog, secret } = await generateToken(page, 'API/CLI token', name);
  await dialog.getByRole('button', { name: 'Done' }).click();

  const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name, exact: true }) });
  await expect(row).toContainText('Never');

  const headers = { Authorization: `Bearer ${secret}` };
  const me = await request.get('/api/v1/whoami', { headers });
  expect(me.status()).toBe(200);
  const body = await me.json();
  expect(body.token.name).toBe(name);
  expect(body.principal.role).toBe('admin');

  // "Last used" changes from Never to a relative time, with the exact time and address on focus.
  await expect(async () => {
    await page.reload();
    await expect(row).toContainText('just now', { timeout: 500 });
  }).toPass({ timeout: 10_000 });
  await expect(row.getByText('just now')).toHaveAttribute('title', /UTC from 127\.0\.0\.1/);

  await row.getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: 'Revoke' }).click();
  await page.getByRole('alertdialog', { name: 'Revoke token' }).getByRole('button', { name: 'Revoke token' }).click();
  await expect(page.getByRole('alertdialog')).toBeHidden();

  const after = await request.get('/api/v1/whoami', { headers });
  expect(after.status()).toBe(401);
  expect((await after.json()).error.code).toBe('invalid_token');
});
