import { defineConfig } from '@playwright/test';

// The app is served by the release binary built by `cargo leptos build --release`
// (scripts/e2e-server.sh), on its own port and a fresh database per run (SQLite, or PostgreSQL
// with E2E_DB=postgres).
const port = Number(process.env.E2E_PORT ?? 3917);
const baseURL = process.env.BASE_URL ?? `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL,
    headless: true,
    trace: 'off',
    launchOptions: {
      // The system's Chromium: nothing is downloaded (no `playwright install`).
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: process.env.BASE_URL
    ? undefined
    : {
        command: 'bash scripts/e2e-server.sh',
        cwd: '..',
        url: `${baseURL}/healthz`,
        reuseExistingServer: false,
        timeout: 120_000,
        stdout: 'pipe',
        stderr: 'pipe',
        env: { E2E_PORT: String(port) },
      },
});
