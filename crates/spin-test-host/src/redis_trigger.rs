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
            let mut pubsub =
                client.get_async_pubsub().await.with_context(|| format!("redis trigger: connecting to {address}"))?;
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
