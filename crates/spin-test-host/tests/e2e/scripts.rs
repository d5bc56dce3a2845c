//! `scripts/run` either runs or says exactly why not: each missing piece named with its
//! install, nothing started, nothing written, and no "ready".
//!
//! Each test runs a copy of `scripts/run` (and `scripts/lib/`) in a checkout of its own,
//! with a `PATH` of only the tools it names: stand-ins for `spin` and `redis-server`, and
//! the machine's own for the rest. So a tool the machine has can still be missing here,
//! the checkout's `.env` is never touched, and no `apt-get` can run.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tools every run gets from the machine (what the script uses before it starts
/// anything), besides those a test chooses.
const BASE_TOOLS: [&str; 19] = [
    "bash", "dirname", "sed", "tr", "id", "grep", "od", "tail", "touch", "chmod", "mkdir", "seq", "sleep", "cat",
    "rustup", "cargo", "kill", "mv", "rm",
];

/// A checkout of `scripts/run` alone, and a `bin` directory that is the whole `PATH`.
struct Sandbox {
    dir: tempdir::Dir,
}

impl Sandbox {
    /// With `tools` from the machine, and stand-ins for `spin` (at `spin`'s version,
    /// none when `None`) and `redis-server` (at `redis`'s).
    fn new(tools: &[&str], spin: Option<&str>, redis: &str) -> Sandbox {
        let dir = tempdir::Dir::new("scripts-run");
        let root = spin_test_host::workspace_root();
        std::fs::create_dir_all(dir.path().join("checkout/scripts/lib")).unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        for file in ["scripts/run", "scripts/variables", "scripts/lib/setup.bash", "spin.toml"] {
            std::fs::copy(root.join(file), dir.path().join("checkout").join(file)).unwrap();
        }
        let bin = dir.path().join("bin");
        for tool in BASE_TOOLS.iter().chain(tools) {
            let found = which(tool).unwrap_or_else(|| panic!("{tool} is not on this machine's PATH"));
            std::os::unix::fs::symlink(found, bin.join(tool)).unwrap();
        }
        let write = |name: &str, body: String| {
            let path = bin.join(name);
            std::fs::write(&path, body).unwrap();
            Command::new("chmod").arg("+x").arg(&path).status().unwrap();
        };
        if let Some(spin) = spin {
            // `up` serves a second, so the supervisor starts the consumers beside the front.
            write(
                "spin",
                format!(
                    "#!/bin/sh\necho \"spin {spin} (stand-in) $*\" >> \"$(dirname \"$0\")/../spin.calls\"\n\
                     echo 'spin {spin} (stand-in)'\n[ \"$1\" = up ] && sleep 1\nexit 0\n"
                ),
            );
        }
        // A redis-server that says its version, and records how it was started.
        write(
            "redis-server",
            format!(
                "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/../redis-server.calls\"\n\
                 echo 'Redis server v={redis} sha=00000000:0 malloc=libc bits=64'\n"
            ),
        );
        Sandbox { dir }
    }

    fn checkout(&self) -> PathBuf {
        self.dir.path().join("checkout")
    }

    /// `scripts/run` with this `PATH` and `env`, the Redis at `redis://127.0.0.1:port`.
    fn run(&self, port: u16, env: &[(&str, &str)]) -> (i32, String, String) {
        let mut cmd = Command::new(which("bash").unwrap());
        cmd.arg(self.checkout().join("scripts/run"))
            .env_clear()
            .env("PATH", self.dir.path().join("bin"))
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("SPIN_VARIABLE_REDIS_ADDRESS", format!("redis://127.0.0.1:{port}"))
            .envs(env.iter().copied());
        // Its output to files, not pipes: what it leaves behind in the background (the
        // clock's `sleep`) would hold a pipe open. Its own process group, ended whole once
        // it exits, as a Ctrl-C ends it in a terminal.
        let (out, err) = (self.dir.path().join("stdout"), self.dir.path().join("stderr"));
        cmd.stdout(std::fs::File::create(&out).unwrap()).stderr(std::fs::File::create(&err).unwrap());
        let mut child = std::os::unix::process::CommandExt::process_group(&mut cmd, 0).spawn().unwrap();
        let status = child.wait().unwrap();
        spin_test_host::spin_cli::kill_group(&child);
        let text = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        (status.code().unwrap_or(-1), text(&out), text(&err))
    }

