//! Test mode only: sends the Whop simulator's due webhook deliveries to the app (see
//! `whop::simulator::delivery` for the signing and the retry schedule). Polls often, so a
//! simulated payment's webhook arrives about as fast as Whop's would.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::Job;
use crate::server::whop::simulator::{DeliveryReport, Simulator};

/// Deliveries taken per step (the rest wait for the next step, 100 ms later).
const BATCH: i64 = 50;

pub struct SimDelivery {
    sim: Arc<Simulator>,
}

impl SimDelivery {
    pub fn new(sim: Arc<Simulator>) -> SimDelivery {
        SimDelivery { sim }
    }
}

#[async_trait]
impl Job for SimDelivery {
    type Report = DeliveryReport;

    fn name(&self) -> &'static str {
        "whop_simulator_delivery"
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(100)
    }

    async fn run_once(&self) -> anyhow::Result<DeliveryReport> {
        Ok(self.sim.deliver_due(BATCH).await?)
    }

    fn is_noteworthy(&self, r: &DeliveryReport) -> bool {
        // Each attempt is logged where it happens.
        let _ = r;
        false
    }
}
