import { APIRequestContext, expect } from '@playwright/test';
import { negativeControl, test } from './support';

// The built-in Whop simulator's hosted checkout page, in a real browser: it is what the buyer
// sees in test mode, and pressing Pay must send them back and deliver signed webhooks.
const SIM_KEY = 'sim_e2e_key'; // scripts/e2e-server.sh sets WHOP_SIM_API_KEY
const auth = { Authorization: `Bearer ${SIM_KEY}` };

async function createCheckout(request: APIRequestContext, baseURL: string): Promise<string> {
  const api = '/_sim/whop/api/v1';
  const product = await (await request.post(`${api}/products`, { headers: auth, data: { title: 'Atlas Credits' } })).json();
  const plan = await (
    await request.post(`${api}/plans`, {
      headers: auth,
      data: { product_id: product.id, plan_type: 'one_time', initial_price: 7.5, currency: 'usd', title: 'Starter: 5,000 credits' },
    })
  ).json();
  const res = await request.post(`${api}/checkout_configurations`, {
    headers: { ...auth, 'Idempotency-Key': `e2e-${Date.now()}` },
    data: { plan_id: plan.id, metadata: { order_id: 'e2e' }, redirect_url: `${baseURL}/?paid=1` },
  });
  expect(res.status()).toBe(200);
  const checkout = await res.json();
  expect(checkout.purchase_url).toContain('/_sim/whop/checkout/ch_');
  return checkout.purchase_url;
}

test.describe('simulated Whop checkout', () => {
  test.skip(negativeControl, 'normal run only');

  test('shows the plan in TEST MODE, pays, returns the buyer and delivers signed webhooks', async ({ page, request, baseURL }) => {
    const url = await createCheckout(request, baseURL!);
    await page.goto(url);
    await expect(page.getByRole('status')).toContainText('TEST MODE');
    await expect(page.getByRole('heading', { name: 'Starter: 5,000 credits' })).toBeVisible();
    await expect(page.locator('#price')).toHaveText('$7.50');
    for (const name of ['Decline the card', 'Pay, then refund in full', 'Pay, then dispute (lost)']) {
      await expect(page.getByRole('button', { name })).toBeVisible();
    }

    // Other specs' deliveries come before this one's in the simulator's list: count them first.
    const deliveries = async () => (await (await request.get('/_sim/whop/control/deliveries', { headers: auth })).json()) as any[];
    const earlier = (await deliveries()).length;
    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    await expect(page).toHaveURL(/\/\?paid=1$/);

    // Both payment events reach the app's webhook route, which verifies and accepts them.
    await expect
      .poll(
        async () => {
          const list = (await deliveries()).slice(earlier);
          return list.filter((d: any) => d.status === 'delivered' && d.last_status === 200).map((d: any) => d.event_type);
        },
        { timeout: 10_000 },
      )
      .toEqual(['payment.created', 'payment.succeeded']);
  });

  test('refuses the simulated API without its key', async ({ request }) => {
    const res = await request.post('/_sim/whop/api/v1/products', { data: { title: 'x' } });
    expect(res.status()).toBe(401);
    expect((await res.json()).error.code).toBe('unauthorized');
  });
});
