//! A test host that runs this app's built components the way `spin up` does, on the
//! `wasmtime` crate with a real Redis server. For tests and benchmarks only: the Spin
//! CLI cannot be installed where they run.
//!
//! What it reproduces from Spin (and why it matters to our design):
//! - `spin.toml` wiring: HTTP routes (exact, `/...` wildcard, private), Redis channels,
//!   variables and their templates, the runtime config's key-value labels.
//! - Capabilities: a component opens only the stores it lists (else `AccessDenied`),
//!   reaches only its `allowed_outbound_hosts` (Redis and service chaining), reads only
//!   its own variables. An import the host does not provide fails at load.
//! - Cost model: a fresh instance per request and per message; a new Redis TCP
//!   connection per `Connection::open`; one subscriber connection per Redis address
//!   whose messages are handled one at a time, every subscriber of a channel
//!   concurrently; a handler error is logged and the message dropped; the trigger
//!   ends when the connection drops.
//! - The `spin-*` request headers, and local service chaining
//!   (`http://<component>.spin.internal`).
//!
//! - Key-value stores on SQLite, as Spin's default provider keeps them (see [`kv`]),
//!   through both `fermyon:spin/key-value` and `wasi:keyvalue` (store, batch).
//!
//! What it does not: OpenTelemetry, HTTP/2, the other Spin APIs (this app uses none).
#![cfg(not(target_family = "wasm"))]

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "coffee-orders:components/spin-host",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub mod clocks;
pub mod docs;
pub mod hosted;
pub mod http_trigger;
pub mod kv;
pub mod lazyfs;
pub mod manifest;
pub mod openapi;
pub mod otlp;
pub mod redis_server;
pub mod redis_trigger;
pub mod s3_server;
mod spin_apis;
pub mod spin_cli;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub use kv::KvStores;
pub use manifest::Manifest;

/// The workspace root (where `spin.toml` is).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The README's walkthrough: the shell block marked `runs: walkthrough`, as a user
/// copies it (both test tiers run it verbatim).
pub fn readme_walkthrough() -> String {
    docs::block("walkthrough")
}

/// A Python tool the tests run (`openapi-spec-validator`, `schemathesis`, `moto_server`):
/// the one `scripts/test` installs into the repository's own virtual environment,
/// `.tools/venv`, else one on `PATH`. `None` without either.
pub fn python_tool(name: &str) -> Option<PathBuf> {
    let venv = workspace_root().join(".tools/venv/bin").join(name);
    if venv.exists() {
        return Some(venv);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Runs `script` in `dir` with `bash -euo pipefail`, as a user pastes it into a shell,
/// and returns what it printed; a failing script fails the test with its output.
pub fn bash(script: &str, dir: &Path) -> String {
    let out = std::process::Command::new("bash")
        .current_dir(dir)
        .args(["-euo", "pipefail", "-c", script])
        .output()
        .expect("bash, curl and jq are needed for this test (.ci/run installs them)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{script}\n-> {text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// One engine for the process: compiled components are cached by path and mtime.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(&wasmtime::Config::new()).expect("wasmtime engine"))
}

fn compile(path: &Path) -> Result<Component> {
    static CACHE: OnceLock<Mutex<HashMap<(PathBuf, std::time::SystemTime), Component>>> = OnceLock::new();
    let mtime = std::fs::metadata(path)
        .with_context(|| {
            format!(
                "{} is missing: build the components first (cargo build --target wasm32-wasip2 --release)",
                path.display()
            )
        })?
        .modified()?;
    let key = (path.to_path_buf(), mtime);
    if let Some(c) = CACHE.get_or_init(Default::default).lock().unwrap().get(&key) {
        return Ok(c.clone());
    }
    let c = Component::from_file(engine(), path)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling {}", path.display()))?;
    CACHE.get().unwrap().lock().unwrap().insert(key, c.clone());
    Ok(c)
}

/// How to start the app.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Application variables by name, as `spin up --variable` sets them: they win over
    /// `SPIN_VARIABLE_<NAME>` in the environment, which wins over the manifest
    /// directory's `.env`, which wins over the manifest's defaults.
    pub variables: HashMap<String, String>,
    /// Stores to use instead of fresh empty ones (to restart the app over the same data).
    pub stores: Option<Arc<KvStores>>,
    /// Use another manifest than the workspace's `spin.toml`.
    pub manifest: Option<PathBuf>,
    /// Where to run it: `spin up` (the default), or a hosted platform.
    pub platform: Platform,
    /// Whether each answer a client receives is checked against the API's OpenAPI
    /// document (the default, for tests; benchmarks turn it off).
    pub answers: Answers,
}

/// What the host does with each answer it gives a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Answers {
    /// Checked against `docs/openapi.json` ([`openapi`]): a call that breaks it panics
    /// in the test; one its listener served fails the test when the listener is dropped.
    #[default]
    CheckedAgainstTheDocument,
    /// Not checked (the benchmarks, which measure the host, not the contract).
    Unchecked,
}

/// Where the app runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Platform {
    /// `spin up` (and SpinKube): every trigger, the runtime config beside the manifest.
    #[default]
    SpinUp,
    /// Fermyon Cloud or Akamai Functions: refuses what they refuse (see [`hosted`]),
    /// reads no runtime config, and gives each store label a store of its own.
    Hosted,
}

