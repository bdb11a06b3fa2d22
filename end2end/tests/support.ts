import { BrowserContext, expect, Page, test as base } from '@playwright/test';

/** True when this run serves the page without its WASM bundle, on purpose (the negative control). */
export const negativeControl = process.env.E2E_NEGATIVE === '1';

/**
 * Waits until the WASM bundle has taken over the page. <main> renders data-hydrated="false" on
 * the server and an effect (which only runs in the browser after hydration) flips it to "true".
 */
export async function waitForHydration(page: Page, timeout = 15_000): Promise<void> {
  await expect(page.locator('main[data-hydrated]')).toHaveAttribute('data-hydrated', 'true', { timeout });
}

/** Collects console errors and uncaught exceptions so a test can assert there were none. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}

/**
 * Every Content-Security-Policy violation reported by any page the test opened, in any of its
 * browser contexts (its own, and those it makes with `browser.newContext`/`newPage`). Filled by
 * a binding the browser calls from a `securitypolicyviolation` listener that an init script adds
 * before any page script runs (Playwright injects both outside the page's policy).
 */
async function watchCsp(context: BrowserContext, violations: string[]): Promise<void> {
  await context.exposeBinding('__atlasCspViolation', ({ page }, text: string) => {
    violations.push(`${page.url()}: ${text}`);
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const report = (window as unknown as { __atlasCspViolation: (t: string) => void }).__atlasCspViolation;
      report(`${e.effectiveDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber} ${e.sample}`);
    });
  });
}

/**
 * The suite's `test`: every test fails if any page it visited reported a CSP violation, so the
 * app's policy (src/server/http/security_headers.rs) is checked on every page and every flow the
 * suite drives, not only on the pages of end2end/tests/csp.spec.ts. `cspViolations` lets a test
 * read (and, after provoking one on purpose, clear) what was reported.
 */
export const test = base.extend<{ cspViolations: string[] }>({
  cspViolations: [
    async ({ context, browser }, use) => {
      const violations: string[] = [];
      await watchCsp(context, violations);
      const newContext = browser.newContext;
      browser.newContext = async (options) => {
        const made = await newContext.call(browser, options);
        await watchCsp(made, violations);
        return made;
      };
      try {
        await use(violations);
      } finally {
        browser.newContext = newContext;
      }
      expect(violations, 'Content-Security-Policy violations').toEqual([]);
    },
    { auto: true },
  ],
});
