//! The soak harness's counting rules (`tests/support/soak_count.rs`); the
//! harness itself (`scripts/soak.sh`, `benches/soak.rs`) is too long for
//! `cargo test`.
#[path = "support/soak_count.rs"]
mod soak_count;
