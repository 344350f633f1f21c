// Two-factor sign-in, on its own server (serve.sh two-factor, opened as localhost so that
// passkeys work): an authenticator app and its recovery codes, passkeys through Chromium's
// virtual authenticator, the organization's policy, and "Confirm access" once the
// re-authentication window (15 s on this server) has passed.
import { createHmac } from 'node:crypto';
import { Page } from '@playwright/test';
import { test, expect, expectAccessible, generateToken, goto, hydrated, unique, ADMIN } from './fixtures';

const TESS = { email: 'tess@acme.test', password: 'tess password 123' };
const PAT = { email: 'pat@acme.test', password: 'pat password 123' };
const BEA = { email: 'bea@bolt.test', password: 'bea password 123' };
const MO = { email: 'mo@bolt.test', password: 'mo password 123' };

/** RFC 4648 base 32, as authenticator apps read a setup key. */
function base32(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The code an authenticator app with this setup key shows `ahead` steps from now (RFC 6238). */
function code(setupKey: string, ahead = 0): string {
  const step = Math.floor(Date.now() / 1000 / 30) + ahead;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32(setupKey)).update(counter).digest();
  const offset = mac[19] & 15;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** Email and password; returns on the page that comes next. */
async function password(page: Page, who: { email: string; password: string }) {
  await goto(page, '/login');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
}

/** Sets up an authenticator app on /account; returns its setup key and recovery codes. */
async function setUpApp(page: Page, check?: (state: string) => Promise<void>) {
  await goto(page, '/account');
  await page.getByRole('button', { name: 'Set up authenticator app' }).click();
  const dialog = page.getByRole('dialog', { name: 'Set up authenticator app' });
  await expect(dialog.getByRole('img', { name: 'QR code' })).toBeVisible();
  const key = await dialog.getByLabel('Setup key').inputValue();
  expect(key).toMatch(/^[A-Z2-7]{32}$/);
  await check?.('authenticator app setup');
  await dialog.getByLabel('Code').fill('000000');
  await dialog.getByRole('button', { name: 'Verify' }).click();
  await expect(dialog.getByText(/That code is not right/)).toBeVisible();
  await dialog.getByLabel('Code').fill(code(key));
  await dialog.getByRole('button', { name: 'Verify' }).click();
  await expect(dialog.getByRole('heading', { name: 'Recovery codes' })).toBeVisible();
  await expect(dialog).toContainText('will not be shown again');
  await expect(dialog.getByRole('link', { name: 'Download' })).toHaveAttribute('download', /recovery-codes/);
  const codes = await dialog.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allInnerTexts();
  expect(codes).toHaveLength(10);
  await check?.('recovery codes');
  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByText('Authenticator app: On.')).toBeVisible();
  return { key, codes };
}

test('authenticator app: set up, sign in with a code, and with a recovery code that works once', async ({ page }) => {
  await password(page, TESS);
  await expect(page).toHaveURL(/\/settings/);
  await hydrated(page);
  const { key, codes } = await setUpApp(page, (state) => expectAccessible(page, state));
  await expectAccessible(page, 'account with two-factor on');
  await signOut(page);

  // The password alone is not enough: the second step, then the console.
  await password(page, TESS);
  await expect(page).toHaveURL(/\/login\/two-factor$/);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Two-factor authentication' })).toBeVisible();
  await expectAccessible(page, 'second factor');
  await page.getByLabel('Code').fill('123456');
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByText(/That code is not right/)).toBeVisible();
  await expectAccessible(page, 'second factor with an error');
  // The code that set the app up was used; the next one is accepted (one step either side).
  await page.getByLabel('Code').fill(code(key, 1));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page).toHaveURL(/\/settings/);
  await expect(page.getByRole('link', { name: TESS.email })).toBeVisible();
  await signOut(page);

  // A recovery code signs in once.
  await password(page, TESS);
  await expect(page).toHaveURL(/\/login\/two-factor$/);
  await hydrated(page);
  await page.getByRole('link', { name: 'Use a recovery code' }).click();
  await expect(page.getByLabel('Recovery code')).toBeVisible();
  await expectAccessible(page, 'recovery code');
  await page.getByLabel('Recovery code').fill(codes[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page).toHaveURL(/\/settings/);
  await hydrated(page);
  await goto(page, '/account');
  await expect(page.getByText('9 of 10 recovery codes left.')).toBeVisible();
  // New codes replace the old ones (the sign-in just now counts as a recent authentication).
  await page.getByRole('button', { name: 'Get new recovery codes' }).click();
  const renew = page.getByRole('dialog', { name: 'New recovery codes' });
  await renew.getByRole('button', { name: 'Get new recovery codes' }).click();
  const fresh = await renew.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allInnerTexts();
  expect(fresh).toHaveLength(10);
  expect(fresh).not.toContain(codes[1]);
  await renew.getByRole('button', { name: 'Done' }).click();
  await expect(page.getByText('10 of 10 recovery codes left.')).toBeVisible();
  await signOut(page);

  await password(page, TESS);
  await expect(page).toHaveURL(/\/login\/two-factor$/);
  await goto(page, '/login/two-factor?method=recovery');
  await page.getByLabel('Recovery code').fill(codes[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByText('That recovery code is not right, or it was used before.')).toBeVisible();
  await expect(page).toHaveURL(/\/login\/two-factor/);
});

