//! The deterministic simulation that proves exactly-once. For each seed it builds a random world
//! (users, orders with true Whop payment histories), plays it through the real app (the Whop
//! simulator, the signed webhook route, the retry job, reconciliation, the status page's
//! confirmation, spends) with deliveries shuffled, duplicated, delayed and dropped and with
//! store failures injected mid-apply, checks the ledger after every step, and at the end checks
//! every order, refund, dispute, unmatched payment and stored event against the truth the seed
//! generated (never against what the app says).
//!
//! `SIM_SEEDS=n` runs seeds 0..n (default 1,000 on SQLite, 200 on PostgreSQL); `SIM_SEED=s`
//! replays one seed alone; `SIM_CONCURRENCY` sets how many seeds run at once (default 2). Many
//! seeds share one app and database per backend: each seed makes its own users and orders, so
//! its checks stay exact. A replay draws the same choices; the timing of the app's own
//! background jobs (and, when seeds run at once, of the other seeds) is not part of the seed.
//!
//! Webhooks: the simulator holds every delivery back (a delay of ten years) and the harness
//! takes them from its queue and posts them itself, signed with the simulator's secret, in
//! whatever order and number the seed chooses; a non-2xx answer is tried up to 3 more times, as
//! Whop does, then given up. The route keys a delivery on its `webhook-id` header and does not
//! compare it with the body's `id`, so a body re-sent under a new id (as Whop's dashboard
//! "resend" does) is a second event, which must apply as a no-op.

use crate::common;
use crate::faulty_store;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlas_credits::model::{Cents, Credits, EntryKind, OrderId, UserId};
use atlas_credits::server::jobs::reconcile::ReconcileReport;
use atlas_credits::server::jobs::webhook_apply::WebhookApplyReport;
use atlas_credits::server::jobs::{Reconcile, WebhookApply};
use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry, LedgerError};
use atlas_credits::server::service::orders::{self, PaidPayment, Via};
use atlas_credits::server::store::refund::clawback_target;
use atlas_credits::server::store::{NewOrder, Store};
use atlas_credits::server::whop::client::{NewCheckout, PaymentFilter};
use atlas_credits::server::whop::simulator::DeliveryMode;
use atlas_credits::server::whop::types::PaymentStatus;
use atlas_credits::server::whop::verify::sign;
use chrono::Utc;
use common::sim_shop::SimShop;
use common::{Db, TestApp};
use faulty_store::{Faults, FaultyStore, Method, When};
use secrecy::SecretString;
use serde_json::{json, Value};

both_backends!(simulation);

/// Credits and price of the Pro plan the simulator's shop sells (see `SimShop`).
const CREDITS: i64 = 25_000;
const PRICE: i64 = 3250;

// ---------------------------------------------------------------------------------------------
// The seed's randomness: splitmix64, small and the same everywhere.

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Mixed once, so neighbouring seeds do not start from neighbouring states.
        let mut r = Rng(seed ^ 0x05EE_D0FA_71A5);
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// lo..=hi.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

// ---------------------------------------------------------------------------------------------
// The truth a seed generates.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Story {
    Paid,
    /// The card is declined, then the same checkout is paid.
    DeclinedThenPaid,
    /// Paid, then refunded through the API in these parts (cents; their sum is at most the price).
    Refunded(Vec<i64>),
    DisputeWon,
    DisputeLost,
    /// Paid through a checkout that names no order (and is not recorded on one).
    NoMetadata,
    /// Paid through the order's checkout, but the order's price differs from the Whop plan's.
    WrongAmount,
}

