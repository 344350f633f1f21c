// Zero axe-core violations (WCAG 2.2 AA) on every state a person reaches in the console, light
// and dark, 1280 and 390 px wide. The setup page is checked in first-run.spec.ts.
import { test, expect, expectAccessible, generateToken, goto, signIn, unique, ADMIN, MEMBER } from './fixtures';

for (const width of [1280, 390]) {
  test.describe(`at ${width} px`, () => {
    test.use({ viewport: { width, height: width > 800 ? 800 : 844 } });

    test('sign-in page, and its error', async ({ page }) => {
      await goto(page, '/login');
      await expectAccessible(page, 'sign-in');
      await page.getByLabel('Email').fill(ADMIN.email);
      await page.getByLabel('Password').fill('not the password at all');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await expect(page.getByRole('alert')).toHaveText('Incorrect email or password.');
      await expectAccessible(page, 'sign-in error');
    });

    test('auth tokens tab: list, generate form and its error, revealed secret, row menu, revoke dialog, empty list', async ({ page }) => {
      // Eighteen axe passes (nine states, light and dark): slow on a busy machine, so three
      // times the usual timeout.
      test.slow();
      await signIn(page, ADMIN);
      await expect(page.getByRole('heading', { name: 'Auth tokens' })).toBeVisible();
      await expectAccessible(page, 'auth tokens list');

      await page.getByRole('button', { name: 'Generate Token' }).click();
      const form = page.getByRole('dialog', { name: 'Generate Token' });
      await expectAccessible(page, 'generate form');
      await form.getByRole('button', { name: 'Generate' }).click();
      await expect(form.getByText(/Enter a name/)).toBeVisible();
      await expectAccessible(page, 'generate form with an error');
      await form.getByRole('button', { name: 'Cancel' }).click();

      const name = unique('a11y-token');
      const { dialog } = await generateToken(page, 'API/CLI token', name);
      await expectAccessible(page, 'revealed token');
      await dialog.getByRole('button', { name: 'Done' }).click();

      await page.getByLabel('Filter tokens').fill(name);
      await expect(page.getByText('Showing 1–1 of 1')).toBeVisible();
      await page.getByRole('button', { name: `Actions for ${name}` }).click();
      await expect(page.getByRole('menuitem', { name: 'Revoke' })).toBeVisible();
      await expectAccessible(page, 'row menu open');
      // The menu closes when focus leaves it, which the checks above may cause.
      if (!(await page.getByRole('menuitem', { name: 'Revoke' }).isVisible())) {
        await page.getByRole('button', { name: `Actions for ${name}` }).click();
      }
      await page.getByRole('menuitem', { name: 'Revoke' }).click();
      await expect(page.getByRole('alertdialog', { name: 'Revoke token' })).toBeVisible();
      await expectAccessible(page, 'revoke dialog');
      await page.getByRole('alertdialog', { name: 'Revoke token' }).getByRole('button', { name: 'Cancel' }).click();

      await page.getByRole('button', { name: `Actions for ${name}` }).click();
      await page.getByRole('menuitem', { name: 'Regenerate' }).click();
      const regenerate = page.getByRole('alertdialog', { name: 'Regenerate token' });
      await expect(regenerate).toBeVisible();
      await expectAccessible(page, 'regenerate dialog');
      await regenerate.getByRole('button', { name: 'Regenerate token' }).click();
      await expect(regenerate.getByRole('textbox', { name: 'Token value' })).toBeVisible();
      await expectAccessible(page, 'regenerated token');
      await regenerate.getByRole('button', { name: 'Done' }).click();

      await page.getByLabel('Filter tokens').fill('no token has this name');
      await expect(page.getByRole('heading', { name: /No tokens/ })).toBeVisible();
      await expectAccessible(page, 'empty token list');
    });

    test('users tab: list, add user, revealed password, row menu, role dialog', async ({ page }) => {
      test.slow(); // ten axe passes (five states, light and dark)
      await signIn(page, ADMIN);
      await page.getByRole('navigation', { name: 'Organization' }).getByRole('link', { name: 'Users' }).click();
      await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
      await expectAccessible(page, 'users list');

      await page.getByRole('button', { name: 'Add user' }).click();
      const dialog = page.getByRole('dialog', { name: 'Add user' });
      await expectAccessible(page, 'add user form');
      const name = unique('Alex Access');
      await dialog.getByLabel('Name').fill(name);
      await dialog.getByLabel('Email').fill(`${name.toLowerCase().replace(/[^a-z0-9]+/g, '.')}@acme.test`);
      await dialog.getByRole('button', { name: 'Add user' }).click();
      await expect(dialog.getByRole('textbox', { name: 'Initial password' })).toBeVisible();
      await expectAccessible(page, 'revealed initial password');
      await dialog.getByRole('button', { name: 'Done' }).click();

      await page.getByLabel('Filter users').fill(name);
      await expect(page.getByText('Showing 1–1 of 1')).toBeVisible();
      await page.getByRole('button', { name: `Actions for ${name}` }).click();
      await expect(page.getByRole('menuitem', { name: 'Change role' })).toBeVisible();
      await expectAccessible(page, 'user row menu open');
      if (!(await page.getByRole('menuitem', { name: 'Change role' }).isVisible())) {
        await page.getByRole('button', { name: `Actions for ${name}` }).click();
      }
      await page.getByRole('menuitem', { name: 'Change role' }).click();
      await expect(page.getByRole('dialog', { name: 'Change role' })).toBeVisible();
      await expectAccessible(page, 'role dialog');
    });

    test('audit log tab: list, filtered, empty', async ({ page }) => {
      await signIn(page, ADMIN);
      await goto(page, '/settings/audit-log');
      await expect(page.getByRole('heading', { name: 'Audit log' })).toBeVisible();
      await expect(page.getByRole('columnheader', { name: 'Actor' })).toBeVisible();
      await expectAccessible(page, 'audit log');
      await page.getByLabel('Action').selectOption({ label: 'Signed in' });
      await expect(page).toHaveURL(/action=signed_in/);
      await expectAccessible(page, 'audit log filtered');
      await page.getByLabel('Filter events').fill('no event has this name');
      await expect(page.getByRole('heading', { name: /No events/ })).toBeVisible();
      await expectAccessible(page, 'empty audit log');
    });

    test('account page and the admins-only page', async ({ page }) => {
      await signIn(page, MEMBER);
      await expect(page.getByRole('heading', { name: 'Admins only' })).toBeVisible();
      await expectAccessible(page, 'admins only');
      await goto(page, '/account');
      await expectAccessible(page, 'account');
    });
  });
}
