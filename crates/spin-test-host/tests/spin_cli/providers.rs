//! `spin.toml` on each key-value provider the README offers, chosen by the runtime
//! config alone (`--runtime-config-file`): `spin` (SQLite, the default), `redis`, and
//! `aws_dynamo` (the original's DynamoDB) against a local DynamoDB API.

use super::*;

/// Posts `n` orders, waits for the pipeline to settle, and reads every one back.
fn burst_is_stored(app: &SpinUp, prefix: &str, n: usize) {
    let accepted = Burst::start(&[app.base()], prefix, n, 16).finish();
    assert_eq!(accepted.len(), n);
    let client = app.client();
    settled(&client, n as u64, Duration::from_secs(60));
    assert_all_stored(&client, prefix, &accepted);
}

#[test]
fn stores_on_spins_sqlite_provider() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start();
    let dir = scratch("kv-spin");
    let config = runtime_config(&dir, |label| format!("type = \"spin\"\npath = \"stores/{label}.db\""));
    let app = local_app(&redis, &dir).runtime_config(config).start(&spin.path);
    burst_is_stored(&app, "sq-", 500);
    assert!(dir.join("stores/orders.db").exists() && dir.join("stores/invoices.db").exists());
}

/// Spin's Redis provider on a Redis of its own (not the topic's).
#[test]
fn stores_on_spins_redis_provider() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start();
    let stores = RedisServer::start();
    let dir = scratch("kv-redis");
    let url = stores.url();
    let config = runtime_config(&dir, |_| format!("type = \"redis\"\nurl = \"{url}\""));
    let app = local_app(&redis, &dir).runtime_config(config).start(&spin.path);
    burst_is_stored(&app, "rd-", 500);
    let keys: usize = redis::cmd("DBSIZE").query(&mut stores.client().get_connection().unwrap()).unwrap();
    assert!(keys >= 1_000, "the orders and invoices are on the stores' Redis: {keys} keys");
}

/// A local DynamoDB API (`moto_server`, PyPI `moto[server]`) on a free port, with the
/// tables Spin's provider expects (string hash key `PK`); killed when dropped.
pub struct LocalDynamo {
    child: Option<Child>,
    port: u16,
    tables: Vec<String>,
    pub url: String,
}

impl LocalDynamo {
    /// `None` (with a line saying so) without `moto_server`; under `CI=true`, a failure.
    pub fn start(tables: &[&str]) -> Option<LocalDynamo> {
        let port = free_port();
        let mut dynamo = LocalDynamo {
            child: None,
            port,
            tables: tables.iter().map(|t| t.to_string()).collect(),
            url: format!("http://127.0.0.1:{port}"),
        };
        if let Err(e) = dynamo.spawn() {
            let why = format!("no moto_server ({e}): scripts/test installs it");
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            let _ = writeln!(std::io::stderr(), "real-Spin tier: the aws_dynamo test skipped: {why}");
            return None;
        }
        Some(dynamo)
    }

    /// `spin.toml` on `redis` with its two stores here, through Spin's `aws_dynamo`
    /// provider: credentials, region and endpoint from the environment, as on AWS
    /// (`AWS_ENDPOINT_URL` points it at this API).
    pub fn app(&self, redis: &RedisServer, dir: &Path) -> Up {
        let config = runtime_config(dir, |label| {
            format!("type = \"aws_dynamo\"\nregion = \"us-east-1\"\ntable = \"coffee-{label}\"")
        });
        local_app(redis, dir)
            .runtime_config(config)
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
    }

    /// Stops it: the provider's calls are refused.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, with its tables (empty: moto keeps nothing).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().expect("moto_server");
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let port = self.port;
        let program = spin_test_host::python_tool("moto_server")
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "moto_server"))?;
        self.child = Some(
            Command::new(program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        eventually(Duration::from_secs(30), "moto_server to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        for table in &self.tables {
            self.call(
                "CreateTable",
                &serde_json::json!({
                    "TableName": table,
                    "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST"
                }),
            );
        }
        Ok(())
    }

    /// One DynamoDB API call, as the AWS CLI sends it (moto checks no signature).
    pub fn call(&self, action: &str, body: &serde_json::Value) -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sS", "-X", "POST", &self.url])
            .args(["-H", "content-type: application/x-amz-json-1.0"])
            .args(["-H", &format!("x-amz-target: DynamoDB_20120810.{action}")])
            .args(["-H", "authorization: AWS4-HMAC-SHA256 Credential=test/20261204/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"])
            .args(["-d", &body.to_string()])
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{action}: {e}: {text}"))
    }
}

impl Drop for LocalDynamo {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spin's `aws_dynamo` provider, on a local DynamoDB API.
#[test]
fn stores_on_spins_aws_dynamo_provider() {
    let (spin, _one) = spin_or_skip!();
    let Some(dynamo) = LocalDynamo::start(&["coffee-orders", "coffee-invoices"]) else { return };
    let redis = RedisServer::start();
    let app = dynamo.app(&redis, &scratch("kv-dynamo")).start(&spin.path);
    burst_is_stored(&app, "dy-", 500);
    let scanned = dynamo.call("Scan", &serde_json::json!({"TableName": "coffee-orders", "Select": "COUNT"}));
    assert_eq!(scanned["Count"], 500, "one item per order in the table: {scanned}");
}