/// Counters a test can read.
#[derive(Debug, Default)]
pub struct Stats {
    pub http_requests: AtomicU64,
    pub redis_messages: AtomicU64,
    pub handler_failures: AtomicU64,
    pub redis_connections: AtomicU64,
    /// Guest invocations (requests, messages, chained requests), and their time in all.
    pub invocations: AtomicU64,
    pub invocation_ns: AtomicU64,
    /// Time spent instantiating, in `Connection::open`, in other Redis calls, and in
    /// key-value calls: where an invocation's time goes.
    pub instantiate_ns: AtomicU64,
    pub redis_open_ns: AtomicU64,
    pub redis_command_ns: AtomicU64,
    pub kv_ns: AtomicU64,
    /// Self-requests (`http://self`): on the hosted platforms each counts against the
    /// outbound request quota.
    pub self_requests: AtomicU64,
    /// HTTP handlers still running after they answered (Spin lets them finish).
    pub running_after_answer: AtomicU64,
    /// What a component was refused (a store it does not list, a host it does not
    /// allow), in order: `component: what`.
    pub denials: Mutex<Vec<String>>,
}

impl Stats {
    /// Adds the time until the returned guard drops to `counter`.
    pub(crate) fn time<'a>(&'a self, counter: &'a AtomicU64) -> impl Drop + 'a {
        struct Guard<'a>(&'a AtomicU64, std::time::Instant);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(self.1.elapsed().as_nanos() as u64, Ordering::Relaxed);
            }
        }
        Guard(counter, std::time::Instant::now())
    }
}

/// The app, loaded: components compiled and linked, triggers wired from the manifest.
pub struct App {
    pub manifest: Manifest,
    pub kv: Arc<KvStores>,
    pub stats: Stats,
    logs: Mutex<HashMap<String, Vec<u8>>>,
    components: HashMap<String, Arc<Loaded>>,
    answers: Answers,
    /// Answers the listener served that break the API's document.
    pub(crate) broken_answers: Mutex<Vec<String>>,
}

pub(crate) struct Loaded {
    pub spec: manifest::ComponentSpec,
    pub pre: InstancePre<HostState>,
    /// Its export, looked up once at load: `wasi:http/incoming-handler` ...
    pub http: Option<wasmtime_wasi_http::p2::bindings::ProxyPre<HostState>>,
    /// ... or `fermyon:spin/inbound-redis`.
    pub redis: Option<bindings::SpinHostPre<HostState>>,
}

