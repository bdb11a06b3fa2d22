import path from 'node:path';
import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// Benchmarks in the browser (`npm run bench:credit`, `make bench-credit`): figures, not pass/fail
// tests, so they live outside ./tests and `npx playwright test` never runs them. Same release
// server and browser as the tests, on a port of its own, with its logs as JSON in a file: the
// bench reads the server's timestamps from there.
const port = Number(process.env.BENCH_PORT ?? 3919);
const baseURL = `http://127.0.0.1:${port}`;
export const serverLog = path.resolve(__dirname, `.bench-${port}.log`);

export default defineConfig({
  ...base,
  testDir: './bench',
  // 20 purchases, each with its own sign-up.
  timeout: 300_000,
  use: { ...base.use, baseURL },
  webServer: {
    command: `bash scripts/e2e-server.sh 2>"${serverLog}"`,
    cwd: '..',
    url: `${baseURL}/healthz`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'ignore',
    env: {
      E2E_PORT: String(port),
      LOG_FORMAT: 'json',
      // tower_http at debug logs when each request arrives: the moment the simulator's webhook
      // reaches the app. The request span (router.rs, debug) carries the path that tells which.
      RUST_LOG: 'warn,atlas_credits=info,atlas_credits::server::router=debug,tower_http=debug',
    },
  },
});
