// Records tests/fixtures/whop_sdk_requests.json: the exact HTTP requests the official Whop SDK
// (`@whop/sdk`, pinned to 0.0.42 in package.json) sends for every API call our Rust client makes
// (src/server/whop/client.rs). tests/whop_client.rs makes the same calls with the Rust client and
// checks method, path and query, body and the interesting headers against these, byte for byte.
//
//   cd scripts/whop-sdk-requests && npm install --no-audit --no-fund && npm run record
//
// How: a local HTTP server on 127.0.0.1 (a free port) records each request and answers with a
// plausible canned Whop JSON object (kept in the fixture as `response`, so the Rust test can give
// our client the very same answer); the SDK is pointed at it with `maxRetries: 0`. Every call has
// fixed arguments, so the output is deterministic (the port is not part of it).
//
// Each fixture entry:
//   name            unique label of the case (what the Rust test looks up)
//   op              the SDK method called
//   args            the arguments it was called with, positionally ('Idempotency-Key' included)
//   method          HTTP method
//   path_and_query  the request target exactly as received (e.g. /api/v1/payments?first=50)
//   headers         authorization, api-version-date, content-type, idempotency-key, x-whop-app-id
//                   (null when not sent)
//   body            the body exactly as received, or null when there was none
//   response        {status, body} the server answered with

import { createServer } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Whop from "@whop/sdk";

const here = dirname(fileURLToPath(import.meta.url));
const OUT = join(here, "..", "..", "tests", "fixtures", "whop_sdk_requests.json");
const SDK_VERSION = JSON.parse(readFileSync(join(here, "node_modules", "@whop", "sdk", "package.json"), "utf8")).version;
if (SDK_VERSION !== "0.0.42") throw new Error(`expected @whop/sdk 0.0.42, found ${SDK_VERSION}`);

const RECORDED_HEADERS = ["authorization", "api-version-date", "content-type", "idempotency-key", "x-whop-app-id"];

// ---- Canned answers: shaped like Whop's objects at API version 2026-07-20 (money in major units).

const T0 = "2026-01-02T03:04:05.000Z";
const T1 = "2026-01-02T03:09:41.000Z";

const payment = (id, extra = {}) => ({
  id,
  amount_after_fees: 31.24,
  application_fee: null,
  auto_refunded: false,
  billing_address: null,
  billing_reason: "one_time",
  card_brand: "visa",
  card_last4: "4242",
  checkout_configuration_id: "ch_1",
  company: { id: "biz_1", route: "atlas", title: "Atlas" },
  created_at: T0,
  currency: "usd",
  dispute_alerted_at: null,
  disputes: [],
  failure_message: null,
  financing_installments_count: null,
  financing_transactions: [],
  last_payment_attempt: T0,
  member: { id: "mber_1", phone: null },
  membership: { id: "mem_1", phone_number: null, status: "completed" },
  metadata: { order_id: "42", user_id: "7" },
  next_payment_attempt: null,
  paid_at: T1,
  payment_method: null,
  payment_method_type: "card",
  payments_failed: 0,
  plan: { id: "plan_abc", internal_notes: null, metadata: { plan: "pro" } },
  product: { id: "prod_1", metadata: null, route: "atlas-credits", title: "Atlas Credits" },
  promo_code: null,
  refundable: true,
  refunded_amount: null,
  refunded_at: null,
  refunds: [],
  resolutions: [],
  retryable: false,
  risk_score: 3,
  risk_signals: null,
  settlement_amount: 32.5,
  settlement_currency: "usd",
  settlement_exchange_rate: null,
  shipping_address: null,
  status: "paid",
  substatus: "succeeded",
  subtotal: 32.5,
  tax_amount: 0,
  tax_behavior: "exclusive",
  tax_refunded_amount: null,
  three_ds_verified: false,
  total: 32.5,
  updated_at: T1,
  usd_total: 32.5,
  user: { id: "user_1", email: "buyer@example.com", name: "Buyer", username: "buyer" },
  voidable: false,
  ...extra,
});

const plan = (extra = {}) => ({
  id: "plan_abc",
  account: null,
  adaptive_pricing_enabled: false,
  billing_period: null,
  collect_tax: false,
  created_at: T0,
  currency: "usd",
  custom_fields: [],
  description: null,
  expiration_days: null,
  initial_price: 32.5,
  internal_notes: null,
  invoice: null,
  member_count: 0,
  metadata: { plan: "pro" },
  payment_method_configuration: null,
  plan_type: "one_time",
  product: { id: "prod_1", title: "Atlas Credits" },
  purchase_url: "https://whop.com/checkout/plan_abc",
  release_method: "buy_now",
  renewal_price: 0,
  split_pay_required_payments: null,
  stock: null,
  tax_type: "unspecified",
  three_ds_level: null,
  title: "Pro",
  trial_period_days: null,
  unlimited_stock: true,
  updated_at: T1,
  visibility: "hidden",
  ...extra,
});

