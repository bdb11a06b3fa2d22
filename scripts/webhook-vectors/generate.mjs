// Generates tests/fixtures/webhook_vectors.json: test vectors for our Whop webhook verifier
// (src/server/whop/verify.rs), signed by the `standardwebhooks` npm package, an implementation
// independent of ours. tests/webhook_vectors.rs checks our verifier against every case.
//
//   cd scripts/webhook-vectors && npm install --no-audit --no-fund && node generate.mjs
//
// Key handling is Whop's documented one (whop-api.md §5.4): the library base64-decodes the key it
// is given, so it gets `base64(utf8(secret))` and ends up keying HMAC-SHA256 with the `ws_...`
// secret's UTF-8 bytes verbatim, which is what Whop signs with.
//
// The output is deterministic: a fixed "now", fixed ids, secrets derived from fixed labels.
// Besides signing, the script asks the library's own `verify` (clock pinned to "now") about every
// case and throws if it disagrees with the expected outcome, except for the cases listed in
// KNOWN_DIVERGENCES, where we are deliberately stricter than the library.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Webhook } from "standardwebhooks";

const here = dirname(fileURLToPath(import.meta.url));
const OUT = join(here, "..", "..", "tests", "fixtures", "webhook_vectors.json");

/** The fixed clock of every case (2025-12-06T05:46:40Z). */
const NOW = 1_765_000_000;
/** The replay window of Standard Webhooks and of our verifier, either way. */
const TOLERANCE = 300;

/** `ws_` + 64 hex, like Whop's `"ws_" + SecureRandom.hex(32)`, derived from a label. */
const wsSecret = (label) =>
  `ws_${createHash("sha256").update(`atlas-credits webhook vectors: ${label}`).digest("hex")}`;

const SECRET = wsSecret("current");
const OLD_SECRET = wsSecret("previous (rotated out)");
const OTHER_SECRET = wsSecret("some other webhook");
const THIRD_SECRET = wsSecret("neither of the configured ones");

const b64 = (s) => Buffer.from(s, "utf8").toString("base64");

/** The library, keyed the way Whop documents: `new Webhook(btoa(secret))`. */
const whopWebhook = (secret) => new Webhook(b64(secret));

/** Signs with the library at `ts` (Unix seconds): the `v1,<base64>` header value. */
const sign = (secret, id, ts, body) => whopWebhook(secret).sign(id, new Date(ts * 1000), body);

/** The SDK's negative control: the key double-encoded, `base64(base64(secret))`. */
const signDoubleEncoded = (secret, id, ts, body) =>
  new Webhook(b64(b64(secret))).sign(id, new Date(ts * 1000), body);

/** A Whop v1 envelope, compact JSON, as the raw body would arrive. */
const envelope = (msgId, payId, ts, extraData = {}) =>
  JSON.stringify({
    id: msgId,
    api_version: "v1",
    type: "payment.succeeded",
    timestamp: new Date(ts * 1000).toISOString(),
    company_id: "biz_k2QwXyR7pLm3Vn",
    data: { id: payId, status: "paid", currency: "usd", total: 19.0, ...extraData },
  });


const headers = (id, ts, signature) => ({
  "webhook-id": id,
  "webhook-timestamp": ts,
  "webhook-signature": signature,
});

const without = (h, name) => {
  const copy = { ...h };
  delete copy[name];
  return copy;
};

const cases = [];
const add = (name, { secrets = [SECRET], headers: h, body, expected, note }) => {
  const c = { name, secrets, headers: h, body, now: NOW, expected };
  if (note !== undefined) c.note = note;
  cases.push(c);
};

// --- The plain valid delivery and its variations -------------------------------------------------

const ID = "msg_2tQh7xK9vB3nR5pL8mW1cY4zA6d";
const PAY = "pay_Hq3mZt8LwX2vKd";
const BODY = envelope(ID, PAY, NOW);
const SIG = sign(SECRET, ID, NOW, BODY);
const H = headers(ID, String(NOW), SIG);

add("valid", { headers: H, body: BODY, expected: "ok" });

{
  // One byte of the body changed: the amount, 19 -> 99.
  const tampered = BODY.replace('"total":19', '"total":99');
  if (tampered.length !== BODY.length || tampered === BODY) throw new Error("tamper failed");
  add("tampered_body_one_byte", {
    headers: H,
    body: tampered,
    expected: "no_matching_signature",
  });
}

