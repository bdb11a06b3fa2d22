// Type-checks tests/fixtures/simulator_payloads.json (every webhook and payment API answer of the
// built-in Whop simulator, recorded by tests/simulator_payloads.rs) against the official SDK's
// types, @whop/sdk 0.0.42. Each payload becomes an object LITERAL assigned to its SDK type, so
// `tsc --noEmit --strict` rejects a missing field, a wrong type or enum value, and (TypeScript's
// excess-property check on literals) any field the type does not have.
//
//   make check-sim-payloads     (part of `make lint`)
//   node scripts/whop-sdk-requests/typecheck-payloads.mjs [fixture.json]
//
// @whop/sdk and typescript come from end2end/node_modules, where end2end/package.json pins both
// (scripts/setup.sh installs them). On failure the generated file is kept and its path printed;
// each declaration there is preceded by the fixture entry it came from.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const FIXTURE = process.argv[2] ?? join(ROOT, "tests", "fixtures", "simulator_payloads.json");
const fromEnd2end = createRequire(join(ROOT, "end2end", "package.json"));

function fail(message) {
  console.error(`check-sim-payloads: ${message}`);
  process.exit(1);
}

let sdkDir, tscBin;
try {
  sdkDir = dirname(fromEnd2end.resolve("@whop/sdk"));
  tscBin = fromEnd2end.resolve("typescript/bin/tsc");
} catch {
  fail("@whop/sdk or typescript is missing from end2end/node_modules: run `make setup` (npm ci in end2end/)");
}
const sdkVersion = JSON.parse(readFileSync(join(sdkDir, "package.json"), "utf8")).version;
if (sdkVersion !== "0.0.42") fail(`expected @whop/sdk 0.0.42 in end2end/node_modules, found ${sdkVersion}`);

// The SDK type of each event the simulator sends (all of them members of UnwrapWebhookEvent).
const EVENT_TYPES = {
  "payment.created": "PaymentCreatedWebhookEvent",
  "payment.succeeded": "PaymentSucceededWebhookEvent",
  "payment.failed": "PaymentFailedWebhookEvent",
  "payment.pending": "PaymentPendingWebhookEvent",
  "refund.created": "RefundCreatedWebhookEvent",
  "refund.updated": "RefundUpdatedWebhookEvent",
  "dispute.created": "DisputeCreatedWebhookEvent",
  "dispute.updated": "DisputeUpdatedWebhookEvent",
};
// Every one the checkout outcomes produce must be in the fixture (payment.pending is not one).
const REQUIRED_EVENTS = Object.keys(EVENT_TYPES).filter((t) => t !== "payment.pending");
// The answer types of the SDK's calls: payments.retrieve and payments.refund return
// Shared.Payment; payments.list pages PaymentListResponse.
const API_TYPES = {
  "GET /payments/{id}": "Whop.Payment",
  "GET /payments": "PaymentPage",
  "POST /payments/{id}/refund": "Whop.Payment",
};

const fixture = JSON.parse(readFileSync(FIXTURE, "utf8"));
if (fixture.sdk !== "@whop/sdk 0.0.42") fail(`${FIXTURE} was recorded for ${fixture.sdk}, not @whop/sdk 0.0.42`);
const seen = new Set(fixture.webhooks.map((w) => w.type));
const missing = REQUIRED_EVENTS.filter((t) => !seen.has(t));
if (missing.length) fail(`${FIXTURE} has no ${missing.join(", ")} event`);
const calls = new Set(fixture.api.map((a) => a.call));
const missingCalls = Object.keys(API_TYPES).filter((c) => !calls.has(c));
if (missingCalls.length) fail(`${FIXTURE} has no answer to ${missingCalls.join(", ")}`);

const lines = [
  `import type * as Whop from ${JSON.stringify(join(sdkDir, "resources", "index.js"))};`,
  "",
  "// The SDK's CursorPageResponse declares only `end_cursor` (what its pager reads); Whop's page",
  "// info has these four (whop-api.md, Pagination). The items are checked against the SDK.",
  "interface PageInfo {",
  "  end_cursor: string | null;",
  "  start_cursor: string | null;",
  "  has_next_page: boolean;",
  "  has_previous_page: boolean;",
  "}",
  "interface PaymentPage {",
  "  data: Whop.PaymentListResponse[];",
  "  page_info: PageInfo;",
  "}",
  "",
];
fixture.webhooks.forEach((w, i) => {
  const type = EVENT_TYPES[w.type];
  if (!type) fail(`webhooks[${i}] has event type ${w.type}, which this check does not know`);
  lines.push(`// webhooks[${i}]: ${w.case}, ${w.type}`);
  lines.push(`const event${i}: Whop.${type} = ${JSON.stringify(w.body, null, 2)};`);
  lines.push(`const union${i}: Whop.UnwrapWebhookEvent = event${i};`);
  lines.push(`void union${i};`, "");
});
fixture.api.forEach((a, i) => {
  const type = API_TYPES[a.call];
  if (!type) fail(`api[${i}] is ${a.call}, which this check does not know`);
  lines.push(`// api[${i}]: ${a.call}`);
  lines.push(`const answer${i}: ${type} = ${JSON.stringify(a.body, null, 2)};`);
  lines.push(`void answer${i};`, "");
});

const dir = mkdtempSync(join(tmpdir(), "sim-payloads-"));
writeFileSync(join(dir, "payloads.ts"), lines.join("\n"));
writeFileSync(
  join(dir, "tsconfig.json"),
  JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: "es2022",
      lib: ["es2022", "dom"],
      module: "nodenext",
      moduleResolution: "nodenext",
      types: [],
      // The SDK's own declarations are not ours to check; how our literals fit them is.
      skipLibCheck: true,
    },
    files: ["payloads.ts"],
  }),
);
const run = spawnSync(process.execPath, [tscBin, "--noEmit", "--strict", "-p", join(dir, "tsconfig.json")], {
  encoding: "utf8",
});
process.stdout.write(run.stdout ?? "");
process.stderr.write(run.stderr ?? "");
if (run.status !== 0) {
  fail(`the simulator's payloads do not fit @whop/sdk ${sdkVersion}'s types; generated file kept: ${join(dir, "payloads.ts")}`);
}
rmSync(dir, { recursive: true, force: true });
console.log(
  `check-sim-payloads: ${fixture.webhooks.length} webhooks and ${fixture.api.length} API answers fit @whop/sdk ${sdkVersion}'s types`,
);
