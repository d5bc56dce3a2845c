//! A Redis with credentials, as every managed one has: a password (`requirepass`) and an
//! ACL user, for the trigger and every component, with `allowed_outbound_hosts` naming
//! only `redis_host`. No password ever reaches an answer, a log line or a dead letter,
//! with Redis up or down; and the test host refuses an allowed host with user info as
//! Spin does, so that mistake cannot come back unseen.

use super::*;
use redis::AsyncCommands;

const PASSWORD: &str = "pw-7f3a9c2e41b8d605";
const APP_PASSWORD: &str = "app-pw-c0ffee-5eed-b0a7";

fn app_as(redis: &RedisServer, address: String) -> Arc<App> {
    load(Options {
        variables: vars(redis, &[("redis_address", &address), ("visibility_timeout_ms", "100")]),
        ..Options::default()
    })
}

/// The control connection of the test itself, as the default user.
async fn control(redis: &RedisServer, password: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url_as("default", password)).unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// Asserts `secret` is in no answer body given and no log line of any component.
fn assert_never_shown(app: &App, answers: &[&Answer], secret: &str) {
    for a in answers {
        assert!(!a.text().contains(secret), "an answer shows the password: {}", a.text());
    }
    assert_no_secrets(app, &[secret]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_with_a_password_works_and_never_shows_it() {
    let mut redis = RedisServer::start_with(&["--save", "", "--appendonly", "yes", "--requirepass", PASSWORD]);
    let app = app_as(&redis, redis.url_as("default", PASSWORD));
    let supervisor = app.supervise_redis_trigger().await;
    let accepted = post_order(&app, &order_body(0)).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    eventually(Duration::from_secs(10), "the order and its invoice", || {
        app.kv.get("orders", "a0#v0").unwrap().is_some() && invoice_documents(&app) == 1
    })
    .await;
    let status = get(&app, "/pipeline").await;
    assert_eq!(status.status, 200, "{}", status.text());
    // A message no consumer can read: its dead-letter reason carries no password either.
    let mut conn = control(&redis, PASSWORD).await;
    let _: String = conn.xadd("orders:stream", "*", &[("e", "not json")]).await.unwrap();
    assert_eq!(post_order(&app, &order_body(5)).await.status, 202, "an order behind it rings");
    eventually(Duration::from_secs(10), "the dead letter", || {
        log_lines(&app, "order-writer").iter().any(|l| l["outcome"] == "dead-lettered")
    })
    .await;
    let dead: redis::streams::StreamRangeReply = conn.xrange_all("orders:stream:dead:order-writer").await.unwrap();
    let reason: String = dead.ids[0].get("reason").unwrap();
    assert!(!reason.contains(PASSWORD), "{reason}");

    // Redis away: 503s that name the address without its password.
    redis.kill();
    let down = post_order(&app, &order_body(1)).await;
    assert_problem(&down, 503, None, "POST with Redis down");
    let detail = down.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains(&format!("redis://{}", redis.host())), "{detail}");
    let status_down = get(&app, "/pipeline").await;
    assert_problem(&status_down, 503, None, "GET /pipeline with Redis down");
    redis.restart();
    let back = post_until_accepted(&app, &order_body(2)).await;
    eventually(Duration::from_secs(20), "the order posted after the restart", || {
        app.kv.get("orders", "a2#v2").unwrap().is_some()
    })
    .await;
    assert_never_shown(&app, &[&accepted, &status, &down, &status_down, &back], PASSWORD);
    supervisor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_works_and_a_refused_config_is_explained() {
    // `app` may do everything but administer the server, as on a managed Redis.
    let redis = RedisServer::start_with(&[
        "--save",
        "",
        "--appendonly",
        "yes",
        "--user",
        "default",
        "on",
        &format!(">{PASSWORD}"),
        "~*",
        "&*",
        "+@all",
        "--user",
        "app",
        "on",
        &format!(">{APP_PASSWORD}"),
        "~*",
        "&*",
        "+@all",
        "-@admin",
    ]);
    let app = app_as(&redis, redis.url_as("app", APP_PASSWORD));
    let _trigger = app.start_redis_trigger().await.unwrap();
    app.kv.poison_keys_times("orders", "a0#v0", 1);
    let accepted = post_order(&app, &order_body(0)).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let clock_line = || all_log_lines(&app, "order-writer").into_iter().find(|l| l["event"] == "retry-clock");
    eventually(Duration::from_secs(10), "the retry-clock check", || clock_line().is_some()).await;
    assert_eq!(clock_line().unwrap()["outcome"], "off", "an ACL user without @admin cannot CONFIG SET");
    let status = get(&app, "/pipeline").await;
    assert_eq!(status.json()["retry_clock"]["state"], "off", "{}", status.text());
    eventually(Duration::from_secs(10), "the invoice", || invoice_documents(&app) == 1).await;
    // Down and up again: the 503 names the address, never the user's password.
    let mut redis = redis;
    redis.kill();
    let down = post_order(&app, &order_body(1)).await;
    assert_problem(&down, 503, None, "POST with Redis down");
    redis.restart();
    let back = post_until_accepted(&app, &order_body(2)).await;
    assert_never_shown(&app, &[&accepted, &status, &down, &back], APP_PASSWORD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_host_with_user_info_is_refused_as_spin_refuses_it() {
    let redis = RedisServer::start_with(&["--save", "", "--appendonly", "yes", "--requirepass", PASSWORD]);
    // What spin.toml used to do: the whole address as the allowed host. With the
    // password only in the environment, Spin loads the app (it checks the list with the
    // defaults) and refuses every outbound call at run time.
    let manifest = spin_test_host::edited_manifest(|m| {
        m.replacen(
            r#"allowed_outbound_hosts = ["redis://{{ redis_host }}", "rediss://{{ redis_host }}", "#,
            r#"allowed_outbound_hosts = ["{{ redis_address }}", "#,
            1,
        )
    });
    let address = redis.url_as("default", PASSWORD);
    let app = load(Options {
        variables: vars(&redis, &[("redis_address", &address)]),
        manifest: Some(manifest.clone()),
        ..Options::default()
    });
    let refused = post_order(&app, &order_body(0)).await;
    assert_problem(&refused, 503, None, "order-api with user info in its allowed hosts");
    let detail = refused.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("Invalid allowed host"), "Spin's refusal is passed on: {detail}");
    assert_never_shown(&app, &[&refused], PASSWORD);

    // A literal entry with user info fails at load, as `spin up` does.
    let literal = spin_test_host::edited_manifest(|m| {
        m.replacen(
            r#"allowed_outbound_hosts = ["redis://{{ redis_host }}", "rediss://{{ redis_host }}", "#,
            r#"allowed_outbound_hosts = ["redis://default:hunter2@127.0.0.1:6379", "#,
            1,
        )
    });
    let e = App::load(Options { variables: vars(&redis, &[]), manifest: Some(literal), ..Options::default() })
        .err()
        .expect("spin up refuses the app");
    assert!(e.to_string().contains("`allowed_outbound_hosts` is malformed"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_is_not_the_allowed_host_is_a_clear_503() {
    let redis = RedisServer::start();
    let app = load(Options {
        variables: vars(&redis, &[("redis_address", "redis://app:pw-not-shown@10.9.8.7:6379")]),
        ..Options::default()
    });
    let a = post_order(&app, &order_body(0)).await;
    assert_problem(&a, 503, None, "redis_address and redis_host disagree");
    let detail = a.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("redis_host") && detail.contains("redis://10.9.8.7:6379"), "{detail}");
    assert_never_shown(&app, &[&a], "pw-not-shown");
}
