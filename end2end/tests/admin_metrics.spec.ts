import { expect } from '@playwright/test';
import { freshEmail, ownAddress, PASSWORD, signUpToCredits, statusText } from './buying';
import { cli } from './operator';
import { negativeControl, test, waitForHydration } from './support';

// The admin's metrics page and webhook log after a purchase through the built-in Whop
// simulator: the purchase shows in the conversion and revenue, its events are in the log, and
// replaying the payment's event changes nothing.

test.beforeEach(async ({ context }) => {
  await context.setExtraHTTPHeaders(ownAddress());
});

test.describe('admin metrics and webhook log', () => {
  test.skip(negativeControl, 'normal run only');

  test('a simulated purchase shows in the metrics, and replaying its payment changes nothing', async ({ page, browser }) => {
    // A buyer pays for Starter at the simulator.
    await signUpToCredits(page, 'metrics-buyer');
    await page.getByRole('button', { name: 'Buy Starter' }).click();
    await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);
    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    await expect(page).toHaveURL(/\/payment\/status\?order=\d+$/);
    await expect(statusText(page)).toContainText('5,000 credits added');
    const orderId = new URL(page.url()).searchParams.get('order')!;

    const adminEmail = freshEmail('metrics-admin');
    cli(['create-admin', '--email', adminEmail], { ATLAS_ADMIN_PASSWORD: PASSWORD });
    const admin = await (await browser.newContext({ extraHTTPHeaders: ownAddress() })).newPage();
    await admin.goto('/login?next=/admin/metrics');
    await waitForHydration(admin);
    await admin.getByLabel('Email').fill(adminEmail);
    await admin.getByLabel('Password').fill(PASSWORD);
    await admin.getByRole('button', { name: 'Log in' }).click();
    await expect(admin).toHaveURL(/\/admin\/metrics$/);
    await waitForHydration(admin);

    // The suite buys more, so only "at least this purchase" can be asserted.
    await expect(admin.locator('#metric-conversion .stat-value')).toHaveText(/^\d+\.\d%$/);
    await expect(admin.locator('#metric-conversion')).not.toContainText('of 0 Whop orders');
    await expect(admin.locator('#metric-revenue .stat-value')).toHaveText(/^\$\d[\d,]*\.\d\d$/);
    await expect(admin.locator('#metric-revenue .stat-value')).not.toHaveText('$0.00');
    const chart = admin.locator('#revenue-chart svg[role="img"]');
    await expect(chart).toHaveAttribute('aria-label', /Revenue per day: \d+ of 30 days with data/);
    await admin.getByRole('link', { name: 'Last 7 days' }).click();
    await expect(admin).toHaveURL(/days=7$/);
    await expect(admin.locator('#revenue-chart svg')).toHaveAttribute('aria-label', /of 7 days/);

    // The webhook log lists the purchase's events, linked to its order.
    await admin.getByRole('link', { name: 'Webhook events' }).click();
    await expect(admin).toHaveURL(/\/admin\/webhooks$/);
    await waitForHydration(admin);
    const row = admin
      .locator('#webhooks tbody tr')
      .filter({ hasText: 'payment.succeeded' })
      .filter({ has: admin.locator(`a[href="/admin/orders/${orderId}"]`) });
    await expect(row).toHaveCount(1);
    await expect(row).toContainText('processed');
    await row.getByRole('link').first().click();
    await expect(admin).toHaveURL(/\/admin\/webhooks\/.+/);
    await waitForHydration(admin);
    await expect(admin.locator('#webhook-payload')).toContainText('"type": "payment.succeeded"');

    // Replay: confirmed, with a reason; it reports that nothing changed.
    await admin.getByText('Replay', { exact: true }).first().click();
    await admin.getByLabel('Reason').fill('e2e: replay is harmless');
    await admin.getByLabel(/I confirm/).check();
    await admin.getByRole('button', { name: 'Replay' }).click();
    await expect(admin.locator('#replay-result')).toContainText('Already applied: nothing changed.');

    // The buyer's balance is what the purchase gave, once.
    await page.goto('/account');
    await waitForHydration(page);
    await expect(page.locator('#balance')).toHaveText(/^\s*5,000 credits\s*$/);

    // And the replay is in the audit log.
    await admin.goto('/admin/audit?action=webhook.replay');
    await waitForHydration(admin);
    await expect(admin.locator('#audit tbody tr').first()).toContainText('webhook.replay');
  });
});