add("reserialized_body", {
  headers: H,
  body: JSON.stringify(JSON.parse(BODY), null, 2),
  expected: "no_matching_signature",
  note: "same JSON value, other bytes: verification is over the raw body",
});

add("wrong_secret", {
  headers: headers(ID, String(NOW), sign(OTHER_SECRET, ID, NOW, BODY)),
  body: BODY,
  expected: "no_matching_signature",
});

add("webhook_id_changed", {
  headers: headers("msg_2tQh7xK9vB3nR5pL8mW1cY4zA6e", String(NOW), SIG),
  body: BODY,
  expected: "no_matching_signature",
});

add("timestamp_header_changed_within_tolerance", {
  headers: headers(ID, String(NOW - 1), SIG),
  body: BODY,
  expected: "no_matching_signature",
  note: "signed at now, sent as now-1",
});

// --- Time window: each signed by the library at that very timestamp ------------------------------

for (const [name, ts, expected] of [
  ["stale_timestamp_301s_old", NOW - TOLERANCE - 1, "timestamp_out_of_tolerance"],
  ["future_timestamp_301s_ahead", NOW + TOLERANCE + 1, "timestamp_out_of_tolerance"],
  ["timestamp_exactly_300s_old", NOW - TOLERANCE, "ok"],
  ["timestamp_exactly_300s_ahead", NOW + TOLERANCE, "ok"],
]) {
  const id = `msg_Wn4cV8rT1kP6sJ3x${ts}`;
  const body = envelope(id, PAY, ts);
  add(name, { headers: headers(id, String(ts), sign(SECRET, id, ts, body)), body, expected });
}

add("non_numeric_timestamp", {
  headers: headers(ID, "not-a-timestamp", SIG),
  body: BODY,
  expected: "bad_timestamp",
});

add("timestamp_with_trailing_garbage", {
  headers: headers(ID, `${NOW}abc`, SIG),
  body: BODY,
  expected: "bad_timestamp",
  note: "the library's parseInt reads the leading digits and accepts this; we refuse a header that is not a Unix time",
});

// --- Missing or empty headers ----------------------------------------------------------------------

for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
  add(`missing_${name.replace("-", "_")}`, {
    headers: without(H, name),
    body: BODY,
    expected: "missing_header",
  });
}

add("empty_webhook_id", {
  headers: headers("", String(NOW), SIG),
  body: BODY,
  expected: "missing_header",
});

add("empty_signature_header", {
  headers: headers(ID, String(NOW), ""),
  body: BODY,
  expected: "missing_header",
});

// --- Malformed signatures ------------------------------------------------------------------------

add("v1_with_empty_base64", {
  headers: headers(ID, String(NOW), "v1,"),
  body: BODY,
  expected: "no_matching_signature",
});

add("truncated_signature_valid_base64", {
  headers: headers(ID, String(NOW), SIG.slice(0, -4)),
  body: BODY,
  expected: "no_matching_signature",
  note: "last 4 base64 chars cut: decodes to 30 of the 32 MAC bytes",
});

add("truncated_signature_invalid_base64", {
  headers: headers(ID, String(NOW), SIG.slice(0, -1)),
  body: BODY,
  expected: "no_matching_signature",
  note: "padding cut: not valid base64",
});

add("signature_without_version", {
  headers: headers(ID, String(NOW), SIG.slice("v1,".length)),
  body: BODY,
  expected: "no_matching_signature",
});

// --- Several entries and other versions ----------------------------------------------------------

add("several_entries_one_valid", {
  headers: headers(
    ID,
    String(NOW),
    [sign(OTHER_SECRET, ID, NOW, BODY), "v1,", SIG, sign(THIRD_SECRET, ID, NOW, BODY)].join(" "),
  ),
  body: BODY,
  expected: "ok",
});

add("several_entries_none_valid", {
  headers: headers(
    ID,
    String(NOW),
    [sign(OTHER_SECRET, ID, NOW, BODY), SIG.slice(0, -4), sign(THIRD_SECRET, ID, NOW, BODY)].join(" "),
  ),
  body: BODY,
  expected: "no_matching_signature",
});

add("other_version_v1a_ignored", {
  headers: headers(ID, String(NOW), `v1a,${SIG.slice("v1,".length)}`),
  body: BODY,
  expected: "no_matching_signature",
  note: "the right MAC under another version prefix does not count",
});

add("other_version_v2_ignored", {
  headers: headers(ID, String(NOW), `v2,${SIG.slice("v1,".length)}`),
  body: BODY,
  expected: "no_matching_signature",
});