impl App {
    /// Loads `spin.toml` and `runtime-config.toml` from the workspace and links every
    /// component. Fails, as `spin up` would, on a missing required variable, an unknown
    /// store label, or an import the host cannot satisfy.
    pub fn load(options: Options) -> Result<Arc<App>> {
        let root = workspace_root();
        let manifest_path = options.manifest.clone().unwrap_or_else(|| root.join("spin.toml"));
        let rc = manifest_path.parent().unwrap().join("runtime-config.toml");
        let mut variables = manifest::provided_variables(&std::env::vars().collect::<Vec<_>>(), &manifest_path);
        variables.extend(options.variables.clone());
        let manifest = match options.platform {
            Platform::SpinUp => Manifest::load(
                &manifest_path,
                manifest::Stores::RuntimeConfig(rc.exists().then_some(rc.as_path())),
                &variables,
            )?,
            Platform::Hosted => {
                let manifest = Manifest::load(&manifest_path, manifest::Stores::LinkedAtDeploy, &variables)?;
                hosted::check(&manifest).map_err(anyhow::Error::msg)?;
                manifest
            }
        };

        let mut linker: Linker<HostState> = Linker::new(engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        bindings::fermyon::spin2_0_0::key_value::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
        bindings::fermyon::spin2_0_0::redis::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
        bindings::fermyon::spin2_0_0::variables::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
        bindings::fermyon::spin::redis_types::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
        bindings::wasi::keyvalue::store::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
        bindings::wasi::keyvalue::batch::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;

        let mut components = HashMap::new();
        for spec in manifest.components.values() {
            let component = compile(&spec.source)?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("component `{}` imports something Spin does not provide", spec.id))?;
            let http = wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre.clone()).ok();
            let redis = bindings::SpinHostPre::new(pre.clone()).ok();
            components.insert(spec.id.clone(), Arc::new(Loaded { spec: spec.clone(), pre, http, redis }));
        }
        let kv = options.stores.clone().unwrap_or_else(|| {
            Arc::new(
                KvStores::new(&manifest.kv_labels)
                    .with_redis(&manifest.kv_redis)
                    .with_dynamo_limits(&manifest.kv_dynamo),
            )
        });
        Ok(Arc::new(App {
            manifest,
            kv,
            stats: Stats::default(),
            logs: Mutex::default(),
            components,
            answers: options.answers,
            broken_answers: Mutex::default(),
        }))
    }

    /// Records and reports a capability a component was refused.
    pub(crate) fn deny(&self, component: &str, what: &str) {
        eprintln!("[{component}] {what} denied");
        self.stats.denials.lock().unwrap().push(format!("{component}: {what}"));
    }

    pub(crate) fn component(&self, id: &str) -> Option<&Arc<Loaded>> {
        self.components.get(id)
    }

    /// A fresh store for one invocation of `component`, its stdout and stderr captured.
    pub(crate) fn new_store(self: &Arc<Self>, component: &Arc<Loaded>) -> (Store<HostState>, MemoryOutputPipe) {
        // Spin writes component output to files, without a cap: keep the cap out of the way.
        let out = MemoryOutputPipe::new(256 << 20);
        let wasi = WasiCtx::builder().stdout(out.clone()).stderr(out.clone()).build();
        let state = HostState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: http_trigger::Chaining { app: self.clone(), from: component.clone() },
            component: component.clone(),
            app: self.clone(),
        };
        (Store::new(engine(), state), out)
    }

    /// Records what the invocation wrote when the returned guard drops, even if the
    /// invocation is cut off (Spin writes component output to its log files as it comes).
    /// [`OutputRecorder::flush`] records what was written so far.
    pub(crate) fn output_recorder(self: &Arc<Self>, component: &str, out: MemoryOutputPipe) -> Arc<OutputRecorder> {
        Arc::new(OutputRecorder { app: self.clone(), component: component.to_owned(), out, recorded: Mutex::new(0) })
    }

    fn record_output(&self, component: &str, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if std::env::var_os("SPIN_TEST_HOST_ECHO").is_some() {
            eprint!(
                "{}",
                String::from_utf8_lossy(bytes).lines().map(|l| format!("[{component}] {l}\n")).collect::<String>()
            );
        }
        self.logs.lock().unwrap().entry(component.to_owned()).or_default().extend_from_slice(bytes);
    }

    /// Mean time to instantiate `component`, over `n` fresh instances (as Spin makes one
    /// per request or message).
    pub async fn mean_instantiation(self: &Arc<Self>, component: &str, n: u32) -> Result<std::time::Duration> {
        let loaded = self.component(component).cloned().context("no such component")?;
        let start = std::time::Instant::now();
        for _ in 0..n {
            let (mut store, _out) = self.new_store(&loaded);
            loaded.pre.instantiate_async(&mut store).await.map_err(anyhow::Error::from)?;
        }
        Ok(start.elapsed() / n)
    }

    /// Everything `component` wrote to stdout and stderr so far (Spin keeps these in
    /// `.spin/logs/<component>_stdout.txt` and `_stderr.txt`).
    pub fn logs(&self, component: &str) -> String {
        String::from_utf8_lossy(self.logs.lock().unwrap().get(component).map(Vec::as_slice).unwrap_or_default())
            .into_owned()
    }
}

