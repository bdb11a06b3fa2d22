import { expect } from '@playwright/test';
import { freshEmail, orderIds, ownAddress, PASSWORD, setDelivery, signUpToCredits, simAuth, statusText } from './buying';
import { collectPageErrors, negativeControl, test, waitForHydration } from './support';

// Buying credits end to end, against the built-in Whop simulator.

test.beforeEach(async ({ context }) => {
  await context.setExtraHTTPHeaders(ownAddress());
});

test.describe('buying credits', () => {
  test.skip(negativeControl, 'normal run only');

  test('signed out: the plans and a way to log in, no buy buttons', async ({ page }) => {
    await page.goto('/credits');
    const starter = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'Starter' }) });
    await expect(starter).toContainText('5,000 credits');
    await expect(starter).toContainText('$7.50');
    await expect(starter).toContainText('$1.50 per 1,000 credits');
    const pro = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'Pro' }) });
    await expect(pro).toContainText('$1.30 per 1,000 credits');
    await expect(page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'Enterprise' }) })).toContainText(
      'Custom pricing',
    );
    await expect(page.getByRole('link', { name: 'Log in to buy' })).toHaveAttribute('href', '/login?next=/credits');
    await expect(page.getByRole('button', { name: /^Buy / })).toHaveCount(0);

    // The home page leads there too.
    await page.goto('/');
    await page.getByRole('link', { name: 'See plans and buy credits' }).click();
    await expect(page).toHaveURL(/\/credits$/);

    // The status page sends a signed-out visitor to log in, and back.
    await page.goto('/payment/status?order=1');
    await expect(page).toHaveURL(/\/login\?next=/);
  });

  test('buy Starter: checkout, Pay, the open status page turns to credited without a reload', async ({ page, context }) => {
    const errors = collectPageErrors(page);
    await signUpToCredits(page, 'buyer');
    await expect(page.locator('#orders-empty')).toBeVisible();

    const buy = page.getByRole('button', { name: 'Buy Starter' });
    await buy.click();
    await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);
    await expect(page.locator('#price')).toHaveText('$7.50');

    // A second tab watches the pending order before the buyer pays.
    const watcher = await context.newPage();
    const [orderId] = await orderIds(watcher);
    expect(orderId).toBeGreaterThan(0);
    await watcher.goto(`/payment/status?order=${orderId}`);
    await waitForHydration(watcher);
    await expect(statusText(watcher)).toContainText('Confirming your payment…');
    await watcher.evaluate(() => ((window as any).__sameDocument = true));

    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    await expect(page).toHaveURL(new RegExp(`/payment/status\\?order=${orderId}$`));
    await expect(statusText(page)).toContainText('5,000 credits added. Your balance is 5,000.');

    // The watching tab updated itself: same document, no reload.
    await expect(statusText(watcher)).toContainText('5,000 credits added. Your balance is 5,000.', { timeout: 5_000 });
    expect(await watcher.evaluate(() => (window as any).__sameDocument)).toBe(true);

    await page.getByRole('link', { name: 'Go to your account' }).click();
    await expect(page).toHaveURL(/\/account$/);
    await expect(page.locator('#balance')).toContainText('5,000');
    expect(errors).toEqual([]);
  });

  test('a declined card shows the failure and Try again', async ({ page }) => {
    await signUpToCredits(page, 'declined');
    await page.getByRole('button', { name: 'Buy Starter' }).click();
    await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);
    await page.getByRole('button', { name: 'Decline the card' }).click();
    await expect(page).toHaveURL(/\/payment\/status\?order=\d+$/);
    await expect(statusText(page)).toContainText('Your payment did not go through.');
    await expect(statusText(page)).toContainText('Your card was declined.');
    await page.getByRole('link', { name: 'Try again' }).click();
    await expect(page).toHaveURL(/\/credits$/);
    await expect(page.locator('#orders tbody tr').first()).toContainText('Failed');
  });

  test('with every webhook dropped, the status page still confirms and credits', async ({ page, request }) => {
    await signUpToCredits(page, 'dropped');
    await setDelivery(request, { drop: true });
    try {
      await page.getByRole('button', { name: 'Buy Starter' }).click();
      await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);
      await page.getByRole('button', { name: 'Pay', exact: true }).click();
      await expect(page).toHaveURL(/\/payment\/status\?order=\d+$/);
      await expect(statusText(page)).toContainText('5,000 credits added. Your balance is 5,000.');
    } finally {
      await setDelivery(request, {});
    }
    const deliveries = await (await request.get('/_sim/whop/control/deliveries', { headers: simAuth })).json();
    expect(deliveries.some((d: any) => d.status === 'dropped')).toBe(true);
    await page.goto('/account');
    await expect(page.locator('#balance')).toContainText('5,000');
  });

  test('Enterprise (custom pricing) goes through the request flow', async ({ page }) => {
    await signUpToCredits(page, 'enterprise');
    const card = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'Enterprise' }) });
    await expect(card.getByRole('button', { name: /^Buy / })).toHaveCount(0);
    await card.getByLabel('Note for the admin (optional)').fill('About 2M credits a month');
    await card.getByRole('button', { name: 'Request Enterprise' }).click();
    await expect(card.getByRole('status')).toHaveText('Request received: an admin will contact you.');
    await expect(page.locator('#orders tbody tr')).toHaveCount(1);
    await expect(page.locator('#orders tbody tr').first()).toContainText('Waiting for an admin');

    // Its status page says so too.
    await page.locator('#orders tbody tr a').first().click();
    await expect(statusText(page)).toContainText('Waiting for an admin');
  });

  test('a double click, and a retried request with the same key, make one order', async ({ page }) => {
    await signUpToCredits(page, 'double');
    const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Buy Starter' }) });
    const key = await form.locator('input[name="client_key"]').inputValue();
    expect(key).toMatch(/^[A-Za-z0-9_-]{16,64}$/);

    // The same request sent twice at once, as a retry would (same key).
    const statuses = await page.evaluate(async (key) => {
      const form = document.querySelector('input[value="' + key + '"]')!.closest('form')!;
      const body = new URLSearchParams(new FormData(form) as any).toString();
      const send = () =>
        fetch(form.action, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }, body });
      const res = await Promise.all([send(), send()]);
      return res.map((r) => r.status);
    }, key);
    expect(statuses).toEqual([200, 200]);

    // Then the button itself, double-clicked.
    await page.getByRole('button', { name: 'Buy Starter' }).dblclick();
    await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);
    // Counted in another tab: the second click's navigation may still land in this one.
    expect(await orderIds(await page.context().newPage())).toHaveLength(1);
  });

  test('another user\'s order is not found', async ({ page, browser }) => {
    await signUpToCredits(page, 'owner');
    const card = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'Enterprise' }) });
    await card.getByRole('button', { name: 'Request Enterprise' }).click();
    await expect(card.getByRole('status')).toBeVisible();
    const [orderId] = await orderIds(page);

    const other = await browser.newContext({ extraHTTPHeaders: ownAddress() });
    const stranger = await other.newPage();
    await signUpToCredits(stranger, 'stranger');
    const res = await stranger.goto(`/payment/status?order=${orderId}`);
    expect(res?.status()).toBe(404);
    await expect(stranger.getByRole('heading', { name: 'Order not found' })).toBeVisible();
    await other.close();
  });

  test('fits a phone screen (375 px): the credits page and the status page', async ({ page }) => {
    await page.setViewportSize({ width: 375, height: 740 });
    await signUpToCredits(page, 'phone');
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(await overflow()).toBeLessThanOrEqual(0);
    const buy = page.getByRole('button', { name: 'Buy Starter' });
    await buy.scrollIntoViewIfNeeded();
    await expect(buy).toBeInViewport();

    await buy.click();
    await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);
    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    await expect(statusText(page)).toContainText('5,000 credits added.');
    expect(await overflow()).toBeLessThanOrEqual(0);
  });

  test('the buy button is keyboard operable and says what it is doing', async ({ page }) => {
    await signUpToCredits(page, 'keyboard');
    // Slow the server function down so the in-between state can be seen.
    await page.route('**/api/start_checkout', async (route) => {
      await new Promise((r) => setTimeout(r, 800));
      await route.continue();
    });
    const buy = page.getByRole('button', { name: 'Buy Starter' });
    await buy.focus();
    await page.keyboard.press('Enter');
    const busy = page.getByRole('button', { name: 'Opening checkout…' });
    await expect(busy).toBeDisabled();
    await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);
  });

  test('a failed attempt shows the error next to the button and the retry uses a new key', async ({ page }) => {
    await signUpToCredits(page, 'retry');
    const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Buy Starter' }) });
    const firstKey = await form.locator('input[name="client_key"]').inputValue();
    await page.route('**/api/start_checkout', (route) =>
      route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify('Unavailable') }),
    );
    await page.getByRole('button', { name: 'Buy Starter' }).click();
    await expect(form.getByRole('alert')).toContainText('temporarily unavailable');
    const retryKey = await form.locator('input[name="client_key"]').inputValue();
    expect(retryKey).not.toBe(firstKey);

    await page.unroute('**/api/start_checkout');
    await form.getByRole('button', { name: /Try again: Buy Starter/ }).click();
    await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);
  });
});

test.describe('buying credits without JavaScript', () => {
  test.skip(negativeControl, 'normal run only');
  test.use({ javaScriptEnabled: false });

  test('the plan forms work as plain form posts', async ({ page }) => {
    await page.goto('/signup?next=/credits');
    await page.getByLabel('Email').fill(freshEmail('nojs'));
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page).toHaveURL(/\/credits$/);

    const enterprise = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'Enterprise' }) });
    await enterprise.getByRole('button', { name: 'Request Enterprise' }).click();
    // The server fn answers a plain post by sending the browser back where it came from.
    await expect(page).toHaveURL(/\/credits\??$/);
    await expect(page.locator('#orders tbody tr').first()).toContainText('Waiting for an admin');

    await page.getByRole('button', { name: 'Buy Starter' }).click();
    await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);
    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    await expect(page).toHaveURL(/\/payment\/status\?order=\d+$/);
    // No script to poll: the page the server renders after Pay is what the buyer sees (it asks
    // Whop itself); a reload would show any later change.
    await expect(page.locator('#payment-status')).toContainText(/credits added|Confirming your payment/);
  });
});
