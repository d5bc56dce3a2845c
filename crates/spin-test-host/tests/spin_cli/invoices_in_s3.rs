//! Invoices in an S3-compatible bucket under the real `spin up`: the manifests'
//! `{{ s3_allowed_host }}`, outbound HTTP from the Redis handler and from the drain
//! endpoint, and the bucket's presigned URL, against an S3 API that checks SigV4
//! itself (`spin_test_host::s3_server`).

use super::*;
use spin_test_host::s3_server::{download, S3Server};

fn with_bucket(up: Up, s3: &S3Server) -> Up {
    s3.variables().into_iter().fold(up, |up, (k, v)| up.var(k, &v))
}

/// One order through `app`: its invoice is one object in the bucket, and `GET /invoice`
/// hands out the bucket's URL, which downloads it.
fn one_order_invoiced_in_the_bucket(app: &SpinUp, s3: &S3Server) {
    let client = app.client();
    let order = order_cli::post::order("", 0, &mut rand::rng());
    let answer = client.post_json("/order", &serde_json::to_vec(&order).unwrap()).unwrap();
    assert_eq!(answer.status, 202, "{}", String::from_utf8_lossy(&answer.body));
    let id = answer.json("202").unwrap()["message_id"].as_str().unwrap().to_owned();
    settled(&client, 1, Duration::from_secs(30));
    assert_eq!(s3.keys("invoices/"), [format!("invoices/a0/v0/{id}.json")]);
    let issued = client.get("/invoice?accountid=a0&vendorid=v0").unwrap();
    assert_eq!(issued.status, 200, "{}", String::from_utf8_lossy(&issued.body));
    let url = issued.json("GET /invoice").unwrap()["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/invoices/invoices/a0/v0/{id}.json?X-Amz-", s3.endpoint())), "{url}");
    let (status, content_type, disposition, body) = download(&url);
    assert_eq!((status, content_type.as_str()), (200, "application/json"), "{}", String::from_utf8_lossy(&body));
    assert_eq!(disposition, format!("attachment; filename=\"invoice-a0-v0-{id}.json\""));
    let invoice: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(invoice["order_ref"], "a0#v0");
    assert!(!app.output().contains(spin_test_host::s3_server::SECRET_ACCESS_KEY));
}

#[test]
fn invoices_in_a_bucket_under_spin_up() {
    let (spin, _one) = spin_or_skip!();
    let (redis, s3) = (RedisServer::start(), S3Server::start());
    let dir = scratch("s3");
    let app = with_bucket(local_app(&redis, &dir), &s3).runtime_config(repo_runtime_config(&dir)).start(&spin.path);
    one_order_invoiced_in_the_bucket(&app, &s3);
}

/// The hosted manifest: invoice-writer reaches the bucket from its drain endpoint,
/// after its answer.
#[test]
fn invoices_in_a_bucket_on_the_hosted_manifest() {
    let (spin, _one) = spin_or_skip!();
    let (redis, s3) = (RedisServer::start(), S3Server::start());
    let dir = scratch("s3-hosted");
    let app = with_bucket(hosted_app(&redis, &dir), &s3).start(&spin.path);
    one_order_invoiced_in_the_bucket(&app, &s3);
}

/// The bucket down under `spin up`: `GET /invoice` is a 503 naming it, and an order
/// accepted meanwhile is invoiced once it is back, with no new order (the retry clock).
#[test]
fn the_bucket_down_and_back_under_spin_up() {
    let (spin, _one) = spin_or_skip!();
    let (redis, mut s3) = (RedisServer::start(), S3Server::start());
    let dir = scratch("s3-down");
    let app = with_bucket(local_app(&redis, &dir), &s3)
        .var("visibility_timeout_ms", "1000")
        .runtime_config(repo_runtime_config(&dir))
        .start(&spin.path);
    one_order_invoiced_in_the_bucket(&app, &s3);
    let client = app.client();

    s3.stop();
    let down = client.get("/invoice?accountid=a0").unwrap();
    assert_eq!(down.status, 503, "{}", String::from_utf8_lossy(&down.body));
    let detail = down.json("503").unwrap()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains(&format!("object store {}/invoices", s3.endpoint())), "{detail}");
    let order = order_cli::post::order("down-", 1, &mut rand::rng());
    assert_eq!(client.post_json("/order", &serde_json::to_vec(&order).unwrap()).unwrap().status, 202);
    eventually(Duration::from_secs(20), "invoice-writer failing on the bucket", || {
        app.logs("invoice-writer").contains("\"outcome\":\"will-retry\"")
    });
    s3.restart();
    let back = Instant::now();
    eventually(Duration::from_secs(30), "the invoice, with no new order", || s3.keys("invoices/down-a1/").len() == 1);
    eprintln!("the invoice landed {:?} after the bucket came back", back.elapsed());
}
