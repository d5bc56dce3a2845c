//! `post`: N random orders like the notebook's, concurrently, with a summary; and with
//! `--verify`, a wait until every order and invoice is readable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand::{Rng, RngExt};

use crate::Client;

const CITIES: &[&str] = &[
    "Adelaide",
    "Brisbane",
    "Canberra",
    "Darwin",
    "Geelong",
    "Gold Coast",
    "Hobart",
    "Melbourne",
    "Perth",
    "Sydney",
    "Wollongong",
];
const COFFEES: &[&str] = &["Short Black", "Flat White", "Latte", "Long Black"];
const SIZES: &[(&str, &str)] = &[("Small", "3.5"), ("Medium", "4.0"), ("Large", "4.5"), ("x-Large", "5.0")];

#[derive(Debug, Clone)]
pub struct Options {
    /// Where to post: `/order`, or a benchmark baseline's route.
    pub path: String,
    pub count: usize,
    pub concurrency: usize,
    /// Prefixes every id, so runs do not overwrite each other: `<prefix>a<i>`.
    pub prefix: String,
    pub verify: bool,
    /// How long `--verify` waits for the pipeline to drain.
    pub deadline: Duration,
    pub progress: bool,
}

/// A fresh run prefix: `r` and 6 hex digits.
pub fn random_prefix() -> String {
    format!("r{:06x}-", rand::rng().random_range(0..1u32 << 24))
}

/// What `post` prints as it starts: where the orders go, and the live page to watch
/// them drain on (the app's root).
pub fn starting(base: &str, count: usize, prefix: &str) -> String {
    format!("posting {count} orders to {base} (ids {prefix}a0 …)\nwatch them drain: {base}/\n")
}

pub fn ids(prefix: &str, i: usize) -> (String, String) {
    (format!("{prefix}a{i}"), format!("{prefix}v{i}"))
}

/// Order `i` of a run: the notebook's fields and value ranges (quantity 1-10), each
/// drawn uniformly.
pub fn order(prefix: &str, i: usize, rng: &mut impl Rng) -> serde_json::Value {
    let (accountid, vendorid) = ids(prefix, i);
    let (size, price) = *SIZES.choose(rng).expect("sizes");
    serde_json::json!({"order": {
        "accountid": accountid, "vendorid": vendorid,
        "orderdate": "2026-11-28 00:00:00.000000",
        "city": CITIES.choose(rng).expect("cities"),
        "details": {"coffeetype": COFFEES.choose(rng).expect("coffees"), "coffeesize": size, "unitprice": price,
                    "quantity": rng.random_range(1..=10)},
        "eventtype": ["new_order"]
    }})
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub posted: usize,
    pub accepted: usize,
    pub rejected: usize,
    /// Answers other than 202 by status, and failures by kind (`unreachable`, `timeout`...).
    pub errors: BTreeMap<String, usize>,
    pub elapsed: Duration,
    /// Latencies of every answered request, sorted.
    pub latencies: Vec<Duration>,
    pub verify: Option<Verified>,
}

#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// From the first post until the last order and invoice were readable.
    pub drain: Duration,
    pub missing_orders: Vec<String>,
    pub missing_invoices: Vec<String>,
}

impl Report {
    pub fn throughput(&self) -> f64 {
        self.posted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        self.latencies[i]
    }

    /// Nothing lost: every post accepted and, when verified, every order and invoice found.
    pub fn complete(&self) -> bool {
        self.accepted == self.posted
            && self.verify.as_ref().is_none_or(|v| v.missing_orders.is_empty() && v.missing_invoices.is_empty())
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(
            f,
            "posted     {} in {:.2} s: {:.0} orders/s",
            self.posted,
            self.elapsed.as_secs_f64(),
            self.throughput()
        )?;
        writeln!(f, "accepted   {}", self.accepted)?;
        writeln!(f, "rejected   {}", self.rejected)?;
        for (k, n) in &self.errors {
            writeln!(f, "  {k:<9} {n}")?;
        }
        writeln!(
            f,
            "latency    p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(self.percentile(0.50)),
            ms(self.percentile(0.90)),
            ms(self.percentile(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default())
        )?;
        if let Some(v) = &self.verify {
            writeln!(f, "drained    every order and invoice readable after {:.2} s", v.drain.as_secs_f64())?;
            for (what, ids) in [("orders", &v.missing_orders), ("invoices", &v.missing_invoices)] {
                if !ids.is_empty() {
                    let shown: Vec<&str> = ids.iter().take(20).map(String::as_str).collect();
                    writeln!(
                        f,
                        "MISSING    {} {what}: {}{}",
                        ids.len(),
                        shown.join(" "),
                        if ids.len() > 20 { " …" } else { "" }
                    )?;
                }
            }
        }
        Ok(())
    }
}

fn bar(len: usize, show: bool, what: &str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let style = indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} {per_sec} eta {eta}")
        .expect("a valid template");
    indicatif::ProgressBar::new(len as u64).with_style(style).with_message(what.to_owned())
}

