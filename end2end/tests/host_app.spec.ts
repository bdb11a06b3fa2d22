import http from 'node:http';
import { AddressInfo } from 'node:net';
import { expect } from '@playwright/test';
import { Webhook } from 'standardwebhooks';
import { freshEmail, statusText } from './buying';
import { cli } from './operator';
import { collectPageErrors, negativeControl, test, waitForHydration } from './support';

// Atlas and Atlas Credits as one product, seen from Atlas's side. A small "Atlas" runs in this
// test on the origin scripts/e2e-server.sh lists in HOST_APP_ORIGINS (the app's port + 1000):
// a page with the credits widget, a route that makes a sign-in link with the host API and
// redirects to it, and an endpoint that receives Atlas Credits' webhooks and verifies them with
// the `standardwebhooks` library (an implementation independent of ours).

const appPort = Number(process.env.E2E_PORT ?? 3917);
const credits = `http://127.0.0.1:${appPort}`;
const hostPort = appPort + 1000;
const host = `http://127.0.0.1:${hostPort}`;

type Delivery = { id: string; type: string; data: Record<string, unknown> };

/** A minimal Atlas: its own user `externalId`, the API key and the webhook secret it was given. */
class Atlas {
  server!: http.Server;
  deliveries: Delivery[] = [];
  refused = 0;
  secret = '';

  constructor(
    readonly apiKey: string,
    readonly externalId: string,
  ) {}

  async api(method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${credits}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res).catch((e) => {
      res.writeHead(500).end(String(e));
    }));
    await new Promise<void>((ok) => this.server.listen(hostPort, '127.0.0.1', ok));
    expect((this.server.address() as AddressInfo).port).toBe(hostPort);
  }

  async stop(): Promise<void> {
    await new Promise((ok) => this.server.close(ok));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.method === 'GET' && req.url === '/app') {
      // Atlas's page: a fresh read-only widget token per page view, from Atlas's backend.
      const { token } = await this.api('POST', `/users/${this.externalId}/widget-tokens`);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><head><title>Atlas</title></head><body><h1>Atlas</h1>
        <div id="credits-widget"></div>
        <script src="${credits}/widget.js" data-token="${token}" data-buy-url="/buy-credits" data-target="credits-widget" async></script>
        </body></html>`);
    } else if (req.method === 'GET' && req.url === '/buy-credits') {
      // "Buy credits": a one-time sign-in link for the signed-in Atlas user, then off they go.
      const link = await this.api('POST', `/users/${this.externalId}/sessions`, {
        return_to: '/credits',
        back_url: `${host}/app`,
      });
      res.writeHead(303, { location: link.url }).end();
    } else if (req.method === 'POST' && req.url === '/webhooks/atlas-credits') {
      try {
        const headers = Object.fromEntries(
          ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(req.headers[h] ?? '')]),
        );
        const event = new Webhook(this.secret).verify(body, headers) as { type: string; data: Record<string, unknown> };
        this.deliveries.push({ id: headers['webhook-id'], type: event.type, data: event.data });
        res.writeHead(204).end();
      } catch {
        this.refused += 1;
        res.writeHead(400).end('bad signature');
      }
    } else if (req.url === '/favicon.ico') {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  }
}

test.describe('Atlas, the host app', () => {
  test.skip(negativeControl, 'normal run only');

  test('a sign-in link from Atlas, a Starter purchase, a verified webhook back, and the widget updated', async ({
    page,
  }) => {
    const errors = collectPageErrors(page);
    const apiKey = cli(['create-api-key', '--name', `atlas-e2e-${Date.now()}`]).trim();
    const externalId = `atlas-${Date.now()}`;
    const atlas = new Atlas(apiKey, externalId);
    await atlas.start();
    try {
      // Atlas listens on loopback here, which the app refuses unless told otherwise.
      const out = cli(
        [
          'webhook-endpoints', 'add',
          '--url', `${host}/webhooks/atlas-credits`,
          '--events', 'credits.purchased,credits.refunded',
        ],
        { HOST_WEBHOOKS_ALLOW_PRIVATE: 'true' },
      );
      atlas.secret = out.match(/whsec_[A-Za-z0-9+/=]+/)![0];
      await atlas.api('PUT', `/users/${externalId}`, { email: freshEmail('atlas-user') });

      // Atlas's page shows the widget with the user's balance.
      await page.goto(`${host}/app`);
      const widget = page.frameLocator('#credits-widget iframe');
      await expect(widget.locator('#amount')).toHaveText('0 credits');
      await expect(widget.locator('#note')).toHaveText('Running low');

      // "Buy credits" goes through Atlas's backend and a sign-in link: no password asked.
      await widget.getByRole('link', { name: 'Buy credits' }).click();
      await expect(page).toHaveURL(`${credits}/credits`);
      await waitForHydration(page);
      const back = page.getByRole('link', { name: /Back to Atlas/ });
      await expect(back).toHaveAttribute('href', `${host}/app`);

      await page.getByRole('button', { name: 'Buy Starter' }).click();
      await expect(page).toHaveURL(/\/_sim\/whop\/checkout\/ch_/);
      await page.getByRole('button', { name: 'Pay', exact: true }).click();
      await expect(page).toHaveURL(/\/payment\/status\?order=\d+$/);
      await expect(statusText(page)).toContainText('5,000 credits added. Your balance is 5,000.');

      // Atlas hears about it: one signed credits.purchased, verified by an independent library.
      await expect.poll(() => atlas.deliveries.length, { timeout: 15_000 }).toBe(1);
      const [event] = atlas.deliveries;
      expect(event.type).toBe('credits.purchased');
      expect(event.id).toMatch(/^msg_/);
      expect(event.data).toMatchObject({ external_id: externalId, credits: 5000, balance: 5000 });
      expect(atlas.refused).toBe(0);

      // Back to Atlas, where the widget shows the new balance.
      await page.getByRole('link', { name: /Back to Atlas/ }).first().click();
      await expect(page).toHaveURL(`${host}/app`);
      await expect(page.frameLocator('#credits-widget iframe').locator('#amount')).toHaveText('5,000 credits');

      expect(errors).toEqual([]);
    } finally {
      await atlas.stop();
    }
  });

  test('the link is one-time and the widget cannot be framed by another site', async ({ page, request }) => {
    const apiKey = cli(['create-api-key', '--name', `atlas-e2e-once-${Date.now()}`]).trim();
    const externalId = `atlas-once-${Date.now()}`;
    const atlas = new Atlas(apiKey, externalId);
    await atlas.api('PUT', `/users/${externalId}`, { email: freshEmail('atlas-once') });
    const link = await atlas.api('POST', `/users/${externalId}/sessions`, { return_to: '/account' });
    await page.goto(link.url);
    await expect(page).toHaveURL(`${credits}/account`);
    await page.context().clearCookies();
    await page.goto(link.url);
    await expect(page.getByRole('heading', { level: 1 })).toContainText(/link/i);
    // The page's own "Log in" (the header has one too when signed out).
    await expect(page.locator('#link-problem').getByRole('link', { name: 'Log in' })).toBeVisible();

    // The frame names who may embed it; everything else is unframable.
    const frame = await request.get('/widget');
    expect(frame.headers()['content-security-policy']).toContain(`frame-ancestors ${host}`);
    const account = await request.get('/account');
    expect(account.headers()['x-frame-options']).toBe('DENY');
  });
});
