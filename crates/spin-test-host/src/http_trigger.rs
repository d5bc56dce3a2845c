//! Spin's HTTP trigger: route matching, the `spin-*` headers, a fresh instance per
//! request, local service chaining, and a real listener on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use wasmtime_wasi_http::{WasiBody, WasiHttpHooks, WasiHttpView};

use crate::manifest::{outbound_allowed, Route};
use crate::{count, App, Loaded};

/// A request as a test builds it.
pub fn request(method: &str, path_and_query: &str) -> hyper::http::request::Builder {
    hyper::Request::builder().method(method).uri(format!("http://127.0.0.1:3000{path_and_query}"))
}

/// An answer, body collected.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl App {
    /// Routes a request as Spin does and answers it in-process. No route: 404. Panics
    /// when the answer breaks the API's document (unless [`crate::Answers::Unchecked`]).
    pub async fn call(self: &Arc<Self>, req: hyper::Request<Full<Bytes>>) -> Result<Answer> {
        let (method, target) = (req.method().to_string(), req.uri().to_string());
        let req = req.map(|b| b.map_err(|never| match never {}).boxed_unsync());
        let answer = self.route(req, "127.0.0.1:50000".parse().unwrap()).await?;
        if let Err(broken) = self.check_answer(&method, &target, &answer) {
            panic!("{broken}");
        }
        Ok(answer)
    }

    /// Checks an answer a client receives against `docs/openapi.json`.
    fn check_answer(&self, method: &str, target: &str, answer: &Answer) -> Result<(), String> {
        if self.answers == crate::Answers::Unchecked {
            return Ok(());
        }
        let headers: Vec<(String, String)> = answer
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        crate::openapi::contract().check(&crate::openapi::Exchange {
            method,
            target,
            status: answer.status,
            headers: &headers,
            body: &answer.body,
        })
    }

    async fn route(self: &Arc<Self>, req: hyper::Request<WasiBody>, client: SocketAddr) -> Result<Answer> {
        count(&self.stats.http_requests);
        let path = req.uri().path().to_owned();
        let Some((route, path_info)) = self.match_route(&path) else {
            return Ok(Answer { status: 404, headers: Default::default(), body: Bytes::new() });
        };
        let component = self.component(&route.component).unwrap().clone();
        let mut req = req;
        let full_url = format!(
            "http://{}{}",
            req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:3000"),
            req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/")
        );
        let h = req.headers_mut();
        // Spin strips spoofed chaining hosts from routed requests.
        if h.get("host").and_then(|v| v.to_str().ok()).is_some_and(|v| v.ends_with(".spin.internal")) {
            h.remove("host");
        }
        for (k, v) in [
            ("spin-full-url", full_url),
            ("spin-path-info", path_info),
            // Spin's `based_route`: the base (`/`) and the route, each without one trailing
            // slash (`crates/routes`' `sanitize_with_base`), so the root route `/` is "".
            ("spin-matched-route", route.raw.strip_suffix('/').unwrap_or(&route.raw).to_owned()),
            ("spin-raw-component-route", route.raw.clone()),
            ("spin-component-route", route.raw.trim_end_matches("/...").to_owned()),
            ("spin-base-path", "/".to_owned()),
            ("spin-client-addr", client.to_string()),
        ] {
            h.insert(k, v.parse()?);
        }
        self.invoke(&component, req).await
    }

    /// Spin's matching: an exact route wins; otherwise the longest wildcard prefix.
    fn match_route(&self, path: &str) -> Option<(&crate::manifest::HttpRoute, String)> {
        let routes = &self.manifest.http_routes;
        if let Some(r) = routes.iter().find(|r| r.route == Route::Exact(path.trim_end_matches('/').to_owned())) {
            return Some((r, String::new()));
        }
        let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
        routes
            .iter()
            .filter_map(|r| match &r.route {
                Route::Wildcard(prefix) if path == prefix || path.starts_with(&format!("{prefix}/")) => {
                    Some((r, prefix.len()))
                }
                _ => None,
            })
            .max_by_key(|(_, len)| *len)
            .map(|(r, len)| (r, path[len..].to_owned()))
    }

    /// Runs one request through a fresh instance of `component`.
    pub(crate) async fn invoke(
        self: &Arc<Self>,
        component: &Arc<Loaded>,
        req: hyper::Request<WasiBody>,
    ) -> Result<Answer> {
        let (mut store, out) = self.new_store(component);
        let pre = component.http.clone().ok_or_else(|| anyhow!("`{}` is not an HTTP component", component.spec.id))?;
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http, req)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let outparam = store.data_mut().http().new_response_outparam(tx)?;
        let app = self.clone();
        let output = self.output_recorder(&component.spec.id, out);
        let task = tokio::spawn({
            let output = output.clone();
            async move {
                let _output = output;
                let _total = app.stats.time(&app.stats.invocation_ns);
                count(&app.stats.invocations);
                let proxy = {
                    let _t = app.stats.time(&app.stats.instantiate_ns);
                    pre.instantiate_async(&mut store).await?
                };
                proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
            }
        });
        let answer = match rx.await {
            Ok(Ok(resp)) => {
                let (parts, body) = resp.into_parts();
                let body = body.collect().await.map_err(|e| anyhow!("response body: {e:?}"))?.to_bytes();
                Answer { status: parts.status.as_u16(), headers: parts.headers, body }
            }
            // Spin answers 500 when the guest fails before setting a response.
            Ok(Err(code)) => {
                count(&self.stats.handler_failures);
                eprintln!("[{}] handler error: {code:?}", component.spec.id);
                Answer { status: 500, headers: Default::default(), body: Bytes::new() }
            }
            Err(_) => {
                count(&self.stats.handler_failures);
                let e = task.await.map_err(|e| anyhow!("{e}"))?.err();
                eprintln!("[{}] handler failed: {e:?}", component.spec.id);
                return Ok(Answer { status: 500, headers: Default::default(), body: Bytes::new() });
            }
        };
        // What the guest wrote before its answer is in the logs by now, as in Spin's files.
        output.flush();
        drop(output);
        // As Spin (`crates/trigger-http/src/wasi.rs`): the answer goes out once the guest
        // has finished its body, and the guest runs on after it, unwaited for.
        let id = component.spec.id.clone();
        let app = self.clone();
        self.stats.running_after_answer.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::spawn(async move {
            if let Ok(Err(e)) = task.await {
                count(&app.stats.handler_failures);
                eprintln!("[{id}] handler failed after answering: {e:?}");
            }
            app.stats.running_after_answer.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        });
        Ok(answer)
    }

    /// Serves the app on 127.0.0.1 (port 0: any free one) until the returned handle
    /// is dropped. Returns the address, for `curl` and load generators.
    pub async fn listen(self: &Arc<Self>, port: u16) -> Result<(SocketAddr, Listener)> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let app = self.clone();
        let connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let open = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, client)) = listener.accept().await else {
                    continue;
                };
                let app = app.clone();
                let connection = tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                        let app = app.clone();
                        async move {
                            let (method, target) = (req.method().to_string(), req.uri().to_string());
                            let req = req.map(|b| b.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
                            let answer = app.route(req, client).await?;
                            if let Err(broken) = app.check_answer(&method, &target, &answer) {
                                eprintln!("{broken}");
                                app.broken_answers.lock().unwrap().push(broken);
                            }
                            let mut resp = hyper::Response::new(Full::new(answer.body));
                            *resp.status_mut() = hyper::StatusCode::from_u16(answer.status)?;
                            *resp.headers_mut() = answer.headers;
                            Ok::<_, anyhow::Error>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
                let mut open = open.lock().unwrap();
                open.retain(|c| !c.is_finished());
                open.push(connection.abort_handle());
            }
        });
        Ok((addr, Listener(task, connections, self.clone())))
    }
}