    /// The files the run left in the checkout, besides `scripts/` and `spin.toml`.
    fn written(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.checkout())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "scripts" && n != "spin.toml")
            .collect();
        names.sort();
        names
    }

    fn calls(&self, tool: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{tool}.calls"))).unwrap_or_default()
    }
}

/// `tool`'s path on this machine's `PATH`.
fn which(tool: &str) -> Option<PathBuf> {
    std::env::var("PATH").unwrap().split(':').map(|d| Path::new(d).join(tool)).find(|p| p.is_file())
}

/// A port nothing listens on.
fn free_port() -> u16 {
    spin_test_host::spin_cli::free_port()
}

#[test]
fn a_redis_6_is_refused_with_the_way_to_get_7() {
    let sandbox = Sandbox::new(&["curl", "jq"], Some("3.6.3"), "6.0.16");
    let (code, out, err) = sandbox.run(free_port(), &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("redis-server 7 or later, not 6.0.16"), "{err}");
    assert!(err.contains("Debian 11 and Ubuntu 22.04 ship Redis 6") && err.contains("redis:7"), "{err}");
    assert!(!out.contains("ready") && !out.contains("starting redis-server"), "{out}");
    assert_eq!(sandbox.written(), Vec::<String>::new(), "nothing is written");
}

/// A Redis 6 already listening (in a container, say), with no `redis-cli` on the
/// machine: scripts/run asks the server itself, refuses it, and writes nothing.
#[test]
fn a_running_redis_6_is_refused_without_redis_cli() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            // One command, however many reads it takes (none: a port probe).
            let mut request = Vec::new();
            let mut chunk = [0u8; 256];
            while !String::from_utf8_lossy(&request).to_lowercase().contains("server\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
            }
            if String::from_utf8_lossy(&request).contains("INFO") {
                let info = "# Server\r\nredis_version:6.0.16\r\nredis_mode:standalone\r\n";
                let _ = write!(stream, "${}\r\n{info}\r\n", info.len());
            }
        }
    });
    let sandbox = Sandbox::new(&["curl", "jq"], Some("3.6.3"), "7.2.4");
    assert!(!sandbox.dir.path().join("bin/redis-cli").exists(), "no redis-cli to ask it with");
    let (code, out, err) = sandbox.run(port, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains(&format!("the Redis at 127.0.0.1:{port} is 6.0.16")), "{err}");
    assert!(err.contains("Debian 11 and Ubuntu 22.04 ship Redis 6"), "{err}");
    assert!(!out.contains("ready"), "{out}");
    assert_eq!(sandbox.written(), Vec::<String>::new(), "nothing is written");
}

#[test]
fn a_missing_spin_cli_is_named_with_its_install_and_spin_cli_is_honoured() {
    let sandbox = Sandbox::new(&["curl", "jq"], Some("3.6.3"), "7.2.4");
    let (code, out, err) = sandbox.run(free_port(), &[("SPIN_CLI", "/nonexistent/spin")]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("SPIN_CLI is /nonexistent/spin, which is not an executable"), "{err}");
    assert!(!out.contains("ready"), "{out}");
    assert_eq!(sandbox.written(), Vec::<String>::new(), "nothing is written");
    let old = Sandbox::new(&["curl", "jq"], Some("2.7.0"), "7.2.4");
    let (code, _, err) = old.run(free_port(), &[]);
    assert_eq!(code, 1);
    assert!(err.contains("not 2.7.0") && err.contains("spinframework.dev/downloads/install.sh"), "{err}");
}

/// No Spin CLI anywhere (none on `PATH`, no `SPIN_CLI`) and no `jq`: each is named with
/// its install, in one list, and nothing is started or written.
#[test]
fn with_no_spin_cli_at_all_and_no_jq_each_is_named() {
    let sandbox = Sandbox::new(&["curl"], None, "7.2.4");
    let (code, out, err) = sandbox.run(free_port(), &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("the Spin CLI 3.x or 4.x (to build and serve the app): curl -fsSL"), "{err}");
    assert!(err.contains("jq, for scripts/variables and the README's walkthrough: sudo apt-get install jq"), "{err}");
    assert!(!out.contains("starting redis-server"), "{out}");
    assert!(!sandbox.calls("redis-server").contains("--port"), "no redis-server was started");
    assert_eq!(sandbox.written(), Vec::<String>::new(), "nothing is written");
}