add("other_version_entry_before_valid_v1", {
  headers: headers(ID, String(NOW), `v1a,${SIG.slice("v1,".length)} v2,bm90IGEgbWFj ${SIG}`),
  body: BODY,
  expected: "ok",
});

// --- Secret rotation -----------------------------------------------------------------------------

add("rotated_signed_with_old_secret_two_configured", {
  secrets: [SECRET, OLD_SECRET],
  headers: headers(ID, String(NOW), sign(OLD_SECRET, ID, NOW, BODY)),
  body: BODY,
  expected: "ok",
});

add("rotated_signed_with_new_secret_two_configured", {
  secrets: [SECRET, OLD_SECRET],
  headers: H,
  body: BODY,
  expected: "ok",
});

add("rotated_signed_with_neither_secret", {
  secrets: [SECRET, OLD_SECRET],
  headers: headers(ID, String(NOW), sign(THIRD_SECRET, ID, NOW, BODY)),
  body: BODY,
  expected: "no_matching_signature",
});

// --- Key handling --------------------------------------------------------------------------------

add("double_base64_encoded_key", {
  headers: headers(ID, String(NOW), signDoubleEncoded(SECRET, ID, NOW, BODY)),
  body: BODY,
  expected: "no_matching_signature",
  note: "negative control from Whop's SDK: keyed with base64(base64(secret))",
});

// --- Bodies --------------------------------------------------------------------------------------

{
  const id = "msg_9fLp2Rk7Tz4Qw1Xc6Vb8Nm3Hj5d";
  const body = `${envelope(id, "pay_Zr5Tn2Qm8Kx4Wv", NOW, {
    description: "Crédits Atlas — 500 ⚡ für Café Zürich 日本語 🚀",
  })}\n`;
  add("unicode_body_with_trailing_newline", {
    headers: headers(id, String(NOW), sign(SECRET, id, NOW, body)),
    body,
    expected: "ok",
  });
  add("unicode_body_trailing_newline_dropped", {
    headers: headers(id, String(NOW), sign(SECRET, id, NOW, body)),
    body: body.slice(0, -1),
    expected: "no_matching_signature",
  });
}

{
  const id = "msg_4kDs8Gh1Jf6Lz3Qa9Wx2Ec7Rv5t";
  add("empty_body", {
    headers: headers(id, String(NOW), sign(SECRET, id, NOW, "")),
    body: "",
    expected: "ok",
  });
}

// --- What the library itself says about each case ------------------------------------------------

/** Cases where our verifier is deliberately stricter than the library (it accepts them). */
const KNOWN_DIVERGENCES = new Set(["timestamp_with_trailing_garbage"]);

/** The library's verdict with its clock pinned to `now`: "ok", or the error message. */
function libraryVerdict(c) {
  const realNow = Date.now;
  Date.now = () => c.now * 1000;
  try {
    const errors = [];
    for (const secret of c.secrets) {
      try {
        whopWebhook(secret).verify(c.body, c.headers, { jsonParse: false });
        return "ok";
      } catch (e) {
        errors.push(e.message);
      }
    }
    return errors.join("; ");
  } finally {
    Date.now = realNow;
  }
}

const disagreements = [];
for (const c of cases) {
  const verdict = libraryVerdict(c);
  const libraryOk = verdict === "ok";
  const expectedOk = c.expected === "ok";
  if (KNOWN_DIVERGENCES.has(c.name)) {
    if (libraryOk === expectedOk) {
      disagreements.push(`${c.name}: listed as a divergence but the library agrees now (${verdict})`);
    }
  } else if (libraryOk !== expectedOk) {
    disagreements.push(`${c.name}: expected ${c.expected}, library says ${verdict}`);
  }
}
if (disagreements.length > 0) {
  throw new Error(`the standardwebhooks library disagrees:\n  ${disagreements.join("\n  ")}`);
}

const names = new Set(cases.map((c) => c.name));
if (names.size !== cases.length) throw new Error("duplicate case names");

const { version } = JSON.parse(
  readFileSync(join(here, "node_modules", "standardwebhooks", "package.json"), "utf8"),
);

mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(
  OUT,
  `${JSON.stringify(
    {
      generator: `scripts/webhook-vectors/generate.mjs with standardwebhooks ${version}`,
      now: NOW,
      tolerance_secs: TOLERANCE,
      cases,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${cases.length} cases to ${OUT}`);
