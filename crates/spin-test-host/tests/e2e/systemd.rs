//! The systemd units (`deploy/systemd/`), checked against the app they run: the front
//! runs every HTTP component and the consumers every Redis-triggered one (no component
//! twice, none left out), both restart always and read the variables from a file through
//! Spin's static provider, and the clock's timer calls the tick on the address the front
//! listens on.

use std::collections::BTreeSet;

fn unit(name: &str) -> String {
    std::fs::read_to_string(spin_test_host::workspace_root().join("deploy/systemd").join(name)).unwrap()
}

fn exec_start(unit: &str) -> Vec<String> {
    let line = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("ExecStart");
    line.split_whitespace().map(str::to_owned).collect()
}

fn flag_values(args: &[String], flag: &str) -> Vec<String> {
    args.windows(2).filter(|w| w[0] == flag).map(|w| w[1].clone()).collect()
}

/// The components of `spin.toml`'s triggers of type `kind`.
fn triggered(kind: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(spin_test_host::workspace_root().join("spin.toml")).unwrap();
    let doc: toml::Value = toml::from_str(&text).unwrap();
    doc["trigger"][kind].as_array().unwrap().iter().map(|t| t["component"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_units_run_every_component_once_restart_always_and_tick_the_front() {
    let front = unit("coffee-orders-front.service");
    let consumers = unit("coffee-orders-consumers.service");
    let (f, c) = (exec_start(&front), exec_start(&consumers));
    for (args, kind) in [(&f, "http"), (&c, "redis")] {
        assert_eq!(args[1..3], ["up".to_owned(), "--runtime-config-file".to_owned()], "{args:?}");
        // The variables through Spin's static provider, from a file (no secret in `ps`).
        assert_eq!(flag_values(args, "--variable"), ["@/etc/coffee-orders/variables.json"], "{args:?}");
        let named: BTreeSet<String> = flag_values(args, "-c").into_iter().collect();
        assert_eq!(named, triggered(kind), "{kind} components");
    }
    for u in [&front, &consumers] {
        assert!(u.contains("\nRestart=always\n"), "{u}");
    }
    let listen = flag_values(&f, "--listen").pop().expect("the front's --listen");
    let tick = unit("coffee-orders-tick.service");
    assert!(tick.contains(&format!("http://{listen}/pipeline/tick")), "the tick calls the front: {tick}");
    let clock = spin_test_host::clocks::systemd();
    assert_eq!((clock.path.as_str(), clock.period.as_secs()), ("/pipeline/tick", 10));
}
