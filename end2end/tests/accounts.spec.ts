import { expect, Page } from '@playwright/test';
import { collectPageErrors, negativeControl, test, waitForHydration } from './support';

const PASSWORD = 'a long enough password';

function freshEmail(tag: string): string {
  return `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

async function signUp(page: Page, email: string) {
  await page.goto('/signup');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/account$/);
}

test.describe('accounts', () => {
  test.skip(negativeControl, 'normal run only');

  test('sign up, log out, log in, and see the account page', async ({ page }) => {
    const errors = collectPageErrors(page);
    const email = freshEmail('ann');
    await signUp(page, email);

    await expect(page.getByRole('heading', { name: 'Your credits' })).toBeVisible();
    await expect(page.locator('#balance')).toContainText('0');
    await expect(page.locator('#history-empty')).toBeVisible();
    await expect(page.getByRole('link', { name: 'Download CSV' })).toBeVisible();
    await expect(page.getByRole('navigation', { name: 'Account' })).toContainText(email);

    await page.getByRole('button', { name: 'Log out' }).click();
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByRole('link', { name: 'Log in' })).toBeVisible();

    // Signed out, the account page sends you to log in and back.
    await page.goto('/account');
    await expect(page).toHaveURL(/\/login\?next=(\/|%2F)account$/);
    await waitForHydration(page);
    await page.getByLabel('Email').fill(email.toUpperCase());
    await page.getByLabel('Password').fill('wrong password here');
    await page.getByRole('button', { name: 'Log in' }).click();
    // The same answer for every failed log-in, with the hint for people Atlas signed up.
    await expect(page.getByRole('alert')).toHaveText(
      'Email or password is incorrect. Came here from Atlas? Your account was made by Atlas and has no password here: open Credits from inside Atlas.',
    );

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page).toHaveURL(/\/account$/);
    await expect(page.getByRole('heading', { name: 'Your credits' })).toBeVisible();
    expect(errors.filter((e) => !e.includes('401'))).toEqual([]);
  });

  test('sign-up errors are shown where they happen', async ({ page }) => {
    await page.goto('/signup');
    await waitForHydration(page);
    await page.getByLabel('Email').fill(freshEmail('short'));
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.getByRole('alert')).toContainText('at least 10 characters');
    await expect(page).toHaveURL(/\/signup$/);
  });

  test('a non-admin is refused on every admin page', async ({ page }) => {
    await signUp(page, freshEmail('user'));
    for (const path of [
      '/admin',
      '/admin/orders',
      '/admin/orders/1',
      '/admin/unmatched',
      '/admin/plans',
      '/admin/settings',
      '/admin/webhooks',
      '/admin/webhooks/msg_1',
      '/admin/audit',
      '/admin/metrics',
      '/admin/alerts',
    ]) {
      const res = await page.goto(path);
      expect(res?.status(), path).toBe(403);
      await expect(page.getByRole('heading', { name: 'Not allowed' }), path).toBeVisible();
      await expect(page.getByRole('navigation', { name: 'Admin' }), path).toHaveCount(0);
    }
    await expect(page.getByText('API keys')).toHaveCount(0);
  });

  test('the account page fits a phone screen', async ({ page }) => {
    await page.setViewportSize({ width: 375, height: 740 });
    await signUp(page, freshEmail('phone'));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  });
});
