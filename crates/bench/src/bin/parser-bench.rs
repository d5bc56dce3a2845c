//! `scripts/bench-parser`: what reading a request costs per byte, from 1 KiB up to each
//! cap, so a client cannot make a component work harder per byte by sending more
//! (the quadratic duplicate check this replaced took 0.5 s of CPU for 8,000
//! parameters). Each row is the median of many runs of order-core's own parsers, the
//! ones every component calls; the last column is the ns per byte against the
//! smallest row's, which should stay near 1.

#[cfg(target_family = "wasm")]
fn main() {}

#[cfg(not(target_family = "wasm"))]
fn main() {
    use order_core::http::problem::Problem;
    use order_core::http::request::{Request, MAX_BODY_BYTES, MAX_QUERY_BYTES};
    use order_core::model::order::Order;
    use std::hint::black_box;
    use std::time::Instant;

    /// Median nanoseconds of `f` over `runs` runs.
    fn median_ns(runs: usize, mut f: impl FnMut()) -> f64 {
        let mut t: Vec<f64> = (0..runs)
            .map(|_| {
                let s = Instant::now();
                f();
                s.elapsed().as_nanos() as f64
            })
            .collect();
        t.sort_by(|a, b| a.partial_cmp(b).unwrap());
        t[runs / 2]
    }

    fn table(title: &str, rows: Vec<(usize, f64, String)>) {
        println!("### {title}\n\n| bytes | median µs | ns per byte | x the first row's ns per byte | answer |\n|---|---|---|---|---|");
        let base = rows[0].1 / rows[0].0 as f64;
        for (bytes, ns, answer) in rows {
            let per = ns / bytes as f64;
            println!("| {bytes} | {:.1} | {per:.2} | {:.2} | {answer} |", ns / 1000.0, per / base);
        }
        println!();
    }

    // Query strings, the whole cap: ids and a token-sized parameter, then padding in one
    // long parameter, and a worst case of many repeated parameters (refused at 16).
    let mut rows = Vec::new();
    for size in [1024usize, 1536, MAX_QUERY_BYTES] {
        let head = "accountid=a0&vendorid=v0&pad=";
        let query = format!("{head}{}", "p".repeat(size - head.len()));
        let req = Request { method: "GET".into(), query, ..Request::default() };
        let answer = match req.check_limits().and_then(|_| req.query_params()) {
            Ok(_) => "read".to_owned(),
            Err(p) => p.status.to_string(),
        };
        rows.push((
            size,
            median_ns(2001, || drop(black_box(req.check_limits().and_then(|_| req.query_params())))),
            answer,
        ));
    }
    for size in [1024usize, MAX_QUERY_BYTES] {
        let query = "vendorid=v0&".repeat(size / 12);
        let req =
            Request { method: "GET".into(), query: query[..size.min(query.len())].to_owned(), ..Request::default() };
        let len = req.query.len();
        let answer = req.query_params().err().map(|p| p.status.to_string()).unwrap_or_default();
        rows.push((
            len,
            median_ns(2001, || drop(black_box(req.query_params()))),
            format!("{answer} (repeated parameter)"),
        ));
    }
    table("Query strings (`check_limits` + `query_params`), 1 KiB to the 2 KiB cap", rows);

    // Order bodies: the notebook's order padded with an ignored field, up to the body cap;
    // and nesting, refused past 32 levels before any parser recursion.
    let order = r#"{"order": {"accountid": "a0", "orderdate": "2026-11-27 23:06:44.123456", "vendorid": "v0",
        "city": "Perth", "details": {"coffeetype": "Latte", "coffeesize": "Large", "unitprice": "4.5",
        "quantity": 3}, "eventtype": ["new_order"]}, "pad": ""#;
    let mut rows = Vec::new();
    for size in [1024usize, 4096, 16 * 1024, MAX_BODY_BYTES] {
        let body = format!("{order}{}\"}}", "p".repeat(size - order.len() - 2)).into_bytes();
        let answer = Order::from_body(&body)
            .map(|_| "accepted".to_owned())
            .unwrap_or_else(|p| Problem::from(p).status.to_string());
        rows.push((body.len(), median_ns(501, || drop(black_box(Order::from_body(&body)))), answer));
    }
    for size in [1024usize, MAX_BODY_BYTES] {
        let body = "[".repeat(size).into_bytes();
        let answer = Order::from_body(&body).err().map(|p| Problem::from(p).status.to_string()).unwrap_or_default();
        rows.push((size, median_ns(501, || drop(black_box(Order::from_body(&body)))), format!("{answer} (nesting)")));
    }
    table("Order bodies (`Order::from_body`), 1 KiB to the 64 KiB cap", rows);
}
