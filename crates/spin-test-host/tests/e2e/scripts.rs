//! `scripts/run` either runs or says exactly why not: each missing piece named with its
//! install, nothing started, nothing written, and no "ready".

use std::path::Path;
use std::process::Command;

/// A directory with stand-ins for `spin` and `redis-server` at the given versions.
fn stand_ins(spin: &str, redis: &str) -> tempdir::Dir {
    let dir = tempdir::Dir::new("scripts-run");
    let write = |name: &str, body: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    };
    write("spin", format!("#!/bin/sh\necho 'spin {spin} (stand-in)'\n"));
    write("redis-server", format!("#!/bin/sh\necho 'Redis server v={redis} sha=00000000:0 malloc=libc bits=64'\n"));
    dir
}

/// `scripts/run` with the stand-ins first on `PATH`, a Redis address nothing listens at,
/// and `SPIN_CLI` as given (unset: `spin` from `PATH`).
fn run(bin: &Path, spin_cli: Option<&str>) -> (i32, String, String) {
    let root = spin_test_host::workspace_root();
    let port = spin_test_host::spin_cli::free_port();
    let mut cmd = Command::new(root.join("scripts/run"));
    cmd.env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .env("SPIN_VARIABLE_REDIS_ADDRESS", format!("redis://127.0.0.1:{port}"))
        .env_remove("SPIN_CLI");
    if let Some(cli) = spin_cli {
        cmd.env("SPIN_CLI", cli);
    }
    let out = cmd.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn a_redis_6_is_refused_with_the_way_to_get_7() {
    let bin = stand_ins("3.6.3", "6.0.16");
    let (code, out, err) = run(bin.path(), None);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("redis-server 7 or later, not 6.0.16"), "{err}");
    assert!(err.contains("Debian 11 and Ubuntu 22.04 ship Redis 6") && err.contains("redis:7"), "{err}");
    assert!(!out.contains("ready") && !out.contains("starting redis-server"), "{out}");
}

#[test]
fn a_missing_spin_cli_is_named_with_its_install_and_spin_cli_is_honoured() {
    let bin = stand_ins("3.6.3", "7.2.4");
    let (code, out, err) = run(bin.path(), Some("/nonexistent/spin"));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("SPIN_CLI is /nonexistent/spin, which is not an executable"), "{err}");
    assert!(!out.contains("ready"), "{out}");
    let old = stand_ins("2.7.0", "7.2.4");
    let (code, _, err) = run(old.path(), None);
    assert_eq!(code, 1);
    assert!(err.contains("not 2.7.0") && err.contains("spinframework.dev/downloads/install.sh"), "{err}");
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
