//! The real Spin CLI, run as users run it: `spin up` on a manifest with variables, a
//! runtime config and `-c` subsets, in a directory of its own; for the real-Spin test
//! tier (`tests/spin_cli`) and `scripts/bench`.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Spin CLI to run: `$SPIN_CLI`, else `spin` on `PATH`.
pub fn find() -> Option<PathBuf> {
    match std::env::var_os("SPIN_CLI") {
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("spin")).find(|p| p.is_file())),
    }
}

/// `spin --version`'s first line (`spin 3.6.3 (88d51cf1 2026-04-09)`), if `spin` is one.
pub fn version(spin: &Path) -> Option<String> {
    let out = Command::new(spin).arg("--version").output().ok()?;
    let line = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_owned();
    (out.status.success() && line.starts_with("spin ")).then_some(line)
}

/// SIGKILL to `child`'s process group (it was started as its leader).
pub fn kill_group(child: &Child) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
}

/// How many subscribers the Redis at `url` counts on `channel` (`PUBSUB NUMSUB`).
pub fn subscribers(url: &str, channel: &str) -> usize {
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    let counts: Vec<(String, usize)> = redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query(&mut conn).unwrap();
    counts.first().map_or(0, |(_, n)| *n)
}

/// Application variables as `spin up` reads them from the environment: `SPIN_VARIABLE_<NAME>`.
pub fn variable_env(vars: &[(String, String)]) -> impl Iterator<Item = (String, &str)> {
    vars.iter().map(|(k, v)| (format!("SPIN_VARIABLE_{}", k.to_uppercase()), v.as_str()))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How one `spin up` is started.
#[derive(Clone)]
pub struct Up {
    manifest: PathBuf,
    runtime_config: Option<PathBuf>,
    components: Vec<String>,
    vars: Vec<(String, String)>,
    /// Other environment variables (`AWS_ENDPOINT_URL`, ...).
    env: Vec<(String, String)>,
    /// Other arguments of `spin up` (`--experimental-wasi-otel`).
    args: Vec<String>,
    /// Listens for HTTP (the front, or an app with HTTP triggers).
    http: bool,
    /// Ready only once this Redis (URL) counts this many subscribers on this channel.
    subscribers: Option<(String, String, usize)>,
    /// How Spin is given the variables.
    variables: Variables,
    dir: PathBuf,
}

/// How `spin up` is given the app's variables.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Variables {
    /// Every variable the manifest declares (the given values, else its defaults), as
    /// `scripts/variables` writes them, in a file of mode 600 passed as
    /// `--variable @<file>`: Spin's static provider, which it asks first. What every
    /// wiring of this project does.
    StaticFile,
    /// Only the given values, as `SPIN_VARIABLE_*` in the environment: Spin's
    /// environment provider, which it asks last (the wiring before issue 35: the
    /// benchmark's comparison, and a wiring whose values all come from its runtime
    /// config).
    Environment,
}

/// What `scripts/variables`, as every wiring runs it, prints for `manifest` with `vars`
/// exported as `SPIN_VARIABLE_*` and no `.env`: every variable the manifest declares, as
/// JSON for `spin up --variable @<file>`, or (`runtime_config`) as a runtime config
/// whose static provider holds them (SpinKube's runtime-config Secret).
pub fn scripts_variables(manifest: &Path, vars: &[(String, String)], runtime_config: bool) -> Vec<u8> {
    let mut cmd = Command::new(crate::workspace_root().join("scripts/variables"));
    cmd.arg("--no-dotenv");
    if runtime_config {
        cmd.arg("--runtime-config");
    }
    // Only `vars`: a `SPIN_VARIABLE_*` the test runner's own shell exports must not reach
    // the app under test.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SPIN_VARIABLE_")) {
        cmd.env_remove(k);
    }
    let out = cmd.arg(manifest).envs(variable_env(vars)).output().expect("scripts/variables (bash, sed, jq)");
    assert!(out.status.success(), "scripts/variables: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// [`scripts_variables`]'s JSON for `manifest` and `vars`, written to `path` with mode
/// 600 (it holds secrets).
pub fn write_variables_file(manifest: &Path, vars: &[(String, String)], path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).unwrap();
    std::io::Write::write_all(&mut file, &scripts_variables(manifest, vars, false)).unwrap();
}

