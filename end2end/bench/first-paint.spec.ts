import { test } from '@playwright/test';
import { ownAddress, signUpToCredits } from '../tests/buying';
import { waitForHydration } from '../tests/support';

// First paint of /credits for a signed-in user, from the release server's SSR (`npm run bench:paint`,
// `make bench-paint`). Prints figures (see BENCHMARKS.md); fails only when the page does not load or
// hydrate. Every figure is read in the browser from its own clock, from the start of the navigation:
// the first byte of the HTML, the first contentful paint (the server-rendered page, before any WASM),
// and the moment the page turned interactive (`data-hydrated`, seen by a MutationObserver installed
// before any of the page's scripts run). The first load starts from an empty HTTP cache and fetches
// the WASM (over loopback: no network time); later loads have it cached.
const LOADS = Number(process.env.BENCH_LOADS ?? 30);

type Sample = { ttfb: number; fcp: number; hydrated: number };

test(`first paint of /credits, signed in, ${LOADS} loads`, async ({ browser }) => {
  const context = await browser.newContext({ extraHTTPHeaders: ownAddress() });
  const page = await context.newPage();
  await page.addInitScript(() => {
    const w = window as any;
    w.__hydratedAt = null;
    const check = () => {
      if (w.__hydratedAt === null && document.querySelector('main[data-hydrated="true"]')) {
        w.__hydratedAt = performance.now();
      }
    };
    new MutationObserver(check).observe(document, { subtree: true, attributes: true, childList: true });
  });
  await signUpToCredits(page, 'paint');

  // The sign-up above loaded the WASM: empty the HTTP cache so the first load fetches it again.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.clearBrowserCache');
  const samples: Sample[] = [];
  for (let i = 0; i < LOADS; i++) {
    await page.goto('/credits', { waitUntil: 'load' });
    await waitForHydration(page);
    samples.push(
      await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
        const fcp = performance.getEntriesByName('first-contentful-paint')[0];
        return {
          ttfb: nav.responseStart - nav.startTime,
          fcp: fcp ? fcp.startTime : NaN,
          hydrated: (window as any).__hydratedAt ?? NaN,
        };
      }),
    );
  }
  await context.close();

  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const rank = (p: number) => s[Math.max(0, Math.ceil(p * s.length) - 1)];
    return [rank(0.5), rank(0.9), s[s.length - 1]];
  };
  const f = (x: number) => x.toFixed(1).padStart(8);
  const [first, ...warm] = samples;
  console.log(`\n/credits, signed in (ms from navigation start)   first byte  first paint  interactive`);
  console.log(`first load (empty cache: fetches the WASM)         ${f(first.ttfb)}     ${f(first.fcp)}     ${f(first.hydrated)}`);
  for (const [i, label] of ['median', 'p90', 'worst'].entries()) {
    const row = [warm.map((s) => s.ttfb), warm.map((s) => s.fcp), warm.map((s) => s.hydrated)].map((xs) => stats(xs)[i]);
    console.log(`${`${warm.length} later loads, ${label}`.padEnd(50)}${f(row[0])}     ${f(row[1])}     ${f(row[2])}`);
  }
});