/// Stops the listener when dropped, and closes every connection it accepted, as a
/// process that exits does. Unlike an exiting process, a handler already running (its
/// own task) finishes its invocation: a "killed" replica may still complete a request
/// it had begun, though no client hears the answer. Dropped, it fails the test if it
/// served an answer that breaks the API's document.
pub struct Listener(tokio::task::JoinHandle<()>, Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>, Arc<App>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
        for c in self.1.lock().unwrap().drain(..) {
            c.abort();
        }
        let broken = std::mem::take(&mut *self.2.broken_answers.lock().unwrap());
        if !broken.is_empty() && !std::thread::panicking() {
            panic!(
                "the listener served {} answers that break docs/openapi.json; the first: {}",
                broken.len(),
                broken[0]
            );
        }
    }
}

/// Outbound HTTP from a component: local service chaining to an
/// `http://<component>.spin.internal` its `allowed_outbound_hosts` names, and
/// self-requests (a relative URL, or `http://self.alt/...`) when the list holds
/// `http://self` or `https://self`: Spin sends those to the app's own listener, so here
/// they are routed like any inbound request (public routes only). Any other host the
/// list allows (the invoice object store) is reached over the network, as Spin does;
/// anything else is denied.
pub(crate) struct Chaining {
    pub app: Arc<App>,
    pub from: Arc<Loaded>,
}

