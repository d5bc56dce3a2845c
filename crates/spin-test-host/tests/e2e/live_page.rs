//! The live page (`GET /`) in a real headless Chromium, driven over WebDriver by
//! chromedriver (Debian's `chromium` and `chromium-driver`; `.ci/run` installs them). The
//! page is served by the test host on a real port, as `spin up` serves it, and the test
//! reads only what a person would see: the text and colours on the page.
//!
//! A screenshot of the page mid-burst is saved as `target/test-artefacts/live-page.png`,
//! with one while Redis is down and one at a phone's width beside it.

use std::process::{Child, Command, Stdio};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};

use super::*;

/// Chromium as root in a container, with nothing reaching out to the network: the flags
/// this machine's notes give (without the background-networking ones, Chromium's own
/// connections are refused many at a time and litter the log).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1100",
];

struct Browser {
    client: Client,
    driver: Child,
    profile: std::path::PathBuf,
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is needed for this test (Debian's `chromium-driver`; .ci/run installs it)");
        eventually(Duration::from_secs(20), "chromedriver to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        let profile = std::env::temp_dir().join(format!("live-page-chromium-{}-{port}", std::process::id()));
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("chromedriver starts a Chromium session");
        Browser { client, driver, profile }
    }

    /// What the page's script returns (`return …`).
    async fn eval(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// The rendered text of the element `css` selects, read in one script: the page
    /// redraws every second, so an element found first and read after may be gone.
    async fn text(&self, css: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;";
        let text = self.client.execute(script, vec![css.into()]).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        text.as_str().unwrap_or_else(|| panic!("{css}: no such element")).to_owned()
    }

    async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    }

    async fn type_into(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Presses `button`, which asks for the admin token, and gives it `token`.
    async fn press_and_give_the_admin_token(&self, button: &str, token: &str) {
        self.click(button).await;
        self.until(Duration::from_secs(2), "the admin token form", &visible("admin-form")).await;
        self.type_into("#admin-token", token).await;
        self.click("#admin-form button[type=submit]").await;
    }

    /// Waits until the page's script `condition` returns true, or fails after `limit`
    /// with `what`, the page's banner and its groups' text.
    async fn until(&self, limit: Duration, what: &str, condition: &str) {
        let deadline = Instant::now() + limit;
        loop {
            if self.eval(&format!("return !!({condition});")).await == true {
                return;
            }
            if Instant::now() > deadline {
                let seen = self
                    .eval("return document.body ? document.body.innerText : document.documentElement.outerHTML")
                    .await;
                panic!(
                    "timed out after {limit:?} waiting for {what}; the page shows:\n{}",
                    seen.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The browser console's errors since the last call (chromedriver's log endpoint).
    async fn console_errors(&self) -> Vec<String> {
        let log = self.client.issue_cmd(BrowserLog).await.expect("chromedriver gives the browser's log");
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let dir = spin_test_host::workspace_root().join("target/test-artefacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, self.client.screenshot().await.unwrap()).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Ends the session (Chromium quits); dropping the browser then stops chromedriver.
    async fn close(self) {
        self.client.clone().close().await.unwrap();
    }

    /// The border colour of `group`'s card, as computed.
    async fn card_colour(&self, group: &str) -> serde_json::Value {
        self.eval(&format!(
            "return getComputedStyle(document.querySelector('article[data-group=\"{group}\"]')).borderTopColor"
        ))
        .await
    }
}

/// Also when a test fails half way: chromedriver stopped, the profile removed.
impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// chromedriver's `POST /session/{id}/se/log` for the `browser` log (not in the W3C
/// protocol, so not in fantoccini's).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (hyper::Method, Option<String>) {
        (hyper::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// A script expression: whether the element `id` is displayed.
fn visible(id: &str) -> String {
    format!("(getComputedStyle(document.getElementById('{id}')).display != 'none')")
}

/// A script expression: the group card's `data-k` field, as shown.
fn shown(group: &str, field: &str) -> String {
    format!("document.querySelector('article[data-group=\"{group}\"] [data-k=\"{field}\"]').textContent")
}

/// The number a card shows (`1,234` -> 1234).
async fn shown_number(b: &Browser, group: &str, field: &str) -> u64 {
    let text = b.eval(&format!("return {};", shown(group, field))).await;
    text.as_str().unwrap().replace(',', "").parse().unwrap_or_else(|_| panic!("{group} {field}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_shows_the_pipeline_drain_its_dead_letters_and_redis_going_away() {
    let mut redis = RedisServer::start();
    let app = load(Options {
        variables: vars(&redis, &[("max_deliveries", "3"), ("visibility_timeout_ms", "100")]),
        ..Options::default()
    });
    let trigger = app.start_redis_trigger().await.unwrap();
    let (addr, _listener) = app.listen(0).await.unwrap();
    let b = Browser::start().await;
    b.client.goto(&format!("http://{addr}/")).await.unwrap();

    // It loads, shows both groups, and the browser logged no error.
    b.until(Duration::from_secs(10), "both groups' cards", "document.querySelectorAll('article.group').length == 2")
        .await;
    for group in ["order-writer", "invoice-writer"] {
        b.until(Duration::from_secs(5), "a group keeping up", &format!("{} == 'keeping up'", shown(group, "health")))
            .await;
    }
    assert_eq!(b.console_errors().await, Vec::<String>::new(), "the page loaded with console errors");
    assert_eq!(b.text("#accepted").await, "0");
    assert_eq!(b.text("#durability").await, "process (settings)", "the level in force, and how it is confirmed");
    for hidden in ["banner", "admin-form", "lookup-order", "lookup-invoice", "partitions"] {
        assert_eq!(b.eval(&format!("return {}", visible(hidden))).await, false, "#{hidden} shows on a healthy page");
    }

    // A burst, paced as a client posting 400 orders a second for 5 s: the numbers move.
    const BURST: usize = 2000;
    let posting = {
        let app = app.clone();
        tokio::spawn(async move {
            for chunk in 0..BURST / 20 {
                for i in 0..20 {
                    assert_eq!(post_order(&app, &order_body(1000 + chunk * 20 + i)).await.status, 202);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let mut accepted_seen = std::collections::BTreeSet::new();
    let mut rate_seen = 0;
    let mut shot = None;
    while !posting.is_finished() {
        let accepted: u64 = b.text("#accepted").await.replace(',', "").parse().unwrap();
        accepted_seen.insert(accepted);
        let rate = shown_number(&b, "order-writer", "rate").await;
        rate_seen = rate_seen.max(rate);
        if shot.is_none() && accepted > 1200 && rate > 0 {
            shot = Some(b.screenshot("live-page.png").await);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    posting.await.unwrap();
    assert!(accepted_seen.len() >= 4, "the accepted count moved only through {accepted_seen:?} during a 5 s burst");
    assert!(rate_seen > 0, "the throughput never showed an order a second");
    assert!(shot.is_some(), "no moment mid-burst had both accepted orders and throughput on the page");
    for group in ["order-writer", "invoice-writer"] {
        b.until(
            Duration::from_secs(15),
            "every order acknowledged",
            &format!("{} == '{}' && {} == '0'", shown(group, "acked"), "2,000", shown(group, "pending")),
        )
        .await;
    }
    let chart = b
        .eval("return document.querySelector('article[data-group=\"order-writer\"] polyline').getAttribute('points')")
        .await;
    assert!(chart.as_str().unwrap().split(' ').count() >= 5, "the throughput chart has too few points: {chart}");

    // A message the order store refuses three times is dead-lettered: the card turns red.
    app.kv.poison_keys("orders", "a13#");
    assert_eq!(post_order(&app, &order_body(13)).await.status, 202);
    b.until(
        Duration::from_secs(15),
        "order-writer's card turning red",
        &format!("{} == '1 dead letter'", shown("order-writer", "health")),
    )
    .await;
    assert_eq!(b.card_colour("order-writer").await, "rgb(179, 38, 30)", "the dead-letter colour");
    assert_eq!(b.eval(&format!("return {}", shown("invoice-writer", "health"))).await, "keeping up");

    // The redrive asks for the admin token; a wrong one is refused, on the page.
    let dead = ".dl-group[data-group=\"order-writer\"]";
    b.press_and_give_the_admin_token(&format!("{dead} button.redrive"), "wrong-token-0000000").await;
    b.until(
        Duration::from_secs(5),
        "the refusal",
        "document.getElementById('admin-message').textContent.includes('403')",
    )
    .await;
    let refusal = b.text("#admin-message").await;
    assert!(refusal.contains("the admin token is not valid"), "{refusal}");
    assert_eq!(shown_number(&b, "order-writer", "dead").await, 1, "a refused redrive changed nothing");

    // With the right token: the dead letter, with its reason; then the redrive empties it.
    b.press_and_give_the_admin_token(&format!("{dead} button.show"), ADMIN).await;
    b.until(
        Duration::from_secs(5),
        "the dead letter's reason",
        &format!("document.querySelector('{dead} li .reason')"),
    )
    .await;
    assert_eq!(b.eval(&format!("return {}", visible("admin-form"))).await, false, "the token form stays open");
    let reason = b.text(&format!("{dead} li .reason")).await;
    assert!(reason.starts_with("store failed:") && reason.contains("injected failure"), "{reason}");
    assert!(b.text(&format!("{dead} li")).await.contains("a13 / v13, 3 deliveries"));
    app.kv.heal();
    b.click(&format!("{dead} button.redrive")).await;
    b.until(
        Duration::from_secs(5),
        "the redrive's answer",
        "document.getElementById('admin-message').textContent.includes('Redrove 1')",
    )
    .await;
    b.until(
        Duration::from_secs(10),
        "the dead letters emptied",
        &format!("!document.querySelector('{dead} li') && {} == 'keeping up'", shown("order-writer", "health")),
    )
    .await;
    eventually(Duration::from_secs(10), "the redriven order stored", || {
        app.kv.get("orders", "a13#v13").unwrap().is_some()
    })
    .await;

    // The order lookup: the stored order and a link to its invoice.
    b.type_into("#lookup-accountid", "a13").await;
    b.type_into("#lookup-vendorid", "v13").await;
    b.type_into("#lookup-key", READ_KEY).await;
    b.click("#lookup-form button[type=submit]").await;
    b.until(Duration::from_secs(5), "the invoice link", &visible("lookup-invoice")).await;
    let order: serde_json::Value = serde_json::from_str(&b.text("#lookup-order").await).unwrap();
    assert_eq!((order["order"]["accountid"].as_str(), order["order"]["vendorid"].as_str()), (Some("a13"), Some("v13")));
    let link = b.eval("return document.getElementById('lookup-invoice-link').href").await;
    let link = link.as_str().unwrap().strip_prefix(&format!("http://{addr}")).unwrap().to_owned();
    let invoice = call(&app, "GET", &link, &[], Bytes::new()).await;
    assert_eq!((invoice.status, invoice.json()["order_ref"].as_str()), (200, Some("a13#v13")), "the invoice link");
    b.type_into("#lookup-key", "not-a-key-000000").await;
    b.click("#lookup-form button[type=submit]").await;
    b.until(
        Duration::from_secs(5),
        "the lookup's refusal",
        "document.getElementById('lookup-message').textContent.includes('403')",
    )
    .await;

    // The consumers stop while orders come: both cards turn amber.
    trigger.stop().await.unwrap();
    for i in 0..20 {
        assert_eq!(post_order(&app, &order_body(3000 + i)).await.status, 202);
    }
    for group in ["order-writer", "invoice-writer"] {
        b.until(
            Duration::from_secs(10),
            "a stopped group falling behind",
            &format!("{} == 'falling behind'", shown(group, "health")),
        )
        .await;
        assert_eq!(b.card_colour(group).await, "rgb(161, 92, 0)", "the falling-behind colour");
    }

    // Every order accepted so far on the page (a poll may have come before the last
    // ones), then Redis goes away: a banner, the numbers greyed; it comes back by itself.
    b.until(
        Duration::from_secs(5),
        "every accepted order counted",
        "document.getElementById('accepted').textContent == '2,021'",
    )
    .await;
    redis.kill();
    b.until(
        Duration::from_secs(5),
        "the Redis-down banner",
        &format!("{} && document.body.classList.contains('stale')", visible("banner")),
    )
    .await;
    let banner = b.text("#banner").await;
    assert!(banner.contains("Redis is not answering") && banner.contains("redis is unavailable"), "{banner}");
    let grey = b.eval("return getComputedStyle(document.getElementById('accepted')).color").await;
    assert_eq!(grey, "rgb(154, 154, 154)", "the numbers are greyed while Redis is away");
    assert_eq!(b.text("#accepted").await, "2,021", "the last numbers stay on the page");
    b.screenshot("live-page-redis-down.png").await;
    redis.restart();
    b.until(
        Duration::from_secs(10),
        "the banner gone",
        &format!("!{} && !document.body.classList.contains('stale')", visible("banner")),
    )
    .await;

    // At a phone's width nothing needs a sideways scroll.
    b.client.set_window_size(390, 844).await.unwrap();
    b.until(Duration::from_secs(2), "the narrow layout", "window.innerWidth <= 400").await;
    let overflow = b.eval("return document.documentElement.scrollWidth - window.innerWidth").await;
    assert!(overflow.as_i64().unwrap() <= 0, "the page is {overflow} px wider than a phone");
    b.screenshot("live-page-phone.png").await;

    // Through all of it the script never failed: the console holds only the refusals and
    // the Redis outage the test caused, as the browser logs any failed request.
    let unexpected: Vec<String> = b
        .console_errors()
        .await
        .into_iter()
        .filter(|e| {
            !(e.contains("Failed to load resource") && (e.contains("status of 403") || e.contains("status of 503")))
        })
        .collect();
    assert_eq!(unexpected, Vec::<String>::new(), "console errors besides the expected 403s and 503s");
    b.close().await;
}

/// The page's files exactly as the repo holds them, each with the page's policy, while
/// Redis is down (when the page matters most); every file the page names is served; and
/// nothing else is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_its_files_served_with_a_strict_policy_even_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let app = app(&redis);
    redis.kill();
    assert_problem(&get(&app, "/pipeline").await, 503, None, "GET /pipeline without Redis");
    let dir = spin_test_host::workspace_root().join("components/pipeline-api/live");
    for (path, file, content_type) in [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/pipeline/live/live.js", "live.js", "text/javascript; charset=utf-8"),
        ("/pipeline/live/live.css", "live.css", "text/css; charset=utf-8"),
    ] {
        let a = call(&app, "GET", path, &[], Bytes::new()).await;
        assert_eq!((a.status, a.header("content-type")), (200, Some(content_type)), "{path}");
        assert_eq!(a.body, std::fs::read(dir.join(file)).unwrap(), "{path} is not {file}");
        let policy = a.header("content-security-policy").unwrap_or_default();
        assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "{path}: {policy}");
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"), "{path}");
        let head = call(&app, "HEAD", path, &[], Bytes::new()).await;
        assert_eq!((head.status, head.body.len()), (200, 0), "HEAD {path}");
    }
    // Every file the page names (relative to `/`) is one of them.
    let page = call(&app, "GET", "/", &[], Bytes::new()).await.text();
    let named: Vec<&str> = page.split(['"', '\'']).filter(|s| s.starts_with("pipeline/")).collect();
    assert_eq!(named, ["pipeline/live/live.css", "pipeline/live/live.js"], "the files index.html names");

    for (method, path, status) in [
        ("POST", "/", 405),
        ("DELETE", "/pipeline/live/live.js", 405),
        ("GET", "/pipeline/live/index.html", 404),
        ("GET", "/pipeline/live/", 404),
        ("GET", "/pipeline/live/%2e%2e/%2e%2e/spin.toml", 404),
        ("GET", "/pipeline/live/live.js%00.png", 404),
    ] {
        assert_problem(&call(&app, method, path, &[], Bytes::new()).await, status, None, &format!("{method} {path}"));
    }
    let long = format!("/?{}", "q".repeat(3000));
    assert_problem(&call(&app, "GET", &long, &[], Bytes::new()).await, 414, None, "a 3 KB query on the page");
    // Each request's log line names the path asked for, whichever of its routes it came by.
    let paths: Vec<String> =
        log_lines(&app, "pipeline-api").iter().map(|l| l["path"].as_str().unwrap_or_default().to_owned()).collect();
    for path in ["/", "/pipeline/live/live.js", "/pipeline", "/pipeline/live/index.html"] {
        assert!(paths.iter().any(|p| p == path), "no log line for {path}: {paths:?}");
    }
}

/// With the topic in three partitions the page lists them, each with its orders, and
/// shows the one whose Redis went away as unavailable while the others stay up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_shows_each_partition_and_the_one_that_is_down() {
    let mut servers: Vec<RedisServer> = (0..3).map(|_| RedisServer::start()).collect();
    let mut variables = vars(&servers[0], &[]);
    variables.insert("partition_addresses".into(), format!("{},{}", servers[1].url(), servers[2].url()));
    variables.insert("partition1_host".into(), servers[1].host());
    variables.insert("partition2_host".into(), servers[2].host());
    let app = load(Options { variables, ..Options::default() });
    let _trigger = app.start_redis_trigger().await.unwrap();
    let (addr, _listener) = app.listen(0).await.unwrap();
    for i in 0..30 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    let b = Browser::start().await;
    b.client.goto(&format!("http://{addr}/")).await.unwrap();
    b.until(
        Duration::from_secs(10),
        "three partitions, all up",
        "document.querySelectorAll('#partition-rows tr.up').length == 3",
    )
    .await;
    let mut accepted = Vec::new();
    for p in 0..3 {
        let cell = format!("#partition-rows tr[data-partition=\"{p}\"] td:nth-child(2)");
        accepted.push(b.text(&cell).await);
    }
    let total: u64 = accepted.iter().map(|a| a.replace(',', "").parse::<u64>().unwrap()).sum();
    assert_eq!(total, 30, "each partition's orders: {accepted:?}");
    servers[1].kill();
    b.until(
        Duration::from_secs(10),
        "partition 1 shown down",
        "document.querySelector('#partition-rows tr[data-partition=\"1\"]').className == 'down'",
    )
    .await;
    assert_eq!(b.eval("return document.querySelectorAll('#partition-rows tr.up').length").await, 2);
    b.screenshot("live-page-partitions.png").await;
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    b.close().await;
}
