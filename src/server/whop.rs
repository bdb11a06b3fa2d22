//! Everything that speaks Whop: webhook verification now; the API client and the simulator next.

pub mod verify;
