import { expect, Page } from '@playwright/test';
import { ownAddress, signUpToCredits } from './buying';
import { signedInAdmin } from './operator';
import { negativeControl, test, waitForHydration } from './support';

// The app pages' Content-Security-Policy in a real browser (src/server/http/security_headers.rs):
// every page loads, hydrates (the WASM compiles under 'wasm-unsafe-eval', its scripts carry the
// nonce) and reports no violation. Every other spec checks the last point too, through `test`
// from ./support; tests/it/security_headers.rs checks the headers and nonces over plain HTTP.

const USER_PAGES = ['/', '/credits', '/account', '/login', '/signup', '/auth/link-problem', '/no-such-page'];
const ADMIN_PAGES = [
  '/admin',
  '/admin/orders',
  '/admin/plans',
  '/admin/settings',
  '/admin/unmatched',
  '/admin/webhooks',
  '/admin/audit',
  '/admin/metrics?days=30',
  '/admin/alerts',
  '/admin/webhook-endpoints',
];

/** Opens `path`, checks its policy names the nonce its hydration script carries, and waits for
 * the bundle to take over. */
async function visit(page: Page, path: string): Promise<string> {
  const res = await page.goto(path);
  const csp = res?.headers()['content-security-policy'] ?? '';
  const nonce = /'nonce-([A-Za-z0-9_-]{22})'/.exec(csp)?.[1];
  expect(nonce, `${path}: ${csp}`).toBeTruthy();
  expect(csp, path).toContain("'wasm-unsafe-eval'");
  expect(csp, path).toContain("frame-ancestors 'none'");
  // The browser hides a nonce from getAttribute once parsed; the property keeps it.
  const onScript = await page.locator('head script[type="module"]').evaluate((s) => (s as HTMLScriptElement).nonce);
  expect(onScript, path).toBe(nonce);
  await waitForHydration(page);
  return nonce!;
}

test.describe('content security policy', () => {
  test.skip(negativeControl, 'normal run only');

  test('every user page hydrates under the policy, with a new nonce each time', async ({ page, context }) => {
    await context.setExtraHTTPHeaders(ownAddress());
    await signUpToCredits(page, 'csp');
    const nonces = new Set<string>();
    for (const path of USER_PAGES) nonces.add(await visit(page, path));
    nonces.add(await visit(page, '/'));
    expect(nonces.size).toBe(USER_PAGES.length + 1);
    // A page still works after hydrating: client-side navigation to another page.
    await page.getByRole('link', { name: 'Buy credits' }).first().click();
    await expect(page).toHaveURL(/\/credits$/);
  });

  test('every admin page hydrates under the policy', async ({ browser }) => {
    const admin = await signedInAdmin(browser, '/admin');
    for (const path of ADMIN_PAGES) await visit(admin, path);
    await admin.screenshot({ path: 'test-results/csp-admin-metrics.png', fullPage: true });
  });

  test('an injected inline script does not run, and the violation is seen', async ({ page, cspViolations }) => {
    await visit(page, '/');
    const ran = await page.evaluate(async () => {
      const s = document.createElement('script');
      s.textContent = 'window.__injected = true;';
      document.body.append(s);
      await new Promise((r) => setTimeout(r, 200));
      return (window as unknown as { __injected?: boolean }).__injected === true;
    });
    expect(ran, 'a script without the nonce ran').toBe(false);
    await expect.poll(() => cspViolations.length).toBeGreaterThan(0);
    expect(cspViolations.join('\n')).toContain('script-src');
    // Provoked on purpose: the guard in ./support must not fail this test for it.
    cspViolations.length = 0;
  });
});