/// Runs `f(i)` for `i` in `0..n` on `threads` threads.
fn parallel(n: usize, threads: usize, f: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                f(i);
            });
        }
    });
}

pub fn run(client: &Client, opts: &Options) -> Report {
    let start = Instant::now();
    let report = Mutex::new(Report { posted: opts.count, ..Report::default() });
    // The capability URLs each 202 hands out, for --verify.
    let urls: Mutex<std::collections::HashMap<usize, (String, String)>> = Mutex::default();
    let progress = bar(opts.count, opts.progress, "posting");
    parallel(opts.count, opts.concurrency, |i| {
        let body = serde_json::to_vec(&order(&opts.prefix, i, &mut rand::rng())).expect("an order serializes");
        let sent = Instant::now();
        let result = client.post_json(&opts.path, &body);
        let took = sent.elapsed();
        let mut r = report.lock().unwrap();
        match result {
            Ok(a) if a.status == 202 => {
                r.accepted += 1;
                r.latencies.push(took);
                // Only --verify needs the URLs: the load generator shares the machine
                // with what it measures, so it parses nothing it does not need.
                if let Some(v) =
                    opts.verify.then(|| serde_json::from_slice::<serde_json::Value>(&a.body).ok()).flatten()
                {
                    if let (Some(o), Some(inv)) = (v["order_url"].as_str(), v["invoice_url"].as_str()) {
                        urls.lock().unwrap().insert(i, (o.to_owned(), inv.to_owned()));
                    }
                }
            }
            Ok(a) => {
                if (400..500).contains(&a.status) {
                    r.rejected += 1;
                }
                *r.errors.entry(a.status.to_string()).or_default() += 1;
                r.latencies.push(took);
            }
            Err(e) => {
                let kind = if e.to_string().contains("in time") { "timeout" } else { "unreachable" };
                *r.errors.entry(kind.into()).or_default() += 1;
            }
        }
        progress.inc(1);
    });
    progress.finish_and_clear();
    let mut report = report.into_inner().unwrap();
    report.elapsed = start.elapsed();
    report.latencies.sort();
    if opts.verify {
        report.verify = Some(verify(client, opts, start, &urls.into_inner().unwrap()));
    }
    report
}