impl Up {
    /// `manifest` (relative to the workspace), its variables given as every wiring gives
    /// them ([`Variables::StaticFile`]), its state and logs in `dir`, which is also its
    /// working directory (so no `.env` of the checkout is read).
    pub fn new(manifest: &str, dir: &Path, vars: Vec<(String, String)>) -> Up {
        Up {
            manifest: crate::workspace_root().join(manifest),
            runtime_config: None,
            components: vec![],
            vars,
            env: vec![],
            args: vec![],
            http: true,
            subscribers: None,
            variables: Variables::StaticFile,
            dir: dir.to_owned(),
        }
    }

    pub fn runtime_config(mut self, path: PathBuf) -> Up {
        self.runtime_config = Some(path);
        self
    }

    /// `-c` for each, as `scripts/run` and SpinKube's `spec.components` run subsets.
    pub fn components(mut self, ids: &[&str]) -> Up {
        self.components = ids.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Ready only once the Redis at `url` counts `n` subscribers on `channel`. `spin up`
    /// serves HTTP before its Redis trigger has subscribed, and prints its channels
    /// before it subscribes: a doorbell published in between reaches no one.
    pub fn subscribed(mut self, url: &str, channel: &str, n: usize) -> Up {
        self.subscribers = Some((url.to_owned(), channel.to_owned(), n));
        self
    }

    /// No HTTP listener: the consumers' process.
    pub fn consumers_only(mut self) -> Up {
        self.http = false;
        self
    }

    pub fn var(mut self, name: &str, value: &str) -> Up {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Give Spin the variables as `variables` says (by default, [`Variables::StaticFile`]).
    pub fn variables(mut self, variables: Variables) -> Up {
        self.variables = variables;
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Up {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn arg(mut self, arg: &str) -> Up {
        self.args.push(arg.to_owned());
        self
    }

    /// Starts it with the Spin CLI at `spin`, and waits until it is ready.
    pub fn start(self, spin: &Path) -> SpinUp {
        let addr = self.http.then(|| format!("127.0.0.1:{}", free_port()));
        let mut up = SpinUp { up: self, addr, child: None, spin: spin.to_owned(), starts: 0 };
        up.spawn();
        up
    }
}

/// A running `spin up`, killed when dropped.
pub struct SpinUp {
    up: Up,
    /// Where it serves HTTP.
    pub addr: Option<String>,
    child: Option<Child>,
    spin: PathBuf,
    starts: usize,
}

impl SpinUp {
    fn out_path(&self) -> PathBuf {
        self.up.dir.join(format!("spin-up-{}.out", self.starts))
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let out = std::fs::File::create(self.out_path()).unwrap();
        let mut cmd = Command::new(&self.spin);
        cmd.current_dir(&self.up.dir)
            .arg("up")
            .arg("-f")
            .arg(&self.up.manifest)
            .arg("--state-dir")
            .arg(self.up.dir.join("state"));
        if let Some(rc) = &self.up.runtime_config {
            cmd.arg("--runtime-config-file").arg(rc);
        }
        for c in &self.up.components {
            cmd.args(["-c", c]);
        }
        if let Some(addr) = &self.addr {
            cmd.args(["--listen", addr]);
        }
        cmd.args(&self.up.args);
        match self.up.variables {
            Variables::StaticFile => {
                let file = self.up.dir.join("variables.json");
                write_variables_file(&self.up.manifest, &self.up.vars, &file);
                cmd.arg("--variable").arg(format!("@{}", file.display()));
            }
            Variables::Environment => {
                cmd.envs(variable_env(&self.up.vars));
            }
        }
        cmd.envs(self.up.env.iter().map(|(k, v)| (k, v))).process_group(0);
        cmd.env("RUST_LOG", "spin_trigger_redis=info,spin_trigger_http=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        self.child = Some(cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", self.spin.display())));
        self.wait_ready();
    }

    /// Waits until it serves (`Serving http://...`) or, without HTTP, until its Redis
    /// trigger has listed its channels (`Active Channels`): as a user watches `spin up`
    /// start; then for the subscribers [`Up::subscribed`] names.
    fn wait_ready(&mut self) {
        let ready = if self.addr.is_some() { "Serving http://" } else { "Active Channels" };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let out = self.output();
            if out.contains(ready) {
                break;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("spin up exited ({status}) before it was ready:\n{out}");
            }
            assert!(Instant::now() < deadline, "spin up was not ready after 90 s:\n{out}");
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some((url, channel, n)) = &self.up.subscribers {
            while subscribers(url, channel) < *n {
                assert!(Instant::now() < deadline, "no {n} subscribers on `{channel}` after 90 s:\n{}", self.output());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// What `spin up` printed since its last start.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.out_path()).unwrap_or_default()
    }

    /// SIGKILL to its whole process group, as a crash of the pod or an OOM kill of its
    /// cgroup: nothing is finished or flushed. (`spin up` runs each trigger as a child
    /// process, `spin trigger http` and `spin trigger redis`, which outlive a kill of
    /// `spin up` alone.)
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_group(&c);
            let _ = c.wait();
        }
    }

    /// Whether it has exited by itself (as `spin up` does when its Redis trigger's
    /// connection drops).
    pub fn exited(&mut self) -> bool {
        self.child.as_mut().is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    /// Starts it again with the same arguments, on the same port: a restarted pod or
    /// service.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// What `component` wrote to stdout (Spin's log files under the state directory).
    pub fn logs(&self, component: &str) -> String {
        std::fs::read_to_string(self.up.dir.join("state/logs").join(format!("{component}_stdout.txt")))
            .unwrap_or_default()
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr.as_ref().expect("a spin up with HTTP"))
    }

    /// CPU time (user and system) its running processes have spent so far: `spin up` and
    /// its triggers, the members of its process group (Linux `/proc`; zero elsewhere).
    pub fn cpu(&self) -> std::time::Duration {
        let Some(group) = self.child.as_ref().map(Child::id) else { return Default::default() };
        let ticks: u64 = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter_map(|stat| ticks_in_group(&stat, group))
            .sum();
        // Linux counts in USER_HZ, 100 per second on every architecture it exports.
        std::time::Duration::from_millis(ticks * 10)
    }
}

/// A `/proc/<pid>/stat` line's CPU time (user and system, in ticks) if the process is in
/// process group `group`. The command name may hold spaces and parentheses, so the
/// fields are counted from its last `) `: state, ppid, pgrp, ..., utime (12th), stime.
fn ticks_in_group(stat: &str, group: u32) -> Option<u64> {
    let f: Vec<&str> = stat.rsplit_once(") ")?.1.split(' ').collect();
    if f.get(2)?.parse::<u32>().ok()? != group {
        return None;
    }
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

impl Drop for SpinUp {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::ticks_in_group;

    #[test]
    fn a_processs_cpu_is_counted_in_its_group_only() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
        let stat = "4242 (spin (trigger) x) S 4200 4200 4200 0 -1 4194560 900 0 0 0 150 35 0 0 20 0 12 0";
        assert_eq!(ticks_in_group(stat, 4200), Some(185));
        assert_eq!(ticks_in_group(stat, 4242), None, "grouped by pgrp, not by pid");
        assert_eq!(ticks_in_group("garbage", 4200), None);
    }
}
