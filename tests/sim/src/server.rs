//! The HTTP front end: accepts connections, authenticates, applies the fault
//! plan, authorizes, dispatches to discovery or the resource verbs, and
//! writes one audit event per request.
//!
//! A fault that resets the connection is an error returned from the service
//! function, which makes hyper drop the connection without an answer —
//! exactly what a client sees when a real server or proxy dies mid-request.

use crate::api::ApiError;
use crate::api::discovery::{self, Document};
use crate::api::handlers::{self, ApiRequest, Reply};
use crate::api::request::{Query, Target, parse_path};
use crate::audit::{AuditEvent, ObjectRef};
use crate::auth::{self, User};
use crate::cluster::Cluster;
use crate::faults::{FaultAction, RequestAttrs};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The response body type.
pub type Body = BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|e: Infallible| match e {}).boxed()
}

fn json_response(code: u16, value: &serde_json::Value, retry_after: Option<u64>) -> Response<Body> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .header("Audit-Id", uuid::Uuid::new_v4().to_string());
    if let Some(secs) = retry_after {
        builder = builder.header(header::RETRY_AFTER, secs.to_string());
    }
    builder
        .body(full(value.to_string()))
        .unwrap_or_else(|_| Response::new(full("{}")))
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_status(), e.retry_after)
}

/// Answers `value` as JSON, which every client kube-sim serves accepts
/// (see [`crate::api::protobuf`] for why protobuf answers are not needed);
/// `406 NotAcceptable` when `accept` rules JSON out.
fn negotiated_response(code: u16, value: &serde_json::Value, retry_after: Option<u64>, accept: &str) -> Response<Body> {
    if crate::api::protobuf::accepts_json(accept) {
        return json_response(code, value, retry_after);
    }
    error_response(&ApiError::new(
        406,
        "NotAcceptable",
        format!("only the following media types are accepted: application/json, application/yaml (got {accept})"),
    ))
}

/// `Warning: 299 - "<text>"` headers, as kube-apiserver sends them
/// (k8s.io/apiserver `pkg/warning`; client-go prints them, kubectl as
/// `Warning: <text>`).
fn add_warnings(response: &mut Response<Body>, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - {}", serde_json::Value::String(w.clone()));
        if let Ok(value) = http::HeaderValue::from_str(&text) {
            response.headers_mut().append("Warning", value);
        }
    }
}

fn negotiated_error(e: &ApiError, accept: &str) -> Response<Body> {
    negotiated_response(e.code, &e.to_status(), e.retry_after, accept)
}

