import { APIRequestContext, expect, Page } from '@playwright/test';
import { waitForHydration } from './support';

// Helpers for buying credits against the built-in Whop simulator (scripts/e2e-server.sh runs the
// app in simulated mode with this key). Shared by tests/credits.spec.ts and bench/.
export const SIM_KEY = 'sim_e2e_key';
export const simAuth = { Authorization: `Bearer ${SIM_KEY}` };
export const PASSWORD = 'a long enough password';

export function freshEmail(tag: string): string {
  return `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** Signs up a new user and lands on /credits through the header link. */
export async function signUpToCredits(page: Page, tag: string): Promise<string> {
  const email = freshEmail(tag);
  await page.goto('/signup');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/account$/);
  await page.getByRole('link', { name: 'Buy credits' }).click();
  await expect(page).toHaveURL(/\/credits$/);
  await waitForHydration(page);
  return email;
}

export async function setDelivery(request: APIRequestContext, mode: Record<string, unknown>) {
  const res = await request.put('/_sim/whop/control/delivery', { headers: simAuth, data: mode });
  expect(res.status()).toBe(200);
}

/** The ids of the orders the credits page lists, newest first. */
export async function orderIds(page: Page): Promise<number[]> {
  await page.goto('/credits');
  await waitForHydration(page);
  const ids = await page.locator('#orders tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-order-id'))));
  return ids;
}

export const statusText = (page: Page) => page.locator('#payment-status');

/** A client address of its own (the e2e server trusts one proxy hop), so the sign-up limit per
 * address is not shared with the rest of the suite. */
export function ownAddress(): Record<string, string> {
  const n = () => 1 + Math.floor(Math.random() * 250);
  return { 'X-Forwarded-For': `10.${n()}.${n()}.${n()}` };
}
