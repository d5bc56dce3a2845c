//! Spin's Redis trigger: one `SUBSCRIBE` connection per address; each message is
//! handed to every subscriber of its channel concurrently (a fresh instance each), and
//! the next message waits until they are all done. A handler's error is logged and the
//! message dropped. When the connection drops, the trigger ends.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use futures::StreamExt;

use crate::{count, App};

/// A running Redis trigger. `stop` ends it (as stopping `spin up` would); it also ends
/// by itself if Redis drops the connection.
pub struct RedisTrigger {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl RedisTrigger {
    pub async fn stop(mut self) -> Result<()> {
        let _ = self.stop.take().map(|s| s.send(()));
        self.task.await?
    }

    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

impl App {
    /// Subscribes to the manifest's channels and starts dispatching. Returns once
    /// subscribed, so a message published afterwards is delivered.
    pub async fn start_redis_trigger(self: &Arc<Self>) -> Result<RedisTrigger> {
        let mut by_address: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for s in &self.manifest.redis_subscriptions {
            by_address.entry(s.address.clone()).or_default().push((s.channel.clone(), s.component.clone()));
        }
        let mut connections = Vec::new();
        for (address, subs) in by_address {
            let client = redis::Client::open(address.as_str())?;
            let mut pubsub = client
                .get_async_pubsub()
                .await
                .with_context(|| format!("Redis trigger failed to connect to {}", crate::redacted(&address)))?;
            for (channel, _) in &subs {
                pubsub.subscribe(channel).await?;
            }
            connections.push((pubsub, subs));
        }
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app = self.clone();
        let task = tokio::spawn(async move {
            let streams = connections.into_iter().map(|(pubsub, subs)| {
                let app = app.clone();
                Box::pin(async move {
                    let mut messages = pubsub.into_on_message();
                    while let Some(msg) = messages.next().await {
                        let channel = msg.get_channel_name().to_owned();
                        let payload = msg.get_payload_bytes().to_vec();
                        count(&app.stats.redis_messages);
                        let handlers =
                            subs.iter().filter(|(c, _)| *c == channel).map(|(_, id)| app.deliver(id, payload.clone()));
                        futures::future::join_all(handlers).await;
                    }
                    Err::<(), _>(anyhow!("redis trigger: connection closed"))
                })
            });
            tokio::select! {
                r = futures::future::select_all(streams) => r.0,
                _ = &mut stop_rx => Ok(()),
            }
        });
        Ok(RedisTrigger { stop: Some(stop_tx), task })
    }

    /// Runs `component`'s `handle-message` on one payload in a fresh instance. Errors
    /// and traps are logged, as Spin does, and counted.
    pub async fn deliver(self: &Arc<Self>, component: &str, payload: Vec<u8>) -> bool {
        let Some(loaded) = self.component(component).cloned() else {
            return false;
        };
        let (mut store, out) = self.new_store(&loaded);
        let _output = self.output_recorder(component, out);
        let _total = self.stats.time(&self.stats.invocation_ns);
        count(&self.stats.invocations);
        let result = async {
            let pre = loaded
                .redis
                .as_ref()
                .ok_or_else(|| wasmtime::format_err!("`{component}` does not export inbound-redis"))?;
            let instance = {
                let _t = self.stats.time(&self.stats.instantiate_ns);
                pre.instantiate_async(&mut store).await?
            };
            instance.fermyon_spin_inbound_redis().call_handle_message(&mut store, &payload).await
        }
        .await;
        match result {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                count(&self.stats.handler_failures);
                eprintln!("[{component}] handler failed: {e:?}");
                false
            }
            Err(trap) => {
                count(&self.stats.handler_failures);
                eprintln!("[{component}] handler trapped: {trap:?}");
                false
            }
        }
    }
}

/// The consumers' process under a supervisor, as `scripts/run` runs it (and as
/// Kubernetes restarts a consumers' pod): Spin's Redis trigger ends when Redis drops
/// its connection, taking its `spin up` with it, so the supervisor starts it again
/// with a backoff (1 s, doubling to 8 s, back to 1 s after a run of 30 s), and
/// once it is subscribed rings `POST /pipeline/doorbell` with the admin token, so what
/// was pending when it went down drains without waiting for traffic.
pub struct Supervisor {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// Runs of the trigger started so far (1 + restarts).
    pub starts: Arc<std::sync::atomic::AtomicU64>,
}

impl Supervisor {
    pub async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        let _ = self.task.await;
    }
}

impl App {
    /// Starts the Redis trigger under a [`Supervisor`]. Returns once the first run is
    /// subscribed (or has failed to start).
    pub async fn supervise_redis_trigger(self: &Arc<Self>) -> Supervisor {
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        let starts = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let app = self.clone();
        let counter = starts.clone();
        let task = tokio::spawn(async move {
            let mut first = Some(first_tx);
            let mut backoff = std::time::Duration::from_secs(1);
            loop {
                let began = std::time::Instant::now();
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let run = app.start_redis_trigger().await;
                if let Some(tx) = first.take() {
                    let _ = tx.send(());
                }
                match run {
                    Ok(mut trigger) => {
                        let ringer = app.clone();
                        tokio::spawn(async move { ringer.ring_as_operator().await });
                        tokio::select! {
                            ended = &mut trigger.task => {
                                let why = ended.map_err(anyhow::Error::from).and_then(|r| r).err();
                                eprintln!("[supervisor] the Redis trigger ended ({why:?}); restarting in {backoff:?}");
                            }
                            _ = &mut stop_rx => {
                                let _ = trigger.stop().await;
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("[supervisor] the Redis trigger did not start ({e:#}); retrying in {backoff:?}")
                    }
                }
                if began.elapsed() >= std::time::Duration::from_secs(30) {
                    backoff = std::time::Duration::from_secs(1);
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut stop_rx => return,
                }
                backoff = (backoff * 2).min(std::time::Duration::from_secs(8));
            }
        });
        let _ = first_rx.await;
        Supervisor { stop: Some(stop_tx), task, starts }
    }

    /// `POST /pipeline/doorbell` with the admin token, as `scripts/run` does after
    /// starting the consumers: again each second (30 tries at most) until it is answered
    /// `202` with a subscriber that heard it. A refusal is reported, not fatal.
    async fn ring_as_operator(self: &Arc<Self>) {
        let token =
            self.manifest.components.values().find_map(|c| c.variables.get("admin_token").cloned()).unwrap_or_default();
        for _ in 0..30 {
            let req = crate::http_trigger::request("POST", "/pipeline/doorbell")
                .header("authorization", format!("Bearer {token}"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            match self.call(req).await {
                Ok(a) if a.status == 202 && a.json()["subscribers"].as_u64().unwrap_or(0) > 0 => return,
                Ok(a) if a.status == 202 || a.status == 429 || a.status == 503 => {}
                Ok(a) => return eprintln!("[supervisor] the doorbell answered {}: {}", a.status, a.text()),
                Err(e) => return eprintln!("[supervisor] the doorbell failed: {e:#}"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        eprintln!("[supervisor] no consumer heard the doorbell in 30 s");
    }
}
