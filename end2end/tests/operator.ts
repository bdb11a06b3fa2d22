import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Browser, expect, Page } from '@playwright/test';
import { freshEmail, ownAddress, PASSWORD } from './buying';
import { waitForHydration } from './support';

// What an operator does beside the browser: the release binary's commands, run against the e2e
// server's database (the one scripts/e2e-server.sh gives it), and an admin made that way.

/** Runs the release binary with `args` on the e2e database; returns what it printed. */
export function cli(args: string[], env: Record<string, string> = {}): string {
  const root = path.resolve(__dirname, '../..');
  const port = process.env.E2E_PORT ?? '3917';
  const db =
    (process.env.E2E_DB ?? 'sqlite') === 'postgres'
      ? `${process.env.TEST_POSTGRES_URL!.replace(/\/[^/]*$/, '')}/atlas_e2e_${port}`
      : `sqlite://end2end/.e2e-${port}/e2e.db`;
  return execFileSync(path.join(root, 'target/release/atlas-credits'), args, {
    cwd: root,
    env: { ...process.env, DATABASE_URL: db, WHOP_MODE: 'simulated', RUST_LOG: 'warn', ...env },
    encoding: 'utf8',
  });
}

/** A new admin made with `create-admin`, signed in on a page of its own and landed on `next`. */
export async function signedInAdmin(browser: Browser, next: string): Promise<Page> {
  const email = freshEmail('admin');
  cli(['create-admin', '--email', email], { ATLAS_ADMIN_PASSWORD: PASSWORD });
  const admin = await (await browser.newContext({ extraHTTPHeaders: ownAddress() })).newPage();
  await admin.goto(`/login?next=${next}`);
  await waitForHydration(admin);
  await admin.getByLabel('Email').fill(email);
  await admin.getByLabel('Password').fill(PASSWORD);
  await admin.getByRole('button', { name: 'Log in' }).click();
  await expect(admin).toHaveURL(new RegExp(`${next.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`));
  await waitForHydration(admin);
  return admin;
}