const checkoutConfiguration = {
  id: "ch_1",
  account_id: "biz_1",
  affiliate_code: null,
  created_at: T0,
  currency: null,
  metadata: { order_id: "42", user_id: "7" },
  mode: "payment",
  payment_method_configuration: null,
  plan: {
    id: "plan_abc",
    adaptive_pricing_enabled: false,
    billing_period: null,
    currency: "usd",
    expiration_days: null,
    initial_price: 32.5,
    plan_type: "one_time",
    release_method: "buy_now",
    renewal_price: 0,
    three_ds_level: null,
    trial_period_days: null,
    visibility: "hidden",
  },
  purchase_url: "https://whop.com/checkout/plan_abc?session=ch_1",
  redirect_url: "https://credits.example.com/pay/42?x=1",
  three_ds_level: null,
  updated_at: T0,
};

const product = {
  id: "prod_1",
  company: { id: "biz_1", route: "atlas", title: "Atlas" },
  created_at: T0,
  custom_cta: "get_access",
  custom_cta_url: null,
  custom_statement_descriptor: null,
  description: null,
  external_identifier: null,
  gallery_images: [],
  global_affiliate_percentage: null,
  global_affiliate_status: "disabled",
  headline: null,
  member_affiliate_percentage: null,
  member_affiliate_status: "disabled",
  member_count: 0,
  metadata: null,
  owner_user: { id: "user_owner", name: "Owner", username: "owner" },
  product_tax_code: null,
  published_reviews_count: 0,
  route: "atlas-credits",
  title: "Atlas Credits",
  updated_at: T0,
  verified: false,
  visibility: "hidden",
};

/** The answer for a request: [status, JSON value]. */
function answer(method, url) {
  const path = url.split("?")[0];
  const query = new URLSearchParams(url.split("?")[1] ?? "");
  if (method === "POST" && path === "/api/v1/checkout_configurations") return [200, checkoutConfiguration];
  if (method === "GET" && path === "/api/v1/payments") {
    if (query.get("after") === "cur_2") {
      return [200, { data: [payment("pay_2")], page_info: { end_cursor: null, start_cursor: "cur_2", has_next_page: false, has_previous_page: true } }];
    }
    return [200, { data: [payment("pay_1")], page_info: { end_cursor: "cur_2", start_cursor: "cur_1", has_next_page: true, has_previous_page: false } }];
  }
  if (method === "POST" && path === "/api/v1/payments/pay_123/refund") {
    return [200, payment("pay_123", {
      refunded_amount: 10.5,
      refunded_at: T1,
      substatus: "partially_refunded",
      refunds: [{ id: "rf_1", amount: 10.5, created_at: T1, currency: "usd", status: "pending" }],
    })];
  }
  if (method === "GET" && path === "/api/v1/payments/pay_123") return [200, payment("pay_123")];
  if (method === "POST" && path === "/api/v1/plans") return [200, plan()];
  if (method === "GET" && path === "/api/v1/plans") {
    const { collect_tax, custom_fields, tax_type, ...item } = plan();
    return [200, { data: [item], page_info: { end_cursor: null, start_cursor: null, has_next_page: false, has_previous_page: false } }];
  }
  if (method === "GET" && path === "/api/v1/plans/plan_abc") return [200, plan()];
  if (method === "PATCH" && path === "/api/v1/plans/plan_abc") return [200, plan({ initial_price: 12, title: "Starter" })];
  if (method === "DELETE" && path === "/api/v1/plans/plan_abc") return [200, true];
  if (method === "POST" && path === "/api/v1/products") return [200, product];
  return [404, { error: { type: "not_found", message: `no canned answer for ${method} ${url}` } }];
}

// ---- The recording server.

const received = [];
const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const [status, value] = answer(req.method, req.url);
    const text = JSON.stringify(value);
    received.push({
      method: req.method,
      path_and_query: req.url,
      headers: Object.fromEntries(RECORDED_HEADERS.map((h) => [h, req.headers[h] ?? null])),
      body: chunks.length === 0 ? null : body,
      response: { status, body: text },
    });
    res.statusCode = status;
    res.setHeader("content-type", "application/json");
    res.end(text);
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address();