/// Runs the accept loop until `shutdown` turns true.
pub async fn run(
    listener: TcpListener,
    cluster: Arc<Cluster>,
    tls: crate::tls::ServerTls,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let cluster = cluster.clone();
                let acceptor = tls.acceptor.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| serve(cluster.clone(), req));
                    let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    let mut first = [0u8; 1];
                    let is_tls = matches!(stream.peek(&mut first).await, Ok(1) if first[0] == 0x16);
                    if is_tls {
                        if let Ok(tls_stream) = acceptor.accept(stream).await {
                            let io = hyper_util::rt::TokioIo::new(tls_stream);
                            let _ = builder.serve_connection(io, service).await;
                        }
                    } else {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = builder.serve_connection(io, service).await;
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

/// Serves one request (an `Err` drops the connection).
async fn serve(cluster: Arc<Cluster>, req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
    let received = crate::time::now_micro();
    let uri = req.uri().clone();
    let request_uri = uri
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let header = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let user_agent = header(header::USER_AGENT);
    let accept = header(header::ACCEPT);
    let content_type = header(header::CONTENT_TYPE);
    let host = header(header::HOST);
    let authorization = header(header::AUTHORIZATION);
    let method = req.method().clone();
    let query = Query::parse(uri.query());
    let target = parse_path(uri.path());

    let (verb, object_ref) = match &target {
        Target::Resource(p) => (
            handlers::verb_of(&method, p, &query),
            Some(ObjectRef {
                resource: p.resource.clone(),
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                api_group: (!p.group.is_empty()).then(|| p.group.clone()),
                api_version: p.version.clone(),
                subresource: p.subresource.clone(),
            }),
        ),
        Target::NonResource(_) => (if method == Method::GET { "get" } else { "post" }, None),
    };
    let mut event = AuditEvent::new(verb, &request_uri, "system:anonymous", &received);
    event.user_agent = Some(user_agent.clone()).filter(|u| !u.is_empty());
    event.object_ref = object_ref;
    // W3C trace context, so tests can see that clients propagate it.
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !traceparent.is_empty() {
        event
            .annotations
            .insert("kube-sim.io/traceparent".to_owned(), traceparent.to_owned());
    }
    let finish = |mut event: AuditEvent, code: u16| {
        event.response_status.code = code;
        event.stage_timestamp = crate::time::now_micro();
        cluster.audit.record(event);
    };

    let tokens = cluster.tokens();
    let header_value = Some(authorization.as_str()).filter(|a| !a.is_empty());
    let user: User = match auth::authenticate(&tokens, header_value)
        .or_else(|e| crate::rbac::authenticate(&cluster, header_value).ok_or(e))
    {
        Ok(u) => u,
        Err(e) => {
            finish(event, e.code);
            return Ok(error_response(&e));
        }
    };
    event.user.username = user.name.clone();
    event.user.groups = user.groups.clone();

    let decision = {
        let (group, resource, subresource, namespace, name) = match &target {
            Target::Resource(p) => (
                p.group.as_str(),
                p.resource.as_str(),
                p.subresource.as_deref(),
                p.namespace.as_deref(),
                p.name.as_deref(),
            ),
            Target::NonResource(_) => ("", "", None, None, None),
        };
        cluster.faults().decide(&RequestAttrs {
            verb,
            group,
            resource,
            subresource,
            namespace,
            name,
            user: &user.name,
        })
    };
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    let mut reset_watch = None;
    match decision.action {
        Some(FaultAction::Status {
            code,
            retry_after,
            message,
        }) => {
            let reason = match code {
                400 => "BadRequest",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                409 => "Conflict",
                410 => "Expired",
                422 => "Invalid",
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                504 => "Timeout",
                _ => "InternalError",
            };
            let mut e = ApiError::new(code, reason, message);
            e.retry_after = retry_after;
            finish(event, code);
            return Ok(error_response(&e));
        }
        Some(FaultAction::Reset { after }) => {
            if verb == "watch" {
                reset_watch = Some(after.unwrap_or(Duration::ZERO));
            } else {
                finish(event, 0);
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "kube-sim injected reset",
                ));
            }
        }
        None => {}
    }

    let path = match target {
        Target::NonResource(path) => {
            let doc = discovery::serve(&cluster, &path, &host, &accept);
            let response = match doc {
                Some(Document::Json(v)) => json_response(200, &v, None),
                Some(Document::TypedJson(ct, v)) => Response::builder()
                    .status(200)
                    .header(header::CONTENT_TYPE, ct)
                    .body(full(v.to_string()))
                    .unwrap_or_else(|_| Response::new(full(""))),
                Some(Document::Raw(ct, bytes)) => Response::builder()
                    .status(200)
                    .header(header::CONTENT_TYPE, ct)
                    .body(full(bytes))
                    .unwrap_or_else(|_| Response::new(full(""))),
                None => error_response(&ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )),
            };
            finish(event, response.status().as_u16());
            return Ok(response);
        }
        Target::Resource(p) => p,
    };
    let self_review = path.group == "authorization.k8s.io" && path.resource.starts_with("selfsubject");
    let resource = match &path.subresource {
        Some(sub) => format!("{}/{sub}", path.resource),
        None => path.resource.clone(),
    };
    if !self_review
        && !user.allows_named(
            verb,
            &path.group,
            &resource,
            path.namespace.as_deref(),
            path.name.as_deref(),
        )
    {
        let e = user.forbidden(verb, &path.group, &path.resource, path.namespace.as_deref());
        finish(event, e.code);
        return Ok(error_response(&e));
    }
    if path.group.is_empty() && path.resource == "pods" && path.subresource.as_deref() == Some("log") {
        let ns = path.namespace.clone().unwrap_or_default();
        let name = path.name.clone().unwrap_or_default();
        let response =
            crate::podrunner::logs::respond(&cluster, &ns, &name, &query).unwrap_or_else(|e| error_response(&e));
        finish(event, response.status().as_u16());
        return Ok(response);
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let e = ApiError::bad_request(format!("cannot read the request body: {e}"));
            finish(event, e.code);
            return Ok(error_response(&e));
        }
    };
    let body_dry_run = matches!(verb, "delete" | "deletecollection")
        && serde_json::from_slice::<serde_json::Value>(&body)
            .is_ok_and(|b| b["dryRun"].as_array().is_some_and(|a| !a.is_empty()));
    if query.dry_run() || body_dry_run {
        event.annotations.insert("kube-sim.io/dry-run".into(), "true".into());
    }
    let api_request = ApiRequest {
        method,
        path,
        query,
        body,
        content_type,
        accept: accept.clone(),
        user,
        user_agent,
        reset_after: reset_watch,
        warnings: Arc::default(),
    };
    let warnings = api_request.warnings.clone();
    let reply = handlers::handle(&cluster, api_request).await;
    let warnings = std::mem::take(&mut *warnings.lock().unwrap_or_else(|e| e.into_inner()));
    if !decision.response_latency.is_zero() {
        tokio::time::sleep(decision.response_latency).await;
    }
    match reply {
        Ok(Reply::Json(code, value)) => {
            if verb == "create"
                && let Some(r) = event.object_ref.as_mut()
                && r.name.is_none()
            {
                r.name = value["metadata"]["name"].as_str().map(String::from);
            }
            let mut response = negotiated_response(code, &value, None, &accept);
            add_warnings(&mut response, &warnings);
            finish(event, response.status().as_u16());
            Ok(response)
        }
        Ok(Reply::Watch(rx)) => {
            finish(event, 200);
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|chunk| (chunk.map(Frame::data), rx))
            });
            let body = BodyExt::boxed(StreamBody::new(stream));
            Ok(Response::builder()
                .status(200)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CACHE_CONTROL, "no-cache, private")
                .body(body)
                .unwrap_or_else(|_| Response::new(full(""))))
        }
        Err(e) => {
            finish(event, e.code);
            Ok(negotiated_error(&e, &accept))
        }
    }
}