/// The Redis it starts listens on loopback only, keeps an append-only file in
/// `.spin/redis/`; the secrets go to `.env` (mode 600), an exported one as it is. Spin
/// gets every variable through its static provider, a file of mode 600 (never a secret
/// on its command line): each variable exported, else `.env`'s value, else its default
/// (an exported one wins over `.env` as it does for Spin).
#[test]
fn the_redis_it_starts_is_on_loopback_with_its_files_and_exported_keys_go_to_env() {
    let sandbox = Sandbox::new(&["curl", "jq"], Some("3.6.3"), "7.2.4");
    let key = "me:0123456789abcdef0123";
    std::fs::write(
        sandbox.checkout().join(".env"),
        "SPIN_VARIABLE_DURABILITY=machine\nSPIN_VARIABLE_BATCH_LINGER_MS=5",
    )
    .unwrap();
    let exported =
        [("SPIN_VARIABLE_READ_API_KEYS", key), ("TICK_SECONDS", "60"), ("SPIN_VARIABLE_DURABILITY", "memory")];
    let (code, out, err) = sandbox.run(free_port(), &exported);
    assert_eq!(code, 0, "{out}\n{err}");
    let started = sandbox.calls("redis-server");
    let args: Vec<&str> = started.lines().find(|l| l.contains("--daemonize")).expect(&started).split(' ').collect();
    let arg = |name: &str| args.iter().position(|a| *a == name).map(|i| args[i + 1]);
    assert_eq!(arg("--bind"), Some("127.0.0.1"), "{started}");
    assert_eq!(arg("--appendonly"), Some("yes"), "{started}");
    assert_eq!(arg("--appendfsync"), Some("everysec"), "{started}");
    assert!(arg("--dir").is_some_and(|d| d.ends_with("/.spin/redis")), "{started}");
    let env = std::fs::read_to_string(sandbox.checkout().join(".env")).unwrap();
    assert!(env.contains(&format!("SPIN_VARIABLE_READ_API_KEYS={key}\n")), "{env}");
    assert!(
        env.starts_with("SPIN_VARIABLE_DURABILITY=machine\nSPIN_VARIABLE_BATCH_LINGER_MS=5\n"),
        "a line of its own: {env}"
    );
    assert!(env.contains("SPIN_VARIABLE_ADMIN_TOKEN=") && env.contains("SPIN_VARIABLE_URL_SIGNING_KEYS=k1:"), "{env}");
    let mode = std::fs::metadata(sandbox.checkout().join(".env")).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    let calls = sandbox.calls("spin");
    assert!(calls.contains("build"), "{calls}");
    let file = sandbox.checkout().join(".spin/variables.json");
    let ups: Vec<&str> = calls.lines().filter(|l| l.contains(" up ")).collect();
    assert_eq!(ups.len(), 2, "the front and the consumers: {calls}");
    for up in &ups {
        assert!(up.contains(&format!("--variable @{}", file.display())), "{up}");
        assert!(
            !up.contains(key) && !up.contains("SIGNING") && !up.contains("k1:"),
            "a secret on the command line: {up}"
        );
    }
    let mode = std::fs::metadata(&file).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    let vars: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(vars["read_api_keys"], key, "exported, and written to .env: {vars}");
    assert_eq!(vars["durability"], "memory", "the exported value wins over .env's: {vars}");
    assert_eq!(vars["batch_linger_ms"], "5", ".env's value: {vars}");
    assert_eq!(vars["orders_stream"], "orders:stream", "the manifest's default: {vars}");
    assert!(vars["admin_token"].as_str().is_some_and(|t| t.len() == 64), "the generated token: {vars}");
    let declared: toml::Table =
        toml::from_str(&std::fs::read_to_string(sandbox.checkout().join("spin.toml")).unwrap()).unwrap();
    for name in declared["variables"].as_table().unwrap().keys() {
        assert!(
            vars.get(name).is_some_and(|v| v.is_string()),
            "{name} is not a string in the static provider's file: {vars}"
        );
    }
}

