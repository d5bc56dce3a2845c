//! The platform's own lifecycle under a load: `spin up` SIGKILLed in the middle of a
//! burst and started again.

use super::*;

/// `spin up` (SQLite stores) is SIGKILLed mid-burst: its consumers die in the middle of
/// their batches, with messages claimed and not acknowledged. Started again, with no
/// new order and no operator, every order it had accepted is stored within the
/// visibility timeout and a little more: the retry clock (a key that expires in Redis)
/// wakes the new process.
#[test]
fn a_spin_up_killed_mid_burst_stores_every_accepted_order_after_its_restart() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start();
    let dir = scratch("sigkill");
    let mut app = local_app(&redis, &dir)
        .runtime_config(repo_runtime_config(&dir))
        .var("visibility_timeout_ms", "5000")
        .start(&spin.path);

    let burst = Burst::start(&[app.base()], "k-", 10_000, 16);
    burst.wait_accepted(1_000, Duration::from_secs(60));
    app.kill();
    let accepted = burst.finish();
    assert!(accepted.len() < 10_000, "the kill stopped the burst: {} accepted", accepted.len());

    app.restart();
    let client = app.client();
    let (_, took) = settled(&client, accepted.len() as u64, Duration::from_secs(30));
    assert_all_stored(&client, "k-", &accepted);
    let _ = writeln!(std::io::stderr(), "SIGKILL: {} accepted, all stored {took:?} after the restart", accepted.len());
}