/// One invocation's output, recorded into the app's logs as it is flushed.
pub(crate) struct OutputRecorder {
    app: Arc<App>,
    component: String,
    out: MemoryOutputPipe,
    recorded: Mutex<usize>,
}

impl OutputRecorder {
    /// Records what was written since the last flush.
    pub(crate) fn flush(&self) {
        let mut recorded = self.recorded.lock().unwrap();
        let bytes = self.out.contents();
        self.app.record_output(&self.component, &bytes[*recorded..]);
        *recorded = bytes.len();
    }
}

impl Drop for OutputRecorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Per-invocation state: WASI, wasi-http, and which component is calling.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: http_trigger::Chaining,
    component: Arc<Loaded>,
    app: Arc<App>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

impl bindings::fermyon::spin::redis_types::Host for HostState {}

pub(crate) fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Builds the five components for `wasm32-wasip2` (release) once per test process, as
/// `spin build` would, so `cargo test` always runs the current code. The nested cargo
/// builds another target and profile than the test's own, so it takes no lock the
/// outer `cargo test` holds.
pub fn build_components() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| build_wasm(COMPONENT_PACKAGES));
}

/// `cargo build --target wasm32-wasip2 --release -p <each package>`.
pub fn build_wasm(packages: &[&str]) {
    build_wasm_with(packages, &[]);
}

/// The components of an order's path in their `otel` build, as `scripts/run` builds
/// them when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: spans through `wasi:otel`, into
/// `target/otel/` (they start only under `spin up --experimental-wasi-otel`).
pub const OTEL_PACKAGES: &[&str] = &["order-api", "order-writer", "invoice-writer"];

/// Builds [`OTEL_PACKAGES`] as `scripts/run` does, once per test process, and returns a
/// copy of `spin.toml` whose three sources are those builds.
pub fn otel_manifest() -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        build_wasm_with(OTEL_PACKAGES, &["--features", "spin-adapters/otel", "--target-dir", "target/otel"])
    });
    let root = workspace_root();
    edited_manifest(|text| {
        OTEL_PACKAGES.iter().fold(text, |text, p| {
            let file = format!("wasm32-wasip2/release/{}.wasm", p.replace('-', "_"));
            text.replace(
                &format!("{}/target/{file}", root.display()),
                &format!("{}/target/otel/{file}", root.display()),
            )
        })
    })
}

fn build_wasm_with(packages: &[&str], args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--target", "wasm32-wasip2", "--release"])
        .args(args)
        .args(packages.iter().flat_map(|p| ["-p", p]))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running cargo to build the components");
    assert!(status.success(), "building {packages:?} for wasm32-wasip2 failed");
}

/// The crates `spin build` builds, one per component.
pub const COMPONENT_PACKAGES: &[&str] =
    &["order-api", "order-reader", "order-writer", "invoice-writer", "invoice-api", "pipeline-api"];

/// Writes a copy of the workspace's `spin.toml`, changed by `edit`, into a temporary
/// directory (sources made absolute, the runtime config beside it) and returns its path:
/// for tests that take a capability away.
pub fn edited_manifest(edit: impl FnOnce(String) -> String) -> PathBuf {
    let root = workspace_root();
    let text = std::fs::read_to_string(root.join("spin.toml")).unwrap();
    let text = text.replace("source = \"target/", &format!("source = \"{}/target/", root.display()));
    let dir = std::env::temp_dir().join(format!("spin-test-host-{}-{}", std::process::id(), next_id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(root.join("runtime-config.toml"), dir.join("runtime-config.toml")).unwrap();
    let edited = edit(text.clone());
    assert!(edited != text, "the edit of spin.toml changed nothing");
    std::fs::write(dir.join("spin.toml"), edited).unwrap();
    dir.join("spin.toml")
}

pub(crate) fn next_id() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `address` without its user info, for the host's own messages (Spin prints a Redis
/// server as host and port).
pub(crate) fn redacted(address: &str) -> String {
    match address.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            format!("{scheme}://{}{tail}", authority.rsplit('@').next().unwrap_or(authority))
        }
        None => address.to_owned(),
    }
}