/// Polls until every order and invoice of the run is readable, or the deadline passes:
/// through the capability URLs the 202 answers gave, else with the client's API key.
fn verify(
    client: &Client,
    opts: &Options,
    start: Instant,
    urls: &std::collections::HashMap<usize, (String, String)>,
) -> Verified {
    let orders: Mutex<BTreeSet<usize>> = Mutex::new((0..opts.count).collect());
    let invoices: Mutex<BTreeSet<usize>> = Mutex::new((0..opts.count).collect());
    let progress = bar(opts.count * 2, opts.progress, "verifying");
    let deadline = Instant::now() + opts.deadline;
    loop {
        let todo: Vec<(bool, usize)> = orders
            .lock()
            .unwrap()
            .iter()
            .map(|i| (true, *i))
            .chain(invoices.lock().unwrap().iter().map(|i| (false, *i)))
            .collect();
        if todo.is_empty() || Instant::now() > deadline {
            break;
        }
        let todo = Arc::new(todo);
        parallel(todo.len(), opts.concurrency, |k| {
            let (is_order, i) = todo[k];
            let (a, v) = ids(&opts.prefix, i);
            let path = match (urls.get(&i), is_order) {
                (Some((order_url, _)), true) => order_url.clone(),
                (Some((_, invoice_url)), false) => invoice_url.clone(),
                (None, true) => format!("/order?accountid={a}&vendorid={v}"),
                (None, false) => format!("/invoice?accountid={a}&vendorid={v}"),
            };
            if client.get(&path).is_ok_and(|answer| answer.status == 200) {
                let set = if is_order { &orders } else { &invoices };
                set.lock().unwrap().remove(&i);
                progress.inc(1);
            }
        });
        if !orders.lock().unwrap().is_empty() || !invoices.lock().unwrap().is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    progress.finish_and_clear();
    let names = |set: &Mutex<BTreeSet<usize>>| {
        let set = set.lock().unwrap();
        set.iter().map(|i| ids(&opts.prefix, *i)).map(|(a, v)| format!("{a}#{v}")).collect()
    };
    Verified { drain: start.elapsed(), missing_orders: names(&orders), missing_invoices: names(&invoices) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn it_starts_by_naming_the_live_page() {
        let client = crate::Client::new("http://127.0.0.1:3000/", Duration::from_secs(1));
        let text = starting(&client.base, 10, "r1-");
        assert_eq!(
            text,
            "posting 10 orders to http://127.0.0.1:3000 (ids r1-a0 …)\nwatch them drain: http://127.0.0.1:3000/\n"
        );
    }

    #[test]
    fn orders_look_like_the_notebooks() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut seen = BTreeSet::new();
        for i in 0..200 {
            let o = &order("r1-", i, &mut rng)["order"];
            assert_eq!(o["accountid"], format!("r1-a{i}"));
            let q = o["details"]["quantity"].as_u64().unwrap();
            assert!((1..=10).contains(&q));
            let size = o["details"]["coffeesize"].as_str().unwrap();
            let price = SIZES.iter().find(|(s, _)| *s == size).unwrap().1;
            assert_eq!(o["details"]["unitprice"], price);
            assert!(CITIES.contains(&o["city"].as_str().unwrap()));
            assert!(COFFEES.contains(&o["details"]["coffeetype"].as_str().unwrap()));
            seen.extend([o["city"].to_string(), o["details"]["coffeetype"].to_string(), size.into(), q.to_string()]);
        }
        assert_eq!(seen.len(), CITIES.len() + COFFEES.len() + SIZES.len() + 10, "every choice turns up");
        assert!(random_prefix().starts_with('r') && random_prefix().len() == 8);
    }

    #[test]
    fn percentiles() {
        let r = Report { latencies: (1..=100).map(Duration::from_millis).collect(), ..Report::default() };
        assert_eq!(r.percentile(0.5), Duration::from_millis(50));
        assert_eq!(r.percentile(0.99), Duration::from_millis(99));
        assert_eq!(r.percentile(1.0), Duration::from_millis(100));
    }

    #[test]
    fn timeouts_and_answers_that_are_not_json_are_errors() {
        // A server that accepts and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = Client::new(&format!("http://{}", silent.local_addr().unwrap()), Duration::from_millis(300));
        let e = crate::get_order(&client, "a0", "v0").unwrap_err().to_string();
        assert!(e.contains("no answer from") && e.contains("in time"), "{e}");

        // A server that answers HTML.
        let html = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = html.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = html.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let body = "<html>gateway</html>";
            let _ = write!(
                s,
                "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
        });
        let client = Client::new(&format!("http://{addr}"), Duration::from_secs(5));
        let e = crate::get_invoice(&client, "a0", None).unwrap_err().to_string();
        assert!(e.contains("502") && e.contains("text/html") && e.contains("not JSON"), "{e}");
    }

    #[test]
    fn unreachable_is_an_error_not_a_panic() {
        // Port 9 (discard) on loopback: nothing listens there on these machines.
        let client = Client::new("http://127.0.0.1:9", Duration::from_secs(2));
        let opts = Options {
            path: "/order".into(),
            count: 3,
            concurrency: 2,
            prefix: "x-".into(),
            verify: false,
            deadline: Duration::ZERO,
            progress: false,
        };
        let r = run(&client, &opts);
        assert_eq!((r.accepted, r.errors.get("unreachable").copied()), (0, Some(3)));
        assert!(!r.complete());
        let e = crate::get_order(&client, "a0", "v0").unwrap_err().to_string();
        assert!(e.contains("cannot reach http://127.0.0.1:9/order"), "{e}");
    }
}