impl WasiHttpHooks for Chaining {
    fn send_request(
        &mut self,
        mut request: hyper::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn std::future::Future<
                Output = wasmtime_wasi_http::Result<(
                    hyper::Response<WasiBody>,
                    Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        let app = self.app.clone();
        let from = self.from.clone();
        Box::new(async move {
            use wasmtime_wasi_http::Error as E;
            let uri = request.uri().clone();
            let host = uri.host().unwrap_or_default().to_owned();
            // wasmtime-wasi-http gives a relative URL an empty host (`https://:443/...`).
            if host.is_empty() || host == "self.alt" {
                let allowed = from.spec.allowed_hosts.as_ref().is_ok_and(|l| l.iter().any(|a| a.allows_self()));
                if !allowed {
                    app.deny(&from.spec.id, &format!("self-request to {}", uri.path()));
                    return Err(E::HttpRequestDenied);
                }
                count(&app.stats.self_requests);
                let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                *request.uri_mut() =
                    format!("http://127.0.0.1:3000{path_and_query}").parse().map_err(|_| E::HttpRequestUriInvalid)?;
                request.headers_mut().remove("host");
                let answer = app
                    .route(request, "127.0.0.1:50001".parse().unwrap())
                    .await
                    .map_err(|e| E::InternalError(Some(e.to_string())))?;
                return Ok((
                    answered(answer)?,
                    Box::new(async { Ok(()) }) as Box<dyn std::future::Future<Output = _> + Send>,
                ));
            }
            let scheme = uri.scheme_str().unwrap_or("http");
            if !host.ends_with(".spin.internal") {
                // A host on the network (the invoice object store): sent as Spin sends it,
                // when the list allows the origin, port and all.
                let origin = format!("{scheme}://{}", uri.authority().map(|a| a.as_str()).unwrap_or(&host));
                if outbound_allowed(&origin, &from.spec.allowed_hosts) != Ok(true) {
                    app.deny(&from.spec.id, &format!("outbound http to {origin}"));
                    return Err(E::HttpRequestDenied);
                }
                let (resp, io) = wasmtime_wasi_http::default_send_request(request, _options).await?;
                let done: Box<dyn std::future::Future<Output = Result<(), E>> + Send> = Box::new(io);
                return Ok((resp.map(|b| b.boxed_unsync()), done));
            }
            let target = host.strip_suffix(".spin.internal").and_then(|id| app.component(id)).cloned();
            let url = format!("{scheme}://{host}");
            let (Some(target), true) = (target, outbound_allowed(&url, &from.spec.allowed_hosts) == Ok(true)) else {
                app.deny(&from.spec.id, &format!("outbound http to {uri}"));
                return Err(E::HttpRequestDenied);
            };
            let h = request.headers_mut();
            h.insert("host", host.parse().map_err(|_| E::HttpRequestUriInvalid)?);
            let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
            h.insert(
                "spin-full-url",
                format!("http://{host}{path_and_query}").parse().map_err(|_| E::HttpRequestUriInvalid)?,
            );
            h.insert("spin-path-info", uri.path().parse().map_err(|_| E::HttpRequestUriInvalid)?);
            let answer = app.invoke(&target, request).await.map_err(|e| E::InternalError(Some(e.to_string())))?;
            let done: Box<dyn std::future::Future<Output = Result<(), E>> + Send> = Box::new(async { Ok(()) });
            Ok((answered(answer)?, done))
        })
    }
}

/// An answer as the response an outbound call receives.
fn answered(answer: Answer) -> Result<hyper::Response<WasiBody>, wasmtime_wasi_http::Error> {
    let mut resp = hyper::Response::new(Full::new(answer.body).map_err(|never| match never {}).boxed_unsync());
    *resp.status_mut() =
        hyper::StatusCode::from_u16(answer.status).map_err(|_| wasmtime_wasi_http::Error::HttpProtocolError)?;
    *resp.headers_mut() = answer.headers;
    Ok(resp)
}
