import { expect } from '@playwright/test';
import { collectPageErrors, negativeControl, test, waitForHydration } from './support';

// The database the e2e server runs on (scripts/e2e-server.sh: E2E_DB, SQLite by default).
const backend = process.env.E2E_DB ?? 'sqlite';

test.describe('home page', () => {
  test.skip(negativeControl, 'normal run only');

  test('is rendered on the server, before any script runs', async ({ request }) => {
    const res = await request.get('/');
    expect(res.status()).toBe(200);
    const html = await res.text();
    expect(html).toContain('Credits for Atlas, paid in seconds');
    expect(html).toContain('data-hydrated="false"');
    expect(html).toContain('/pkg/atlas-credits.js');
  });

  test('hydrates and shows what the server function read from the database', async ({ page }) => {
    const errors = collectPageErrors(page);
    await page.goto('/');
    await waitForHydration(page);

    const button = page.getByRole('button', { name: 'Check status' });
    await expect(button).toBeEnabled();
    await button.click();

    await expect(page.locator('#status-backend')).toHaveText(backend);
    await expect(page.locator('#status-schema')).toHaveText(/^[1-9]\d*$/);
    await expect(page.locator('#status-plans')).toHaveText('3');
    // No WHOP_API_KEY in the e2e server: the built-in simulator is in use, and every page says so.
    await expect(page.locator('#test-mode-banner')).toContainText('TEST MODE');
    expect(errors).toEqual([]);
  });

  test('shows a clear error where the check failed when the server cannot be reached', async ({ page }) => {
    await page.goto('/');
    await waitForHydration(page);
    await page.route('**/api/get_system_status', (route) => route.abort('connectionrefused'));
    await page.getByRole('button', { name: 'Check status' }).click();
    await expect(page.locator('#status-error')).toContainText('Could not reach the server');
    await expect(page.getByRole('button', { name: 'Check status' })).toBeEnabled();
  });

  test('unknown paths answer 404 with a way back', async ({ page }) => {
    const res = await page.goto('/no-such-page');
    expect(res?.status()).toBe(404);
    await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
    await expect(page.getByRole('link', { name: 'Back to Atlas Credits' })).toBeVisible();
  });

  test('serves the favicon and health endpoints', async ({ request }) => {
    expect((await request.get('/favicon.svg')).status()).toBe(200);
    expect((await request.get('/favicon.ico')).status()).toBe(200);
    expect(await (await request.get('/healthz')).json()).toEqual({ status: 'ok' });
    expect(await (await request.get('/readyz')).json()).toEqual({ status: 'ready', database: backend });
  });
});

test.describe('negative control', () => {
  test.skip(!negativeControl, 'only when the server hides the WASM bundle (make e2e-negative)');

  test('without its bundle the page renders but never hydrates, and the e2e notices', async ({ page }) => {
    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'Credits for Atlas, paid in seconds' })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Check status' })).toBeDisabled();
    let detected = false;
    try {
      await waitForHydration(page, 5_000);
    } catch {
      detected = true;
    }
    expect(detected, 'waitForHydration must fail when the bundle cannot load').toBe(true);
  });
});