test('passkey: add it, sign in with it, and use it as the second factor', async ({ page }) => {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await password(page, PAT);
  await expect(page).toHaveURL(/\/settings/);
  await goto(page, '/account');
  await page.getByRole('button', { name: 'Add passkey' }).click();
  await expect(page.getByRole('button', { name: 'Remove passkey Passkey 1' })).toBeVisible();
  await expect(page.getByText('never used')).toBeVisible();
  await expectAccessible(page, 'account with a passkey');

  // Renamed, it keeps working under its new name.
  await page.getByRole('button', { name: 'Rename passkey Passkey 1' }).click();
  const rename = page.getByRole('dialog', { name: 'Rename passkey' });
  await rename.getByLabel('Name').fill('Work laptop');
  await rename.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('button', { name: 'Remove passkey Work laptop' })).toBeVisible();
  await signOut(page);

  // No email, no password.
  await hydrated(page);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await expect(page).toHaveURL(/\/settings/);
  await expect(page.getByRole('link', { name: PAT.email })).toBeVisible();
  await signOut(page);

  // With the password, the passkey is the second factor.
  await password(page, PAT);
  await expect(page).toHaveURL(/\/login\/two-factor$/);
  await hydrated(page);
  await expect(page.getByLabel('Code')).toHaveCount(0);
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await expect(page).toHaveURL(/\/settings/);
  await goto(page, '/account');
  await expect(page.getByText(/last used \d{4}-\d\d-\d\d/)).toBeVisible();

  // Removing the only factor turns two-factor off.
  await page.getByRole('button', { name: 'Remove passkey Work laptop' }).click();
  const remove = page.getByRole('alertdialog', { name: 'Remove passkey' });
  await remove.getByRole('button', { name: 'Remove passkey' }).click();
  await expect(page.getByRole('button', { name: 'Remove passkey Work laptop' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Turn off two-factor authentication' })).toHaveCount(0);
});

test('policy: a member without a second factor is sent to set one up first', async ({ page }) => {
  await password(page, BEA);
  await expect(page).toHaveURL(/\/settings/);
  const { key } = await setUpApp(page);
  await goto(page, '/settings/security');
  const require = page.getByRole('checkbox', { name: 'Require two-factor authentication' });
  await expect(require).not.toBeChecked();
  await expectAccessible(page, 'security tab');
  await require.check();
  await expect(page.getByText('Two-factor authentication is required for everyone.')).toBeVisible();
  await expect(require).toBeChecked();
  await signOut(page);

  await password(page, MO);
  await expect(page).toHaveURL(/\/account$/);
  await hydrated(page);
  await expect(page.getByRole('alert').filter({ hasText: 'Bolt Inc requires two-factor authentication' })).toBeVisible();
  await expectAccessible(page, 'two-factor required');
  await goto(page, '/settings');
  await expect(page).toHaveURL(/\/account$/);
  await setUpApp(page);
  // Set up, the console opens at once, without a reload.
  await expect(page.getByRole('alert').filter({ hasText: 'requires two-factor' })).toHaveCount(0);
  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(page).toHaveURL(/\/settings$/);
  await expect(page.getByRole('heading', { name: 'Admins only' })).toBeVisible();
  await signOut(page);

  // The admin sees who has it.
  await password(page, BEA);
  await page.getByLabel('Code').fill(code(key, 1));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page).toHaveURL(/\/settings/);
  await goto(page, '/settings/users');
  const mo = page.getByRole('row').filter({ hasText: MO.email });
  await expect(page.getByRole('columnheader', { name: 'Two-factor' })).toBeVisible();
  await expect(mo.getByRole('cell', { name: 'On', exact: true })).toBeVisible();
  const bea = page.getByRole('row').filter({ hasText: BEA.email });
  await expect(bea.getByRole('cell', { name: 'On', exact: true })).toBeVisible();

  // Mo lost his phone and his recovery codes: the admin resets his second factor.
  await page.getByRole('button', { name: 'Actions for Mo Member' }).click();
  await page.getByRole('menuitem', { name: 'Reset two-factor' }).click();
  const reset = page.getByRole('alertdialog', { name: 'Reset two-factor authentication' });
  await expectAccessible(page, 'reset two-factor dialog');
  await reset.getByRole('button', { name: 'Reset two-factor' }).click();
  await expect(reset).toBeHidden();
  await expect(mo.getByRole('cell', { name: 'Off', exact: true })).toBeVisible();
});

test('"Confirm access" comes before generating a token once the sign-in is older than the window', async ({ page }) => {
  test.setTimeout(60_000);
  await password(page, ADMIN);
  await expect(page).toHaveURL(/\/settings/);
  await goto(page, '/settings/auth-tokens');
  // Right after signing in, no question.
  const first = await generateToken(page, 'API/CLI token', unique('fresh'));
  await first.dialog.getByRole('button', { name: 'Done' }).click();
  // The server allows sensitive actions for 15 s after an authentication here.
  await page.waitForTimeout(16_000);
  const name = unique('later');
  await page.getByRole('button', { name: 'Generate Token' }).click();
  const dialog = page.getByRole('dialog', { name: 'Generate Token' });
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByRole('button', { name: 'Generate' }).click();
  const confirm = page.getByRole('dialog', { name: 'Confirm access' });
  await expect(confirm).toBeVisible();
  await expect(confirm.getByLabel('Password')).toBeFocused();
  await expectAccessible(page, 'confirm access');
  await confirm.getByLabel('Password').fill('not my password');
  await confirm.getByRole('button', { name: 'Confirm' }).click();
  await expect(confirm.getByText('That is not your current password.')).toBeVisible();
  await confirm.getByLabel('Password').fill(ADMIN.password);
  await confirm.getByRole('button', { name: 'Confirm' }).click();
  // The generation continues with what was typed: the secret, once.
  await expect(confirm).toBeHidden();
  await expect(dialog.getByRole('textbox', { name: 'Token value' })).toHaveValue(/^twa_/);
  await dialog.getByRole('button', { name: 'Done' }).click();
  await page.getByLabel('Filter tokens').fill(name);
  await expect(page.getByText('Showing 1–1 of 1')).toBeVisible();
});
