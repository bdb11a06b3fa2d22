import { expect, Page } from '@playwright/test';

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