/// A key exported with another value than `.env`'s stops it before anything starts,
/// naming the one Spin would use: the two can never disagree while it serves.
#[test]
fn an_exported_key_that_differs_from_env_stops_it_saying_which_wins() {
    let sandbox = Sandbox::new(&["curl", "jq"], Some("3.6.3"), "7.2.4");
    let env_file = sandbox.checkout().join(".env");
    let kept = "SPIN_VARIABLE_READ_API_KEYS=local:aaaaaaaaaaaaaaaaaaaa\n";
    std::fs::write(&env_file, kept).unwrap();
    let (code, out, err) = sandbox.run(free_port(), &[("SPIN_VARIABLE_READ_API_KEYS", "other:bbbbbbbbbbbbbbbbbbbb")]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("SPIN_VARIABLE_READ_API_KEYS is exported with a value other than the one in .env"), "{err}");
    assert!(err.contains("Spin would use the exported one"), "{err}");
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), kept, ".env is left as it was");
    assert!(!sandbox.calls("redis-server").contains("--port"), "no redis-server was started");
    let spin = sandbox.calls("spin");
    assert!(!spin.contains("build") && !spin.contains(" up"), "nothing was built or served: {spin}");
}

/// An exported key set to nothing still differs from `.env`'s: Spin would read the empty
/// value, so it stops too.
#[test]
fn an_exported_empty_key_also_stops_it() {
    let sandbox = Sandbox::new(&["curl", "jq"], Some("3.6.3"), "7.2.4");
    std::fs::write(sandbox.checkout().join(".env"), "SPIN_VARIABLE_ADMIN_TOKEN=aaaaaaaaaaaaaaaaaaaa\n").unwrap();
    let (code, out, err) = sandbox.run(free_port(), &[("SPIN_VARIABLE_ADMIN_TOKEN", "")]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("SPIN_VARIABLE_ADMIN_TOKEN is exported with a value other than the one in .env"), "{err}");
}

/// `scripts/variables` refuses what it cannot read, saying how it is used, and prints
/// nothing a `spin up` could mistake for variables.
#[test]
fn scripts_variables_refuses_an_unknown_option_and_a_missing_manifest() {
    let root = spin_test_host::workspace_root();
    let run =
        |args: &[&str]| Command::new(root.join("scripts/variables")).args(args).current_dir(&root).output().unwrap();
    let unknown = run(&["--bogus"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("usage: scripts/variables"));
    assert!(unknown.stdout.is_empty());
    let missing = run(&["no-such.toml"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no manifest no-such.toml"));
    assert!(missing.stdout.is_empty());
}

/// A runtime config Secret written without a required variable would start pods that
/// cannot run: `scripts/variables --runtime-config` refuses, naming each one and how to
/// give it, and prints nothing. Given them, it writes the Secret's file.
#[test]
fn scripts_variables_refuses_a_runtime_config_without_a_required_variable() {
    let root = spin_test_host::workspace_root();
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(root.join("scripts/variables"));
        cmd.args(["--no-dotenv", "--runtime-config", "deploy/kubernetes/spin.toml"]).current_dir(&root);
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("SPIN_VARIABLE_")) {
            cmd.env_remove(name);
        }
        cmd.envs(vars.iter().copied()).output().unwrap()
    };
    let given = [
        ("SPIN_VARIABLE_REDIS_ADDRESS", "redis://redis:6379"),
        ("SPIN_VARIABLE_REDIS_HOST", "redis:6379"),
        ("SPIN_VARIABLE_ADMIN_TOKEN", "admin-0123456789abcdef"),
        ("SPIN_VARIABLE_URL_SIGNING_KEYS", "k1:0123456789abcdef0123456789abcdef"),
    ];
    let short = run(&given);
    assert_eq!(short.status.code(), Some(1));
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(
        err.contains("requires read_api_keys, which has no value: export SPIN_VARIABLE_READ_API_KEYS with one"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "only the one missing: {err}");
    assert!(short.stdout.is_empty());
    let whole = run(&[given.as_slice(), &[("SPIN_VARIABLE_READ_API_KEYS", "read-0123456789abcdef-key")]].concat());
    assert_eq!(whole.status.code(), Some(0), "{}", String::from_utf8_lossy(&whole.stderr));
    let toml = String::from_utf8_lossy(&whole.stdout);
    assert!(toml.contains("read_api_keys = \"read-0123456789abcdef-key\""), "{toml}");
}

/// A scratch directory, removed when dropped.
mod tempdir {
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Dir {
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("{name}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
