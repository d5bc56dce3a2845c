//! LazyFS (the FUSE file system Jepsen uses for this), mounted for one test: it passes
//! data through to its backing directory only when the writer fsyncs, and [`LazyFs::crash`]
//! drops everything that was not fsynced, as a machine crash (power, kernel) would.
//!
//! Found as `$LAZYFS`, else `lazyfs` on `PATH` (.ci/run installs it); it needs FUSE 3
//! (`fusermount3`) and `/dev/fuse`. Where any of it is missing, [`LazyFs::mount`] says
//! so and returns `None`; with `CI=true` that fails the test instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LazyFs {
    /// Where the program under test writes.
    pub mount: PathBuf,
    dir: PathBuf,
    fifo: PathBuf,
    child: Child,
}

impl LazyFs {
    /// Mounts a fresh LazyFS in `dir` (`dir/mnt`, backed by `dir/root`).
    pub fn mount(dir: &Path) -> Option<LazyFs> {
        let binary = std::env::var("LAZYFS").unwrap_or_else(|_| "lazyfs".into());
        let missing = if !Path::new("/dev/fuse").exists() {
            Some("no /dev/fuse".to_owned())
        } else if Command::new("fusermount3").arg("-V").output().is_err() {
            Some("no fusermount3 (apt-get install fuse3)".to_owned())
        } else if Command::new(&binary).arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            Some(format!("no LazyFS ({binary}): set LAZYFS to its binary (.ci/run does)"))
        } else {
            None
        };
        if let Some(why) = missing {
            let why = format!("LazyFS cannot be mounted: {why}");
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("skipped: {why}");
            return None;
        }
        let (mount, root, fifo) = (dir.join("mnt"), dir.join("root"), dir.join("faults.fifo"));
        std::fs::create_dir_all(&mount).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        let config = dir.join("lazyfs.toml");
        std::fs::write(
            &config,
            format!(
                "[faults]\nfifo_path=\"{}\"\n[cache]\napply_eviction=false\n[cache.simple]\ncustom_size=\"1gb\"\n\
                 blocks_per_page=1\n[filesystem]\nlog_all_operations=false\nlogfile=\"\"\n",
                fifo.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("lazyfs.log")).unwrap();
        let child = Command::new(&binary)
            .arg(&mount)
            .arg("--config-path")
            .arg(&config)
            .args(["-o", "allow_other", "-o", "modules=subdir", "-o"])
            .arg(format!("subdir={}", root.display()))
            .arg("-f")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let lazyfs = LazyFs { mount, dir: dir.to_owned(), fifo, child };
        let started = Instant::now();
        while !lazyfs.mounted() {
            assert!(started.elapsed() < Duration::from_secs(60), "LazyFS did not mount: {}", lazyfs.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(lazyfs)
    }

    fn mounted(&self) -> bool {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let point = self.mount.display().to_string();
        mounts.lines().any(|l| l.split(' ').nth(1) == Some(point.as_str()) && l.contains("lazyfs"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("lazyfs.log")).unwrap_or_default()
    }

    /// Drops every write not yet fsynced, as a machine crash does. Crash the program
    /// writing here first (SIGKILL), as the machine would take it down with it.
    pub fn crash(&self) {
        let cleared = self.log().matches("cache is cleared").count() + 1;
        let mut fifo = std::fs::OpenOptions::new().write(true).open(&self.fifo).unwrap();
        fifo.write_all(b"lazyfs::clear-cache\n").unwrap();
        drop(fifo);
        let started = Instant::now();
        while self.log().matches("cache is cleared").count() < cleared {
            assert!(started.elapsed() < Duration::from_secs(10), "LazyFS did not clear its cache: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3").arg("-u").arg(&self.mount).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