// WHOP_* environment variables would change what the SDK sends (base URL, version, app id).
for (const name of ["WHOP_API_KEY", "WHOP_BASE_URL", "WHOP_API_VERSION", "WHOP_APP_ID", "WHOP_CUSTOM_HEADERS"]) {
  delete process.env[name];
}
const whop = new Whop({ apiKey: "test_key", baseURL: `http://127.0.0.1:${port}/api/v1`, maxRetries: 0 });

// ---- The calls. `expect` is how many requests the call must make.

const cases = [];

async function record(name, op, args, expect, call) {
  const before = received.length;
  await call();
  const requests = received.slice(before);
  if (requests.length !== expect.length) {
    throw new Error(`${name}: expected ${expect.length} request(s), saw ${requests.length}`);
  }
  requests.forEach((r, i) => {
    if (r.response.status !== 200) throw new Error(`${name}: no canned answer for ${r.method} ${r.path_and_query}`);
    cases.push({ name: expect[i], op, args, ...r });
  });
}

/** Calls `whop.<op>(...args)`; `op` is e.g. "payments.refund". */
const invoke = (op, args) => {
  const [resource, method] = op.split(".");
  return whop[resource][method](...args);
};

const simple = (name, op, args) => record(name, op, args, [name], () => invoke(op, args));

await simple("checkout_configurations.create", "checkoutConfigurations.create", [
  {
    plan_id: "plan_abc",
    metadata: { order_id: "42", user_id: "7" },
    redirect_url: "https://credits.example.com/pay/42?x=1",
    "Idempotency-Key": "order-42",
  },
]);
await simple("payments.retrieve", "payments.retrieve", ["pay_123"]);

// Auto-pagination: the first answer carries end_cursor "cur_2", the second none, so exactly two requests.
const listArgs = [
  {
    company_id: "biz_1",
    statuses: ["paid", "open"],
    checkout_configuration_ids: ["ch_1", "ch_2"],
    created_after: "2026-01-01T00:00:00Z",
    first: 50,
  },
];
await record("payments.list", "payments.list", listArgs, ["payments.list", "payments.list.page_2"], async () => {
  const ids = [];
  for await (const p of whop.payments.list(...listArgs)) ids.push(p.id);
  if (ids.join(",") !== "pay_1,pay_2") throw new Error(`payments.list iterated ${ids}`);
});

// What reconciliation asks: every payment of the account changed since a time.
const changedArgs = [{ company_id: "biz_1", updated_after: "2026-01-01T00:00:00Z" }];
await record(
  "payments.list.changed",
  "payments.list",
  changedArgs,
  ["payments.list.changed", "payments.list.changed.page_2"],
  async () => {
    const ids = [];
    for await (const p of whop.payments.list(...changedArgs)) ids.push(p.id);
    if (ids.join(",") !== "pay_1,pay_2") throw new Error(`payments.list iterated ${ids}`);
  },
);

await simple("payments.refund.full", "payments.refund", ["pay_123"]);
await simple("payments.refund.partial", "payments.refund", ["pay_123", { partial_amount: 10.5 }]);
await simple("plans.create", "plans.create", [
  {
    account_id: "biz_1",
    product_id: "prod_1",
    plan_type: "one_time",
    initial_price: 32.5,
    currency: "usd",
    title: "Pro",
    visibility: "hidden",
    metadata: { plan: "pro" },
    "Idempotency-Key": "plan-pro",
  },
]);
await simple("plans.retrieve", "plans.retrieve", ["plan_abc"]);
await simple("plans.update", "plans.update", ["plan_abc", { initial_price: 12, title: "Starter" }]);
await simple("plans.delete", "plans.delete", ["plan_abc"]);
await simple("plans.list", "plans.list", [
  { account_id: "biz_1", visibilities: ["hidden"], product_ids: ["prod_1"], first: 100 },
]);
await simple("products.create", "products.create", [
  { title: "Atlas Credits", account_id: "biz_1", visibility: "hidden", "Idempotency-Key": "product-1" },
]);

server.close();

const names = new Set(cases.map((c) => c.name));
if (names.size !== cases.length) throw new Error("duplicate case names");

writeFileSync(OUT, `${JSON.stringify(cases, null, 2)}\n`);
console.log(`wrote ${cases.length} requests from @whop/sdk ${SDK_VERSION} to ${OUT}`);
