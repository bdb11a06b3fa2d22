import fs from 'node:fs';
import { expect, test } from '@playwright/test';
import { serverLog } from '../bench.config';
import { orderIds, ownAddress, signUpToCredits, statusText } from '../tests/buying';
import { waitForHydration } from '../tests/support';

// Time to credit in the browser: from the simulator sending `payment.succeeded` to the credit
// showing on a payment status page that was already open. Prints figures (see BENCHMARKS.md);
// fails only when a purchase does not complete or the logs cannot be matched.
//
// Clocks: both ends are read on this machine's wall clock. The browser end is
// performance.timeOrigin + performance.now() when a MutationObserver sees "credits added"; the
// server end is the `timestamp` of the app's JSON log lines (bench.config.ts writes them to a file):
// t0 is tower_http's "started processing request" for the simulator's POST of the
// payment.succeeded webhook (loopback: the moment it was sent, give or take well under 1 ms).
const PURCHASES = Number(process.env.BENCH_PURCHASES ?? 20);

type LogLine = { timestamp: string; message?: string; target?: string; [k: string]: unknown };

/** Epoch milliseconds, keeping the microseconds tracing writes. */
function epochMs(ts: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) throw new Error(`unexpected timestamp ${ts}`);
  return Date.parse(m[1] + m[3]) + (m[2] ? Number(m[2]) * 1000 : 0);
}

function readLog(): LogLine[] {
  return fs
    .readFileSync(serverLog, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

const isWebhookRequestStart = (l: LogLine) =>
  l.message === 'started processing request' &&
  JSON.stringify(l.spans ?? '').includes('/api/webhooks/whop');

type Sample = { order: number; via: string; sentToCredited: number; sentToShown: number; payToShown: number };

/** What the log says about one purchase: when the simulator sent its payment.succeeded webhook and
 * when (and by which path) the order was credited. Waits for the lines to be written. */
async function serverTimes(order: number, after: number) {
  let last = '';
  for (let tries = 0; tries < 100; tries++) {
    const lines = readLog();
    const attempt = lines.find(
      (l) => l.message === 'simulator webhook attempt' && l.event === 'payment.succeeded' && epochMs(l.timestamp) > after,
    );
    const credited = lines.find((l) => l.message === 'order credited' && l.order_id === order);
    if (attempt && credited) {
      const storedAt = lines.findIndex((l) => l.message === 'webhook stored' && l.webhook_id === attempt.webhook_id);
      if (storedAt < 0) throw new Error(`no "webhook stored" line for ${attempt.webhook_id}`);
      const start = lines.slice(0, storedAt).reverse().find(isWebhookRequestStart);
      if (!start) throw new Error('no request-start line for the webhook: is tower_http=debug on?');
      return { sent: epochMs(start.timestamp), credited: epochMs(credited.timestamp), via: String(credited.via) };
    }
    last = `attempt=${!!attempt} credited=${!!credited}`;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`log lines for order ${order} not found (${last})`);
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const rank = (p: number) => s[Math.max(0, Math.ceil(p * s.length) - 1)];
  return { median: rank(0.5), p90: rank(0.9), worst: s[s.length - 1] };
}

test(`time to credit in the browser, ${PURCHASES} purchases`, async ({ browser }) => {
  const samples: Sample[] = [];
  for (let i = 1; i <= PURCHASES; i++) {
    // A user per purchase, each signing up from an address of its own (10 sign-ups an hour each).
    const context = await browser.newContext({ extraHTTPHeaders: ownAddress() });
    const page = await context.newPage();
    await signUpToCredits(page, `bench${i}`);
    await page.getByRole('button', { name: 'Buy Starter' }).click();
    await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);

    // The status page, open before paying, with an observer noting when the credit shows.
    const watcher = await context.newPage();
    const [order] = await orderIds(watcher);
    await watcher.goto(`/payment/status?order=${order}`);
    await waitForHydration(watcher);
    await expect(statusText(watcher)).toContainText('Confirming your payment…');
    await watcher.evaluate(() => {
      const w = window as any;
      w.__creditedAt = null;
      const check = () => {
        if (w.__creditedAt === null && document.querySelector('#payment-status')?.textContent?.includes('credits added')) {
          w.__creditedAt = performance.timeOrigin + performance.now();
        }
      };
      new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true });
      check();
    });

    const payClick = Date.now();
    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    const shownHandle = await watcher.waitForFunction(() => (window as any).__creditedAt, null, { timeout: 15_000 });
    const shown = (await shownHandle.jsonValue()) as number;
    await expect(statusText(watcher)).toContainText('5,000 credits added.');

    const server = await serverTimes(order, payClick);
    samples.push({
      order,
      via: server.via,
      sentToCredited: server.credited - server.sent,
      sentToShown: shown - server.sent,
      payToShown: shown - payClick,
    });
    await context.close();
  }

  const f = (x: number) => x.toFixed(0).padStart(8);
  console.log(`\n order  credited via   sent->credited  sent->shown  Pay->shown  (ms)`);
  for (const s of samples) {
    console.log(`${String(s.order).padStart(6)}  ${s.via.padEnd(13)} ${f(s.sentToCredited)}       ${f(s.sentToShown)}    ${f(s.payToShown)}`);
  }
  console.log(`\n${samples.length} purchases                     median      p90    worst   (ms)`);
  for (const [label, key] of [
    ['simulator sent -> order credited (server)', 'sentToCredited'],
    ['simulator sent -> credit shown (browser) ', 'sentToShown'],
    ['Pay clicked    -> credit shown (browser) ', 'payToShown'],
  ] as const) {
    const st = stats(samples.map((s) => s[key]));
    console.log(`${label}  ${f(st.median)} ${f(st.p90)} ${f(st.worst)}`);
  }
  const byVia = samples.reduce<Record<string, number>>((m, s) => ({ ...m, [s.via]: (m[s.via] ?? 0) + 1 }), {});
  console.log(`credited via: ${JSON.stringify(byVia)}\n`);
  expect(samples).toHaveLength(PURCHASES);
});
