import { expect, Page } from '@playwright/test';
import { ownAddress, signUpToCredits, statusText } from './buying';
import { signedInAdmin } from './operator';
import { negativeControl, test, waitForHydration } from './support';

// The admin's orders, against the built-in Whop simulator: an Enterprise request approved with a
// custom price grows the user's balance; a partial refund asked from the order page takes credits
// back once Whop's webhook lands.

test.beforeEach(async ({ context }) => {
  await context.setExtraHTTPHeaders(ownAddress());
});

/** Opens the account page until its balance is exactly `expected` (events may still be arriving). */
async function expectBalance(page: Page, expected: string) {
  const exact = new RegExp(`^\\s*${expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
  await expect(async () => {
    await page.goto('/account');
    await waitForHydration(page);
    await expect(page.locator('#balance')).toHaveText(exact, { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
}

test.describe('admin orders', () => {
  test.skip(negativeControl, 'normal run only');

  test('an Enterprise request approved with a custom price grows the balance', async ({ page, browser }) => {
    const email = await signUpToCredits(page, 'enterprise');
    await page.getByRole('button', { name: 'Request Enterprise' }).click();
    await expect(page.locator('.request-done')).toBeVisible();
    await page.goto('/credits');
    await waitForHydration(page);
    const orderId = await page.locator('#orders tbody tr').first().getAttribute('data-order-id');
    expect(orderId).toBeTruthy();

    // The admin finds it in the queue (filtered by the user's email) and opens it.
    const admin = await signedInAdmin(browser, '/admin/orders');
    await admin.getByRole('link', { name: /Manual requests waiting/ }).click();
    await expect(admin).toHaveURL(/method=manual&status=pending/);
    await admin.getByLabel('User email').fill(email);
    await admin.getByRole('button', { name: 'Filter' }).click();
    const row = admin.locator(`#orders-table tr[data-order-id="${orderId}"]`);
    await expect(row).toContainText('custom');
    await row.getByRole('link', { name: `#${orderId}` }).click();
    await expect(admin).toHaveURL(new RegExp(`/admin/orders/${orderId}$`));
    await waitForHydration(admin);

    await admin.getByLabel(/Agreed price/).fill('1,250.00');
    await admin.locator('#approve-reason').fill('Contract 2026-11 signed');
    await admin.getByLabel(/I confirm these credits/).check();
    await admin.getByRole('button', { name: 'Approve and grant credits' }).click();
    await expect(admin.locator('#approve-result')).toContainText('100,000 credits granted at $1,250.00');
    await expect(admin.locator('#order-status')).toHaveText('approved');
    await expect(admin.locator('#order-price')).toHaveText('$1,250.00');
    await expect(admin.locator('#timeline')).toContainText('manual_grant');

    await expectBalance(page, '100,000 credits');
    await expect(page.locator('#requests')).toContainText('Credited');
  });

  test('a partial refund from the order page takes credits back when Whop confirms it', async ({ page, browser }) => {
    await signUpToCredits(page, 'admin-refund');
    await page.getByRole('button', { name: 'Buy Pro' }).click();
    await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);
    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    await expect(page).toHaveURL(/\/payment\/status\?order=\d+$/);
    await expect(statusText(page)).toContainText('25,000 credits added');
    const orderId = new URL(page.url()).searchParams.get('order')!;

    const admin = await signedInAdmin(browser, `/admin/orders/${orderId}`);
    await expect(admin.locator('#order-payment-status')).toHaveText('paid');
    await admin.getByLabel(/Amount in dollars/).fill('16.25');
    await admin.locator('#refund-reason').fill('Half was never used');
    await admin.getByLabel('I confirm this refund.').check();
    await admin.getByRole('button', { name: 'Request refund' }).click();
    await expect(admin.locator('#refund-result')).toContainText('when Whop confirms the refund');

    await expectBalance(page, '12,500 credits');
    await expect(async () => {
      await admin.reload();
      await expect(admin.locator('#order-payment-status')).toHaveText('partially_refunded', { timeout: 1_000 });
    }).toPass({ timeout: 15_000 });
    await expect(admin.locator('#timeline')).toContainText('refund_clawback');
  });
});