#[derive(Debug, Clone, Copy)]
enum WhopAction {
    Press(&'static str),
    Refund(i64),
}

#[derive(Debug)]
struct Order {
    story: Story,
    user: usize,
    id: OrderId,
    price: i64,
    checkout_id: String,
    purchase_url: String,
    with_metadata: bool,
    actions: Vec<WhopAction>,
    /// Learned from the simulator's deliveries.
    paid_payment: Option<String>,
    failed_payment: Option<String>,
    refunds: BTreeSet<String>,
    dispute: Option<String>,
}

/// A delivery on its way: Whop's header id, the signed body, tries so far, the first step it
/// may go at.
#[derive(Debug, Clone)]
struct Flight {
    webhook_id: String,
    body: String,
    tries: u32,
    ready_at: usize,
}

/// Whop's retry schedule: the first try and 3 more.
const WHOP_TRIES: u32 = 4;

// ---------------------------------------------------------------------------------------------
// One app per backend, shared by the seeds.

struct World {
    app: TestApp,
    shop: SimShop,
    faults: Arc<Faults>,
    /// Whop actions and the collection of the deliveries they queue happen one seed at a time,
    /// so each seed takes exactly its own deliveries from the simulator's queue.
    gate: tokio::sync::Mutex<()>,
    /// The harness's passes one at a time, so that a seed's final pass waits its turn instead
    /// of polling the lease (the app's own lease still guards against any other pass).
    reconciling: tokio::sync::Mutex<()>,
    checker: Checker,
    secret: SecretString,
    /// Final retry passes run at ever later pretend times, so one seed's final pass never
    /// pushes another seed's events past that seed's own final pass.
    final_clock: AtomicI64,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    posted: AtomicU64,
    refused_posts: AtomicU64,
    lost_at_whop: AtomicU64,
    dropped: AtomicU64,
    steps: AtomicU64,
    spends: AtomicU64,
    passes: AtomicU64,
    confirmations: AtomicU64,
    /// Microseconds spent per kind of step: Whop actions, deliveries, spends, confirmations,
    /// reconciliation passes, retry job runs, balance checks, the final phase and checks.
    micros: [AtomicU64; 10],
}

/// Kinds of step, by their index in `play` (then the phases after it).
const STEP_KINDS: [&str; 10] = [
    "whop",
    "deliver",
    "spend",
    "confirm",
    "reconcile",
    "retry",
    "race",
    "balances",
    "finish",
    "final checks",
];

impl Stats {
    fn time(&self, kind: usize, since: Instant) {
        self.micros[kind].fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

/// Reads that must see one moment: a balance and its ledger sum in one statement (the app may be
/// applying something for the same user meanwhile, on another connection).
enum Checker {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

const BALANCES_AND_SUMS: &str = "select u.id, u.credits_balance, cast(coalesce((select sum(t.amount) from \
     credit_transactions t where t.user_id = u.id), 0) as bigint) from users u where u.id between $1 and $2";
const COUNT_BY_SOURCE: &str = "select count(*) from credit_transactions where source_id = $1";

impl Checker {
    async fn connect(db: Db, url: &str) -> Checker {
        match db {
            Db::Sqlite => Checker::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .unwrap(),
            ),
            Db::Postgres => Checker::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .unwrap(),
            ),
        }
    }

    /// (user id, balance, ledger sum) of the users with ids in `from..=to`.
    async fn balances_and_sums(&self, from: i64, to: i64) -> Vec<(i64, i64, i64)> {
        match self {
            Checker::Sqlite(p) => sqlx::query_as(BALANCES_AND_SUMS)
                .bind(from)
                .bind(to)
                .fetch_all(p)
                .await
                .unwrap(),
            Checker::Postgres(p) => sqlx::query_as(BALANCES_AND_SUMS)
                .bind(from)
                .bind(to)
                .fetch_all(p)
                .await
                .unwrap(),
        }
    }

    async fn balance_and_sum(&self, user: UserId) -> (i64, i64) {
        let rows = self.balances_and_sums(user.0, user.0).await;
        (rows[0].1, rows[0].2)
    }

    async fn count_by_source(&self, source_id: &str) -> i64 {
        match self {
            Checker::Sqlite(p) => sqlx::query_scalar(COUNT_BY_SOURCE)
                .bind(source_id)
                .fetch_one(p)
                .await
                .unwrap(),
            Checker::Postgres(p) => sqlx::query_scalar(COUNT_BY_SOURCE)
                .bind(source_id)
                .fetch_one(p)
                .await
                .unwrap(),
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
    })
}

async fn simulation(db: Db) {
    let backend = match db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    let (seeds, concurrency): (Vec<u64>, usize) = match env_number("SIM_SEED") {
        Some(seed) => (vec![seed], 1),
        None => {
            let default = if db == Db::Sqlite { 1000 } else { 200 };
            let n = env_number("SIM_SEEDS").unwrap_or(default);
            (
                (0..n).collect(),
                env_number("SIM_CONCURRENCY").unwrap_or(2).max(1) as usize,
            )
        }
    };

    let faults = Arc::new(Faults::default());
    let wrap_faults = faults.clone();
    let Some(app) = TestApp::spawn_simulated_with_store(db, move |inner| {
        Arc::new(FaultyStore {
            inner,
            faults: wrap_faults,
        })
    })
    .await
    else {
        return;
    };
    let sim = app.state.whop.simulator.clone().expect("test mode has the simulator");
    // Every delivery waits ten years in the simulator's queue: the harness takes it from there
    // and delivers it itself (the simulator's own sender never finds one due).
    sim.set_delivery_mode(DeliveryMode {
        delay_ms: 10 * 365 * 24 * 3600 * 1000,
        ..DeliveryMode::default()
    });
    let shop = SimShop::open(&app).await;
    let checker = Checker::connect(db, &app.db.url).await;
    let world = Arc::new(World {
        shop,
        faults,
        gate: tokio::sync::Mutex::new(()),
        reconciling: tokio::sync::Mutex::new(()),
        checker,
        secret: sim.webhook_secret.clone(),
        final_clock: AtomicI64::new(0),
        stats: Stats::default(),
        app,
    });

    let started = Instant::now();
    let seeds = Arc::new(seeds);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<(u64, String)>::new()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(seeds.len()) {
        let (world, seeds, next, failures) = (world.clone(), seeds.clone(), next.clone(), failures.clone());
        workers.spawn(async move {
            loop {
                if !failures.lock().unwrap().is_empty() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { return };
                // A task of its own per seed, so a failed check (a panic) is caught and named.
                let w = world.clone();
                if let Err(e) = tokio::spawn(async move { run_seed(&w, seed).await }).await {
                    let message = panic_text(e);
                    eprintln!(
                        "\nSIMULATION FAILED at seed {seed} on {backend}: {message}\nreplay: {}\n",
                        replay(seed, backend)
                    );
                    failures.lock().unwrap().push((seed, message));
                    return;
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let failures = failures.lock().unwrap().clone();
    if let Some((seed, message)) = failures.first() {
        panic!(
            "simulation failed at seed {seed} on {backend}: {message}\nreplay it with: {}",
            replay(*seed, backend)
        );
    }
    let s = &world.stats;
    let ran = next.load(Ordering::Relaxed).min(seeds.len());
    println!(
        "simulation on {backend}: {ran} seeds in {:.1} s ({:.0} ms a seed, {concurrency} at once); \
         {} deliveries posted ({} answered non-2xx, {} given up after Whop's retries, {} never sent); \
         {} faults injected; {} steps, {} spends, {} confirmations, {} reconciliation passes",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / ran.max(1) as f64,
        s.posted.load(Ordering::Relaxed),
        s.refused_posts.load(Ordering::Relaxed),
        s.lost_at_whop.load(Ordering::Relaxed),
        s.dropped.load(Ordering::Relaxed),
        world.faults.fired.load(Ordering::Relaxed),
        s.steps.load(Ordering::Relaxed),
        s.spends.load(Ordering::Relaxed),
        s.confirmations.load(Ordering::Relaxed),
        s.passes.load(Ordering::Relaxed),
    );
    let spent: Vec<String> = STEP_KINDS
        .iter()
        .zip(&s.micros)
        .map(|(k, m)| format!("{k} {:.1} s", m.load(Ordering::Relaxed) as f64 / 1e6))
        .collect();
    println!(
        "time per kind of step (summed over seeds running at once): {}",
        spent.join(", ")
    );
}

fn replay(seed: u64, backend: &str) -> String {
    format!("SIM_SEED={seed} cargo test --features ssr --test simulation {backend} -- --nocapture")
}

fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into()),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// One seed.

struct Seed<'w> {
    w: &'w World,
    seed: u64,
    rng: Rng,
    users: Vec<UserId>,
    orders: Vec<Order>,
    pool: Vec<Flight>,
    step: usize,
    /// Every webhook id posted, and whether some post of it was answered 2xx.
    posted: BTreeMap<String, bool>,
    /// Applied spends: (user index, source id, credits).
    spends: Vec<(usize, String, i64)>,
    payments: BTreeSet<String>,
    /// Keys faults were armed on (disarmed before the final phase).
    fault_keys: BTreeSet<String>,
    new_ids: u64,
}

impl Seed<'_> {
    fn store(&self) -> &dyn Store {
        self.w.app.db.store.as_ref()
    }

    fn arm(&mut self, method: Method, key: &str, when: When) {
        self.w.faults.arm(method, key, when);
        self.fault_keys.insert(key.to_owned());
    }

    /// Perhaps arms one fault of `methods` on `key`, before or after the write.
    fn maybe_fault(&mut self, p: f64, methods: &[Method], key: &str) {
        if self.rng.chance(p) {
            let method = methods[self.rng.below(methods.len())];
            let when = if self.rng.chance(0.5) {
                When::Before
            } else {
                When::After
            };
            self.arm(method, key, when);
        }
    }
}

async fn run_seed(w: &World, seed: u64) {
    let mut s = Seed {
        w,
        seed,
        rng: Rng::new(seed),
        users: Vec::new(),
        orders: Vec::new(),
        pool: Vec::new(),
        step: 0,
        posted: BTreeMap::new(),
        spends: Vec::new(),
        payments: BTreeSet::new(),
        fault_keys: BTreeSet::new(),
        new_ids: 0,
    };
    setup(&mut s).await;
    play(&mut s).await;
    let t = Instant::now();
    finish(&mut s).await;
    w.stats.time(8, t);
    let t = Instant::now();
    check_final(&mut s).await;
    w.stats.time(9, t);
    retire(&mut s).await;
}

async fn setup(s: &mut Seed<'_>) {
    let n_users = s.rng.range(2, 4) as usize;
    for i in 0..n_users {
        let u = common::user(s.store(), &format!("s{}u{i}@sim.example.com", s.seed)).await;
        s.users.push(u.user_id());
    }
    let n_orders = s.rng.range(3, 8) as usize;
    for i in 0..n_orders {
        let story = match s.rng.below(7) {
            0 => Story::Paid,
            1 => Story::DeclinedThenPaid,
            2 => {
                let parts = s.rng.range(1, 3) as usize;
                // Sometimes all of it, else a random part of it.
                let total = if s.rng.chance(0.4) {
                    PRICE
                } else {
                    s.rng.range(parts as i64, PRICE - 1)
                };
                Story::Refunded(split(&mut s.rng, total, parts))
            }
            3 => Story::DisputeWon,
            4 => Story::DisputeLost,
            5 => Story::NoMetadata,
            _ => Story::WrongAmount,
        };
        let user = s.rng.below(n_users);
        let price = if story == Story::WrongAmount {
            // Any other price: the payment (the plan's price) cannot match it.
            let p = s.rng.range(100, PRICE * 2);
            if p == PRICE {
                PRICE + 1
            } else {
                p
            }
        } else {
            PRICE
        };
        let actions = match &story {
            Story::Paid | Story::NoMetadata | Story::WrongAmount => vec![WhopAction::Press("pay")],
            Story::DeclinedThenPaid => vec![WhopAction::Press("decline"), WhopAction::Press("pay")],
            Story::Refunded(parts) => std::iter::once(WhopAction::Press("pay"))
                .chain(parts.iter().map(|c| WhopAction::Refund(*c)))
                .collect(),
            Story::DisputeWon => vec![WhopAction::Press("dispute_won")],
            Story::DisputeLost => vec![WhopAction::Press("dispute_lost")],
        };
        let with_metadata = story != Story::NoMetadata;
        let (id, checkout_id, purchase_url) = new_order(s, s.users[user], i, price, with_metadata).await;
        if story == Story::DeclinedThenPaid {
            s.maybe_fault(0.3, &[Method::FailOrder], &id.0.to_string());
        }
        s.orders.push(Order {
            story,
            user,
            id,
            price,
            checkout_id,
            purchase_url,
            with_metadata,
            actions,
            paid_payment: None,
            failed_payment: None,
            refunds: BTreeSet::new(),
            dispute: None,
        });
    }
}

/// `total` cut into `parts` positive parts.
fn split(rng: &mut Rng, total: i64, parts: usize) -> Vec<i64> {
    let mut cuts: BTreeSet<i64> = BTreeSet::new();
    while cuts.len() < parts - 1 {
        cuts.insert(rng.range(1, total - 1));
    }
    let mut out = Vec::new();
    let mut last = 0;
    for c in cuts.into_iter().chain(std::iter::once(total)) {
        out.push(c - last);
        last = c;
    }
    out
}

/// A Pro order (at `price`) with a checkout at the simulator's Pro plan; without metadata the
/// checkout names no order and is not recorded on it (a payment through an old link).
async fn new_order(s: &Seed<'_>, u: UserId, i: usize, price: i64, with_metadata: bool) -> (OrderId, String, String) {
    let store = s.store();
    let (o, _) = store
        .create_order(&NewOrder {
            user_id: u,
            plan_name: "Pro".into(),
            credits_amount: CREDITS,
            price_cents: price,
            currency: "usd".into(),
            payment_method: "whop",
            notes: None,
            client_key: Some(format!("key_sim_{}_{i}_0123456789", s.seed)),
        })
        .await
        .unwrap();
    let metadata = if with_metadata {
        json!({ "order_id": o.id.to_string(), "user_id": u.0.to_string() })
    } else {
        json!({})
    };
    let ch =
        s.w.app
            .state
            .whop
            .client
            .create_checkout_configuration(
                &NewCheckout {
                    plan_id: s.w.shop.plan_id.clone(),
                    metadata,
                    // The page redirects the buyer there (303), as `press` expects.
                    redirect_url: Some(s.w.app.url(&format!("/payment/status?order={}", o.id))),
                },
                &format!("sim-{}-{i}", s.seed),
            )
            .await
            .unwrap();
    if with_metadata {
        assert!(store
            .set_order_checkout(o.order_id(), &ch.id, &s.w.shop.plan_id)
            .await
            .unwrap());
    }
    (o.order_id(), ch.id, ch.purchase_url.unwrap())
}

// ---------------------------------------------------------------------------------------------
// The play: Whop's actions, deliveries and everything racing them, one random step at a time.

async fn play(s: &mut Seed<'_>) {
    loop {
        let with_actions: Vec<usize> = (0..s.orders.len())
            .filter(|&i| !s.orders[i].actions.is_empty())
            .collect();
        if with_actions.is_empty() && s.pool.is_empty() {
            break;
        }
        s.step += 1;
        assert!(s.step < 5000, "the play does not end");
        let ready: Vec<usize> = (0..s.pool.len()).filter(|&i| s.pool[i].ready_at <= s.step).collect();
        // How often each kind of step comes, in the order of the `match` below: a Whop action,
        // a delivery, a spend, a confirmation, a reconciliation pass (rarer: each reads every
        // live payment, the dearest step), the retry job, a delivery racing something else.
        let weights = [
            if with_actions.is_empty() { 0 } else { 30 },
            if ready.is_empty() { 0 } else { 60 },
            10,
            8,
            2,
            4,
            if ready.is_empty() { 0 } else { 12 },
        ];
        let mut pick = s.rng.below(weights.iter().sum());
        let choice = weights
            .iter()
            .position(|&wt| {
                if pick < wt {
                    true
                } else {
                    pick -= wt;
                    false
                }
            })
            .unwrap();
        let t = Instant::now();
        match choice {
            0 => {
                let i = with_actions[s.rng.below(with_actions.len())];
                whop_action(s, i).await;
            }
            1 => {
                let i = ready[s.rng.below(ready.len())];
                let flight = s.pool.swap_remove(i);
                deliver(s, flight).await;
            }
            2 => spend(s).await,
            3 => confirm(s).await,
            4 => {
                // Mid-play, a pass is skipped while another seed's runs (as the lease would).
                if let Ok(_turn) = s.w.reconciling.try_lock() {
                    let _ = reconcile(s.w).await;
                }
            }
            5 => {
                retry_job(s.w, Utc::now() + chrono::Duration::hours(2)).await;
            }
            _ => {
                let i = ready[s.rng.below(ready.len())];
                let flight = s.pool.swap_remove(i);
                race(s, flight).await;
            }
        }
        s.w.stats.time(choice, t);
        s.w.stats.steps.fetch_add(1, Ordering::Relaxed);
        let t = Instant::now();
        check_balances(s, "after a step").await;
        s.w.stats.time(7, t);
    }
}

/// Whop does the order's next action (a checkout-page button, an API refund); the deliveries
/// it queued are taken from the simulator and set on their way (or not).
async fn whop_action(s: &mut Seed<'_>, i: usize) {
    let action = s.orders[i].actions.remove(0);
    let rows = {
        let _one_at_a_time = s.w.gate.lock().await;
        match action {
            WhopAction::Press(button) => press(&s.w.app, &s.orders[i].purchase_url, button).await,
            WhopAction::Refund(cents) => {
                let pay = s.orders[i].paid_payment.clone().expect("refunded after it was paid");
                let n = s.orders[i].refunds.len();
                s.w.app
                    .state
                    .whop
                    .client
                    .refund_payment(&pay, Some(Cents(cents)), &format!("sim-{}-{i}-refund-{n}", s.seed))
                    .await
                    .unwrap();
            }
        }
        let store = s.store();
        let rows = store
            .sim_due(Utc::now() + chrono::Duration::days(20 * 365), 1000)
            .await
            .unwrap();
        for r in &rows {
            // Taken by the harness: the simulator's sender must never send it.
            store
                .sim_record_attempt(r.id, "dropped", 0, Utc::now(), None)
                .await
                .unwrap();
        }
        rows
    };
    for r in rows {
        learn(s, i, &r.event_type, &r.payload);
        dispatch(s, r.webhook_id, r.payload);
    }
}

/// Presses a checkout-page button (the form post only: `sim_shop::press` also loads the page
/// first, which the simulation does not need thousands of times).
async fn press(app: &TestApp, purchase_url: &str, button: &str) {
    let r = app
        .client
        .post(purchase_url)
        .header("origin", &app.base)
        .form(&[("action", button)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
}

/// Notes the ids a delivery reveals, and arms faults on the objects it is about.
fn learn(s: &mut Seed<'_>, i: usize, event_type: &str, payload: &str) {
    let v: Value = serde_json::from_str(payload).unwrap();
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let first_time = match event_type {
        "payment.succeeded" => {
            s.orders[i].paid_payment = Some(id.clone());
            s.payments.insert(id.clone())
        }
        "payment.failed" => {
            s.orders[i].failed_payment = Some(id.clone());
            s.payments.insert(id.clone())
        }
        t if t.starts_with("payment.") => s.payments.insert(id.clone()),
        t if t.starts_with("refund.") => s.orders[i].refunds.insert(id.clone()),
        t if t.starts_with("dispute.") => {
            let first = s.orders[i].dispute.is_none();
            s.orders[i].dispute = Some(id.clone());
            first
        }
        other => panic!("unexpected event type {other}"),
    };
    if !first_time {
        return;
    }
    if event_type.starts_with("payment.") {
        let methods: &[Method] = match s.orders[i].story {
            Story::NoMetadata | Story::WrongAmount => &[Method::RecordUnmatched, Method::FulfilOrder],
            _ => &[Method::FulfilOrder, Method::WakeEventsForPayment],
        };
        s.maybe_fault(0.3, methods, &id);
    } else if event_type.starts_with("refund.") {
        s.maybe_fault(0.3, &[Method::RefundOrder], &id);
    } else {
        s.maybe_fault(0.3, &[Method::DisputeOrder], &id);
    }
}

/// Decides a delivery's fate: never sent, sent (perhaps late), sent twice under its id,
/// re-sent under a new id; and arms faults on storing and settling it.
fn dispatch(s: &mut Seed<'_>, webhook_id: String, body: String) {
    if s.rng.chance(0.08) {
        s.w.stats.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let r = s.rng.next() % 100;
    if r < 3 {
        // Storing fails on every one of Whop's tries: the delivery is lost for good.
        for _ in 0..WHOP_TRIES {
            s.arm(Method::RecordWebhookEvent, &webhook_id, When::Before);
        }
    } else if r < 8 {
        s.arm(Method::RecordWebhookEvent, &webhook_id, When::Before);
    } else if r < 13 {
        s.arm(Method::RecordWebhookEvent, &webhook_id, When::After);
    } else if r < 25 {
        let when = if s.rng.chance(0.5) { When::Before } else { When::After };
        s.arm(Method::SettleWebhookEvent, &webhook_id, when);
    } else if r < 29 {
        s.arm(Method::RetryWebhookEvent, &webhook_id, When::After);
    }
    let delay = |rng: &mut Rng| if rng.chance(0.25) { rng.range(1, 10) as usize } else { 0 };
    let ready_at = s.step + delay(&mut s.rng);
    s.pool.push(Flight {
        webhook_id: webhook_id.clone(),
        body: body.clone(),
        tries: 0,
        ready_at,
    });
    if s.rng.chance(0.12) {
        let ready_at = s.step + delay(&mut s.rng);
        s.pool.push(Flight {
            webhook_id: webhook_id.clone(),
            body: body.clone(),
            tries: 0,
            ready_at,
        });
    }
    if s.rng.chance(0.08) {
        s.new_ids += 1;
        let ready_at = s.step + delay(&mut s.rng);
        s.pool.push(Flight {
            webhook_id: format!("msg_resent_{}_{}", s.seed, s.new_ids),
            body,
            tries: 0,
            ready_at,
        });
    }
}

/// Posts one delivery as Whop does: signed now, to the webhook route; the answer's status.
async fn post(w: &World, f: &Flight) -> u16 {
    let ts = Utc::now().timestamp();
    let signature = sign(&w.secret, &f.webhook_id, ts, f.body.as_bytes());
    let app = &w.app;
    let r = app
        .client
        .post(app.url("/api/webhooks/whop"))
        .header("content-type", "application/json")
        .header("webhook-id", &f.webhook_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(f.body.clone())
        .send()
        .await
        .unwrap();
    w.stats.posted.fetch_add(1, Ordering::Relaxed);
    r.status().as_u16()
}

/// After a post: a non-2xx answer is tried again a few steps later, up to Whop's 3 retries.
fn after_post(s: &mut Seed<'_>, mut f: Flight, status: u16) {
    let ok = (200..300).contains(&status);
    let accepted = s.posted.entry(f.webhook_id.clone()).or_insert(false);
    *accepted |= ok;
    if ok {
        return;
    }
    assert_eq!(status, 503, "only a store failure may refuse a delivery");
    s.w.stats.refused_posts.fetch_add(1, Ordering::Relaxed);
    f.tries += 1;
    if f.tries < WHOP_TRIES {
        f.ready_at = s.step + s.rng.range(1, 4) as usize;
        s.pool.push(f);
    } else {
        s.w.stats.lost_at_whop.fetch_add(1, Ordering::Relaxed);
    }
}

async fn deliver(s: &mut Seed<'_>, f: Flight) {
    let status = post(s.w, &f).await;
    after_post(s, f, status);
}

/// A delivery at the same moment as something else that may touch the same order: a
/// reconciliation pass, the status page's confirmation, the retry job, or a spend.
async fn race(s: &mut Seed<'_>, f: Flight) {
    let w = s.w;
    let o = &s.orders[s.rng.below(s.orders.len())];
    let (order, checkout, named) = (o.id, o.checkout_id.clone(), o.with_metadata);
    let status = match s.rng.below(5) {
        0 => {
            let pass = async {
                if let Ok(_turn) = w.reconciling.try_lock() {
                    let _ = reconcile(w).await;
                }
            };
            tokio::join!(post(w, &f), pass).0
        }
        1 => {
            let confirmation = async {
                if named {
                    confirm_order(w, order, &checkout).await;
                }
            };
            tokio::join!(post(w, &f), confirmation).0
        }
        2 => tokio::join!(post(w, &f), retry_job(w, Utc::now() + chrono::Duration::hours(2))).0,
        // Spends race twice as often: a clawback landing while a spend is checked.
        _ => {
            let (u, amount, key) = draw_spend(s).await;
            let (status, applied) = tokio::join!(post(w, &f), do_spend(w, s.users[u], amount, &key));
            if applied {
                s.spends.push((u, key, amount));
            }
            status
        }
    };
    after_post(s, f, status);
}

/// A user spends up to their balance (sometimes more, which must be refused).
async fn spend(s: &mut Seed<'_>) {
    let (u, amount, key) = draw_spend(s).await;
    if do_spend(s.w, s.users[u], amount, &key).await {
        s.spends.push((u, key, amount));
    }
}

/// Who spends how much, under which idempotency key (perhaps with a fault armed on it).
async fn draw_spend(s: &mut Seed<'_>) -> (usize, i64, String) {
    let u = s.rng.below(s.users.len());
    let (balance, _) = s.w.checker.balance_and_sum(s.users[u]).await;
    let amount = if balance > 0 && s.rng.chance(0.8) {
        s.rng.range(1, balance)
    } else {
        s.rng.range(1, 30_000)
    };
    let key = format!("sim{}-spend{}", s.seed, s.step);
    s.maybe_fault(0.2, &[Method::PostEntry], &key);
    (u, amount, key)
}

/// Spends through the ledger as the host API does, retrying a failed call with the same
/// idempotency key; whether the spend is in the ledger.
async fn do_spend(w: &World, uid: UserId, amount: i64, key: &str) -> bool {
    let entry = LedgerEntry::new(
        uid,
        EntryKind::Spend,
        Credits(-amount),
        "host_spend",
        key,
        Actor::System,
    )
    .unwrap();
    for _ in 0..3 {
        match ledger::post(w.app.db.store.as_ref(), &entry).await {
            Ok(posted) => {
                assert!(
                    posted.transaction.balance_after >= 0,
                    "a spend took the balance below zero: {posted:?}"
                );
                w.stats.spends.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(LedgerError::InsufficientCredits { .. }) => return false,
            // An injected failure: the host app tries again with the same key.
            Err(LedgerError::Store(_)) => continue,
            Err(other) => panic!("spend of {amount} by user {}: {other}", uid.0),
        }
    }
    false
}

/// The status page's confirmation with Whop for a random order.
async fn confirm(s: &mut Seed<'_>) {
    let o = &s.orders[s.rng.below(s.orders.len())];
    if o.with_metadata {
        confirm_order(s.w, o.id, &o.checkout_id).await;
    }
}

/// The confirmation without its rate limit (a seed lasts less than the first 2 s it waits):
/// the same calls as `confirm_with_whop` after its gate, namely Whop's payments of the
/// checkout, each paid one through the one fulfil path.
async fn confirm_order(w: &World, order: OrderId, checkout: &str) {
    let store = w.app.db.store.as_ref();
    let row = store.order_by_id(order).await.unwrap().unwrap();
    if row.payment_status != "pending" || row.hold_reason.is_some() {
        return;
    }
    w.stats.confirmations.fetch_add(1, Ordering::Relaxed);
    let payments = w
        .app
        .state
        .whop
        .client
        .list_payments(&PaymentFilter {
            checkout_configuration_ids: vec![checkout.to_owned()],
            ..PaymentFilter::default()
        })
        .await
        .unwrap();
    for p in payments {
        if p.status != Some(PaymentStatus::Paid) || p.checkout_configuration_id.as_deref() != Some(checkout) {
            continue;
        }
        let raw = serde_json::to_string(&p).unwrap();
        let paid = PaidPayment::from_whop(&p, raw).unwrap();
        // An injected failure is the status page's error; the next poll (or anything else) redoes it.
        let _ = orders::fulfil(store, order, &paid, Via::Confirmation).await;
    }
}

/// One reconciliation pass, past the grace period: Ok when it ran cleanly, else why not.
async fn reconcile(w: &World) -> Result<(), String> {
    let job = Reconcile::new(
        w.app.db.store.clone(),
        w.app.state.whop.clone(),
        Duration::from_secs(60),
    );
    // Past the 120 s grace, but well within the 600 s overlap, so the watermark it leaves
    // never skips a change made after it.
    match job.run_at(Utc::now() + chrono::Duration::seconds(130)).await {
        Ok(ReconcileReport::Pass(summary)) => {
            w.stats.passes.fetch_add(1, Ordering::Relaxed);
            if summary.errors == 0 {
                Ok(())
            } else {
                Err(format!("{summary:?}"))
            }
        }
        Ok(ReconcileReport::NotLeaseHolder) => Err("not the lease holder".into()),
        // An injected failure reading the watermark or the pending orders.
        Err(e) => Err(e.to_string()),
    }
}

async fn retry_job(w: &World, now: chrono::DateTime<Utc>) -> WebhookApplyReport {
    WebhookApply::new(w.app.db.store.clone())
        .run_at(now)
        .await
        .unwrap_or_default()
}

/// Each of the seed's balances equals the sum of its ledger rows, read in one statement (with
/// those of any other seed's users created in between, for whom it must hold as well).
async fn check_balances(s: &Seed<'_>, when: &str) {
    let from = s.users.iter().map(|u| u.0).min().unwrap();
    let to = s.users.iter().map(|u| u.0).max().unwrap();
    let rows = s.w.checker.balances_and_sums(from, to).await;
    assert!(rows.len() >= s.users.len());
    for (user, balance, sum) in rows {
        assert_eq!(
            balance, sum,
            "{when} (step {}): user {user} has balance {balance} but ledger sum {sum}",
            s.step
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The end: no more faults, a final reconciliation, the retry job until nothing is due.

async fn finish(s: &mut Seed<'_>) {
    for key in &s.fault_keys {
        s.w.faults.disarm(key);
    }
    // Another seed's pass may hold the lease, or hit one of that seed's faults: try again.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Err(String::new());
    while last.is_err() && Instant::now() < deadline {
        let _turn = s.w.reconciling.lock().await;
        last = reconcile(s.w).await;
    }
    if let Err(why) = last {
        panic!("no clean final reconciliation pass: {why}");
    }
    let k = s.w.final_clock.fetch_add(1, Ordering::Relaxed);
    let now = Utc::now() + chrono::Duration::days(365) + chrono::Duration::days(2 * k);
    for round in 0.. {
        assert!(round < 100, "the retry job never runs out of due events");
        if retry_job(s.w, now).await == WebhookApplyReport::default() {
            break;
        }
    }
    check_balances(s, "at the end").await;
}

async fn check_final(s: &mut Seed<'_>) {
    let store = s.store();
    let mut expected_balance: HashMap<usize, i64> = HashMap::new();
    let mut expected_rows: HashMap<usize, usize> = HashMap::new();
    for o in &s.orders {
        let row = store.order_by_id(o.id).await.unwrap().unwrap();
        let txs: Vec<_> = store
            .list_transactions(UserId(row.user_id), None, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.order_id == Some(o.id.0))
            .collect();
        let of = |kind: EntryKind| txs.iter().filter(|t| t.kind == kind.as_str()).collect::<Vec<_>>();
        let what = format!("order {} ({:?}): {row:?}; its rows {txs:?}", o.id.0, o.story);
        let credited = !matches!(o.story, Story::NoMetadata | Story::WrongAmount);
        let paid = o.paid_payment.clone().unwrap_or_else(|| panic!("never paid: {what}"));
        let mut effect = 0;
        let mut rows = 0;
        if credited {
            // Credited exactly once, for the payment that paid it.
            let purchases = of(EntryKind::Purchase);
            assert_eq!(purchases.len(), 1, "one purchase: {what}");
            assert_eq!(
                (purchases[0].source_id.as_str(), purchases[0].amount),
                (paid.as_str(), CREDITS),
                "{what}"
            );
            assert_eq!(s.w.checker.count_by_source(&paid).await, 1, "{what}");
            assert_eq!(row.whop_payment_id.as_deref(), Some(paid.as_str()), "{what}");
            assert!(row.credited_at.is_some(), "{what}");
            assert!(
                store.unmatched_by_payment(&paid).await.unwrap().is_none(),
                "a credited payment is not queued: {what}"
            );
            effect += CREDITS;
            rows += 1;
        } else {
            assert!(txs.is_empty(), "credited nothing: {what}");
            assert_eq!(s.w.checker.count_by_source(&paid).await, 0, "credited nowhere: {what}");
            assert!(row.credited_at.is_none(), "{what}");
            let queued = store
                .unmatched_by_payment(&paid)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("queued for an admin: {what}"));
            assert_eq!(queued.status, "open", "{what}");
            assert_eq!(queued.amount_cents, PRICE, "{what}");
            let (kind, order) = if o.story == Story::NoMetadata {
                ("no_order", None)
            } else {
                ("held", Some(o.id.0))
            };
            assert_eq!((queued.kind.as_str(), queued.order_id), (kind, order), "{what}");
        }
        if let Some(failed) = &o.failed_payment {
            assert_eq!(s.w.checker.count_by_source(failed).await, 0, "{what}");
            assert!(store.unmatched_by_payment(failed).await.unwrap().is_none(), "{what}");
        }
        let status = match &o.story {
            Story::Paid | Story::DeclinedThenPaid | Story::DisputeWon => "paid",
            Story::Refunded(parts) => {
                let total: i64 = parts.iter().sum();
                let clawbacks = of(EntryKind::RefundClawback);
                let taken: i64 = -clawbacks.iter().map(|t| t.amount).sum::<i64>();
                assert_eq!(taken, clawback_target(CREDITS, PRICE, total), "clawed back: {what}");
                let sources: BTreeSet<&str> = clawbacks.iter().map(|t| t.source_id.as_str()).collect();
                assert_eq!(sources.len(), clawbacks.len(), "one clawback per refund: {what}");
                assert!(
                    sources.iter().all(|r| o.refunds.contains(*r)),
                    "clawbacks name the refunds: {what}"
                );
                assert_eq!(o.refunds.len(), parts.len(), "{what}");
                assert_eq!(store.order_refunded_cents(o.id).await.unwrap(), total, "{what}");
                effect -= taken;
                rows += clawbacks.len();
                if total == PRICE {
                    "refunded"
                } else {
                    "partially_refunded"
                }
            }
            Story::DisputeLost => "disputed",
            Story::NoMetadata | Story::WrongAmount => "pending",
        };
        assert_eq!(row.payment_status, status, "{what}");
        if matches!(o.story, Story::DisputeWon | Story::DisputeLost) {
            let dispute = o.dispute.clone().unwrap();
            let holds = of(EntryKind::DisputeHold);
            let releases = of(EntryKind::DisputeRelease);
            assert_eq!(holds.len(), 1, "one hold: {what}");
            assert_eq!(
                (holds[0].source_id.as_str(), holds[0].amount),
                (dispute.as_str(), -CREDITS),
                "{what}"
            );
            effect -= CREDITS;
            rows += 1;
            if o.story == Story::DisputeWon {
                assert_eq!(releases.len(), 1, "one release: {what}");
                assert_eq!(
                    (releases[0].source_id.as_str(), releases[0].amount),
                    (dispute.as_str(), CREDITS),
                    "{what}"
                );
                effect += CREDITS;
                rows += 1;
            } else {
                assert!(releases.is_empty(), "a lost dispute releases nothing: {what}");
            }
        } else {
            assert!(
                of(EntryKind::DisputeHold).is_empty() && of(EntryKind::DisputeRelease).is_empty(),
                "{what}"
            );
        }
        if o.story == Story::WrongAmount {
            assert!(row.hold_reason.is_some() && o.price != PRICE, "{what}");
        }
        assert_eq!(txs.len(), rows, "no other rows for the order: {what}");
        *expected_balance.entry(o.user).or_default() += effect;
        *expected_rows.entry(o.user).or_default() += rows;
    }

    for (u, &uid) in s.users.iter().enumerate() {
        let mut txs = store.list_transactions(uid, None, 10_000).await.unwrap();
        txs.sort_by_key(|t| t.id);
        let spends: Vec<_> = s.spends.iter().filter(|(su, _, _)| *su == u).collect();
        let spent: i64 = spends.iter().map(|(_, _, c)| c).sum();
        let spend_rows: Vec<_> = txs.iter().filter(|t| t.kind == EntryKind::Spend.as_str()).collect();
        let keys: BTreeSet<&str> = spends.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(spend_rows.len(), spends.len(), "user {}: spends {spend_rows:?}", uid.0);
        assert!(spend_rows.iter().all(|t| keys.contains(t.source_id.as_str())));
        let expected = expected_balance.get(&u).copied().unwrap_or(0) - spent;
        let balance = store.user_by_id(uid).await.unwrap().unwrap().credits_balance;
        assert_eq!(
            balance, expected,
            "user {}: balance against the truth; rows {txs:?}",
            uid.0
        );
        assert_eq!(
            txs.len(),
            expected_rows.get(&u).copied().unwrap_or(0) + spends.len(),
            "user {}: no rows but the truth's: {txs:?}",
            uid.0
        );
        // Each row's balance follows from the one before, and no spend went below zero.
        let mut running = 0;
        for t in &txs {
            running += t.amount;
            assert_eq!(t.balance_after, running, "user {}: balance_after chain: {txs:?}", uid.0);
            if t.kind == EntryKind::Spend.as_str() {
                assert!(t.balance_after >= 0, "a spend went below zero: {t:?}");
            }
        }
    }

    // Every stored event of the seed is processed or ignored, every accepted one stored.
    for (id, accepted) in &s.posted {
        match store.webhook_event(id).await.unwrap() {
            Some(e) => assert!(
                e.status == "processed" || e.status == "ignored",
                "event {id} ({}) is {}: {:?}",
                e.event_type,
                e.status,
                e.last_error
            ),
            None => assert!(!accepted, "event {id} was accepted but is not stored"),
        }
    }
}

/// Takes a checked seed's payments out of the simulator and closes its held orders, so later
/// seeds' reconciliation passes do not read them again (each pass reads every payment changed in
/// the last minutes, and asks about every pending order): what keeps a long run linear.
async fn retire(s: &mut Seed<'_>) {
    let store = s.store();
    for p in &s.payments {
        store.sim_delete("payment", p).await.unwrap();
    }
    for o in &s.orders {
        if o.story == Story::WrongAmount {
            store.fail_order(o.id, "simulation: seed checked").await.unwrap();
        }
    }
}
