//! A scripted stand-in for the OpenAI chat-completions API (and a minimal
//! Responses API), for driving real agent CLIs (Aider, Codex) offline.
//!
//! A small HTTP/1.1 server on `127.0.0.1:<port>`, on its own thread with its
//! own tokio runtime, so sync and async callers can use it alike. Point a CLI
//! at `stand_in.base_url()` (`http://127.0.0.1:<port>/v1`).
//!
//! * `POST .../chat/completions` takes the next [`Reply`] from the script
//!   queue (the default reply when it is empty). With `"stream": true` in the
//!   request the text streams as SSE chunks
//!   (`data: {"choices":[{"delta":{"content":...}}]}` ... `data: [DONE]`),
//!   otherwise it comes back as one `chat.completion` object.
//! * `POST .../responses` (Codex's wire API) answers the same script as
//!   Responses-API SSE events (`response.created`, `response.output_text.delta`,
//!   `response.completed`, ...) or one response object.
//! * `GET .../models` lists the model names the stand-in was asked about.
//! * Any other path answers `200 {}`.
//!
//! A reply can be delayed before the first byte, streamed slowly, answered with
//! an HTTP error (401, 429, 500, ...) or never answered at all. Every request is
//! recorded ([`Request`]). Dropping the [`OpenAiStandIn`] stops the server.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What a scripted reply answers with.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// An assistant text message.
    Text(String),
    /// An HTTP error with an OpenAI-style `{"error": {...}}` body.
    Error { status: u16, body: Value },
    /// Never answer; the connection stays open until the client gives up.
    Hang,
    /// A Responses-API function call (Codex's tools: `exec_command` with
    /// `{"cmd": ...}`); the CLI runs it and sends the output in its next
    /// request, which takes the next reply.
    ToolCall { name: String, arguments: Value },
}

/// One scripted reply: `Reply::text("hi").delay(Duration::from_secs(3))`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub body: Body,
    /// Wait this long before sending anything.
    pub delay: Duration,
    /// Wait this long between streamed chunks (one word per chunk).
    pub chunk_delay: Duration,
    /// How many requests this reply serves; `None`: forever.
    pub times: Option<u32>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    fn new(body: Body) -> Reply {
        Reply {
            body,
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            times: Some(1),
            headers: Vec::new(),
        }
    }

    pub fn text(text: impl Into<String>) -> Reply {
        Reply::new(Body::Text(text.into()))
    }

    /// An HTTP error; `kind` is the error's `type` (and `code`).
    pub fn error(status: u16, kind: &str, message: &str) -> Reply {
        Reply::new(Body::Error {
            status,
            body: json!({"error": {"message": message, "type": kind, "param": null, "code": kind}}),
        })
    }

    pub fn unauthorized() -> Reply {
        Reply::error(
            401,
            "invalid_api_key",
            "Incorrect API key provided: x. You can find your API key at https://platform.openai.com/account/api-keys.",
        )
    }

    pub fn rate_limited() -> Reply {
        Reply::error(
            429,
            "rate_limit_exceeded",
            "Rate limit reached for requests. Please try again in 1s.",
        )
        .header("retry-after", "1")
    }

    pub fn server_error() -> Reply {
        Reply::error(
            500,
            "server_error",
            "The server had an error while processing your request.",
        )
    }

    pub fn hang() -> Reply {
        Reply::new(Body::Hang)
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    pub fn chunk_delay(mut self, d: Duration) -> Reply {
        self.chunk_delay = d;
        self
    }

    pub fn times(mut self, n: u32) -> Reply {
        self.times = Some(n.max(1));
        self
    }

    pub fn forever(mut self) -> Reply {
        self.times = None;
        self
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Codex's usage-limit headers on this reply (what ChatGPT's backend
    /// sends): one window, `primary` or `secondary`, `used` percent of a
    /// `window_minutes` window that resets at `reset_at` (unix seconds).
    /// Codex writes them to its session log as `rate_limits`.
    pub fn codex_limits(self, which: &str, used: f64, window_minutes: u64, reset_at: i64) -> Reply {
        self.header(format!("x-codex-{which}-used-percent"), used.to_string())
            .header(
                format!("x-codex-{which}-window-minutes"),
                window_minutes.to_string(),
            )
            .header(format!("x-codex-{which}-reset-at"), reset_at.to_string())
    }
}

/// A request as it arrived.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_completion(&self) -> bool {
        self.method == "POST"
            && (self.path.ends_with("/chat/completions") || self.path.ends_with("/responses"))
    }

    pub fn is_stream(&self) -> bool {
        self.body.get("stream").and_then(Value::as_bool) == Some(true)
    }

    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    /// The text of the last user message (chat) or input item (responses).
    pub fn last_user_text(&self) -> Option<String> {
        let items = self
            .body
            .get("messages")
            .or_else(|| self.body.get("input"))?
            .as_array()?;
        let m = items
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
        match m.get("content")? {
            Value::String(s) => Some(s.clone()),
            Value::Array(parts) => Some(
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            _ => None,
        }
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    requests: Vec<Request>,
    log: bool,
}

/// The running server.
pub struct OpenAiStandIn {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl OpenAiStandIn {
    /// Start on a free port with a script (more can be pushed later).
    pub fn start(script: Vec<Reply>) -> io::Result<OpenAiStandIn> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            default: Some(Reply::text("OK.").forever()),
            log: std::env::var_os("OPENAI_STAND_IN_LOG").is_some(),
            ..State::default()
        }));
        let (stop, mut stopped) = watch::channel(false);
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name("openai-stand-in".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("stand-in runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("listener");
                    loop {
                        tokio::select! {
                            _ = stopped.changed() => break,
                            acc = listener.accept() => {
                                if let Ok((sock, _)) = acc {
                                    let st = st.clone();
                                    let stop_rx = stopped.clone();
                                    tokio::spawn(async move {
                                        let _ = serve(sock, st, stop_rx).await;
                                    });
                                }
                            }
                        }
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })?;
        Ok(OpenAiStandIn {
            port,
            state,
            stop,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    pub fn push(&self, reply: Reply) {
        self.state.lock().unwrap().script.push_back(reply);
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().script.clear();
    }

    pub fn pending(&self) -> usize {
        self.state.lock().unwrap().script.len()
    }

    /// The reply used when the script is empty (`None`: a 500).
    pub fn set_default(&self, reply: Option<Reply>) {
        self.state.lock().unwrap().default = reply;
    }

    pub fn set_log(&self, on: bool) {
        self.state.lock().unwrap().log = on;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn completions(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(Request::is_completion)
            .collect()
    }
}

impl Drop for OpenAiStandIn {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn next_reply(st: &Mutex<State>) -> Reply {
    let mut s = st.lock().unwrap();
    if let Some(front) = s.script.front_mut() {
        let r = front.clone();
        match &mut front.times {
            Some(n) if *n <= 1 => {
                s.script.pop_front();
            }
            Some(n) => *n -= 1,
            None => {}
        }
        return r;
    }
    s.default
        .clone()
        .unwrap_or_else(|| Reply::error(500, "server_error", "stand-in: script empty"))
}

/// Read one request head + body; `None` at a clean end of the connection.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<Request>> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 1 << 20 {
            return Err(io::Error::other("request head too large"));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    let mut rest: Vec<u8> = buf[head_end + 4..].to_vec();
    if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        // Chunked request body: size line, data, CRLF ... 0 CRLF CRLF.
        loop {
            if let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
                let size_line = String::from_utf8_lossy(&rest[..i]).into_owned();
                let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
                    .map_err(|_| io::Error::other("bad chunk size"))?;
                if rest.len() >= i + 2 + size + 2 {
                    body.extend_from_slice(&rest[i + 2..i + 2 + size]);
                    rest.drain(..i + 2 + size + 2);
                    if size == 0 {
                        break;
                    }
                    continue;
                }
            }
            let mut chunk = [0u8; 8192];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            rest.extend_from_slice(&chunk[..n]);
        }
    } else {
        let len: usize = find("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while rest.len() < len {
            let mut chunk = [0u8; 8192];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        body.extend_from_slice(&rest[..len]);
        rest.drain(..len);
    }
    *buf = rest;
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

async fn write_head(
    sock: &mut TcpStream,
    status: u16,
    content_type: &str,
    len: Option<usize>,
    extra: &[(String, String)],
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n");
    match len {
        Some(n) => head.push_str(&format!("content-length: {n}\r\n")),
        None => head.push_str("cache-control: no-cache\r\nconnection: close\r\n"),
    }
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes()).await
}

async fn send_json(
    sock: &mut TcpStream,
    status: u16,
    v: &Value,
    extra: &[(String, String)],
) -> io::Result<()> {
    let body = serde_json::to_vec(v).unwrap();
    write_head(sock, status, "application/json", Some(body.len()), extra).await?;
    sock.write_all(&body).await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Split text into word-sized pieces (whitespace kept with the word before).
fn pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        cur.push(ch);
        if ch.is_whitespace() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

async fn serve(
    mut sock: TcpStream,
    st: Arc<Mutex<State>>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let Some(req) = read_request(&mut sock, &mut buf).await? else {
            return Ok(());
        };
        {
            let mut s = st.lock().unwrap();
            if s.log {
                eprintln!("openai-stand-in: {} {}", req.method, req.path);
            }
            s.requests.push(req.clone());
        }
        let path = req.path.split('?').next().unwrap_or_default().to_string();
        if req.method == "GET" && path.ends_with("/models") {
            let model = "stand-in";
            send_json(
                &mut sock,
                200,
                &json!({"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "stand-in"}]}),
                &[],
            )
            .await?;
            continue;
        }
        let chat = path.ends_with("/chat/completions");
        let responses = path.ends_with("/responses");
        if req.method != "POST" || !(chat || responses) {
            send_json(&mut sock, 200, &json!({}), &[]).await?;
            continue;
        }
        let reply = if responses && is_codex_title_request(&req) {
            // Codex asks for a thread title beside the first turn: answered
            // apart, so it never takes a scripted reply.
            Reply::text(r#"{"title":"Stand-in task"}"#)
        } else {
            next_reply(&st)
        };
        if !reply.delay.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(reply.delay) => {}
                _ = stop.changed() => return Ok(()),
            }
        }
        let model = req.model().unwrap_or("stand-in").to_string();
        match &reply.body {
            Body::Hang => {
                let _ = stop.changed().await;
                return Ok(());
            }
            Body::Error { status, body } => {
                send_json(&mut sock, *status, body, &reply.headers).await?;
            }
            Body::ToolCall { name, arguments } => {
                write_head(&mut sock, 200, "text/event-stream", None, &reply.headers).await?;
                for ev in tool_call_events(&model, name, arguments) {
                    sock.write_all(ev.as_bytes()).await?;
                }
                sock.flush().await?;
                let _ = sock.shutdown().await;
                return Ok(());
            }
            Body::Text(text) if !req.is_stream() => {
                let v = if chat {
                    json!({
                        "id": "chatcmpl-standin", "object": "chat.completion", "created": now(),
                        "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                    })
                } else {
                    response_object(&model, text, "completed")
                };
                send_json(&mut sock, 200, &v, &reply.headers).await?;
            }
            Body::Text(text) => {
                write_head(&mut sock, 200, "text/event-stream", None, &reply.headers).await?;
                let events = if chat {
                    chat_events(&model, text)
                } else {
                    responses_events(&model, text)
                };
                for (i, ev) in events.iter().enumerate() {
                    if i > 0 && !reply.chunk_delay.is_zero() {
                        tokio::select! {
                            _ = tokio::time::sleep(reply.chunk_delay) => {}
                            _ = stop.changed() => return Ok(()),
                        }
                    }
                    sock.write_all(ev.as_bytes()).await?;
                    sock.flush().await?;
                }
                // The SSE body ends with the connection.
                let _ = sock.shutdown().await;
                return Ok(());
            }
        }
    }
}

fn chat_events(model: &str, text: &str) -> Vec<String> {
    let created = now();
    let chunk = |delta: Value, finish: Value| {
        let v = json!({
            "id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        });
        format!("data: {v}\n\n")
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for p in pieces(text) {
        out.push(chunk(json!({"content": p}), Value::Null));
    }
    out.push(chunk(json!({}), json!("stop")));
    out.push("data: [DONE]\n\n".to_string());
    out
}

fn response_object(model: &str, text: &str, status: &str) -> Value {
    json!({
        "id": "resp_standin", "object": "response", "created_at": now(), "status": status,
        "model": model,
        "output": [{"type": "message", "id": "msg_standin", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}],
        "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": 15}
    })
}

fn responses_events(model: &str, text: &str) -> Vec<String> {
    let ev = |v: Value| format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or(""));
    let mut created = response_object(model, "", "in_progress");
    created["output"] = json!([]);
    let mut out = vec![
        ev(json!({"type": "response.created", "response": created})),
        ev(
            json!({"type": "response.output_item.added", "output_index": 0,
                  "item": {"type": "message", "id": "msg_standin", "status": "in_progress",
                           "role": "assistant", "content": []}}),
        ),
        ev(
            json!({"type": "response.content_part.added", "item_id": "msg_standin",
                  "output_index": 0, "content_index": 0,
                  "part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
    ];
    for p in pieces(text) {
        out.push(ev(
            json!({"type": "response.output_text.delta", "item_id": "msg_standin",
                           "output_index": 0, "content_index": 0, "delta": p}),
        ));
    }
    out.push(ev(
        json!({"type": "response.output_text.done", "item_id": "msg_standin",
                       "output_index": 0, "content_index": 0, "text": text}),
    ));
    out.push(ev(json!({"type": "response.output_item.done", "output_index": 0,
                       "item": {"type": "message", "id": "msg_standin", "status": "completed",
                                "role": "assistant",
                                "content": [{"type": "output_text", "text": text, "annotations": []}]}})));
    out.push(ev(json!({"type": "response.completed", "response": response_object(model, text, "completed")})));
    out
}

// ---------------------------------------------------------------------------
// Codex (Responses API): its shell tool, its usage limit, its title request.
// ---------------------------------------------------------------------------

impl Reply {
    /// Codex's shell tool (`exec_command`, 0.171) running `cmd` in the
    /// session's folder, with the sandbox it was started with.
    pub fn codex_shell(cmd: impl Into<String>) -> Reply {
        Reply::new(Body::ToolCall {
            name: "exec_command".into(),
            arguments: json!({"cmd": cmd.into()}),
        })
    }

    /// `codex_shell` asking to run outside the sandbox: under the
    /// `on-request` approval policy Codex asks the person first.
    pub fn codex_shell_escalated(cmd: impl Into<String>, why: &str) -> Reply {
        Reply::new(Body::ToolCall {
            name: "exec_command".into(),
            arguments: json!({"cmd": cmd.into(), "sandbox_permissions": "require_escalated",
                              "justification": why}),
        })
    }

    /// A 429 with the ChatGPT plan's usage-limit body (`usage_limit_reached`,
    /// `resets_at` in unix seconds), as Codex parses it.
    pub fn codex_usage_limit(resets_at: u64) -> Reply {
        Reply::new(Body::Error {
            status: 429,
            body: json!({"error": {"type": "usage_limit_reached",
                                   "message": "The usage limit has been reached",
                                   "plan_type": "plus", "resets_at": resets_at,
                                   "resets_in_seconds": resets_at.saturating_sub(now())}}),
        })
    }
}

impl OpenAiStandIn {
    /// Script "the next turn runs this shell command": Codex's next request
    /// gets a call of its shell tool with `cmd`, the one after (the tool's
    /// output) the text `then`. For a mixed team's Codex agent.
    pub fn next_turn_runs(&self, cmd: impl Into<String>, then: impl Into<String>) {
        self.push(Reply::codex_shell(cmd));
        self.push(Reply::text(then));
    }

    /// The user texts of the turns Codex sent (its title requests left out).
    pub fn turn_texts(&self) -> Vec<String> {
        self.completions()
            .iter()
            .filter(|r| !is_codex_title_request(r))
            .filter_map(Request::last_user_text)
            .collect()
    }
}

/// Codex's side request for a thread title (a JSON-schema answer named
/// `codex_output_schema`, no tools).
pub fn is_codex_title_request(req: &Request) -> bool {
    req.body
        .pointer("/text/format/name")
        .and_then(Value::as_str)
        == Some("codex_output_schema")
}

fn tool_call_events(model: &str, name: &str, arguments: &Value) -> Vec<String> {
    let ev = |v: Value| format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or(""));
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let call_id = format!("call_standin_{n}");
    let item = json!({"type": "function_call", "id": "fc_standin", "call_id": call_id,
                      "name": name, "arguments": arguments.to_string(), "status": "completed"});
    let mut created = response_object(model, "", "in_progress");
    created["output"] = json!([]);
    let mut done = response_object(model, "", "completed");
    done["output"] = json!([item.clone()]);
    let mut added = item.clone();
    added["status"] = json!("in_progress");
    vec![
        ev(json!({"type": "response.created", "response": created})),
        ev(json!({"type": "response.output_item.added", "output_index": 0, "item": added})),
        ev(json!({"type": "response.output_item.done", "output_index": 0, "item": item})),
        ev(json!({"type": "response.completed", "response": done})),
    ]
}

/// How a Codex agent under orc talks to this stand-in, for any test that
/// runs one (a mixed team's, say): [`OpenAiStandIn::codex_setup`] writes
/// `config_toml` to `$CODEX_HOME/config.toml` and gives orc's profile.
#[derive(Debug, Clone)]
pub struct CodexSetup {
    /// `$CODEX_HOME/config.toml` as written: the stand-in as a custom
    /// Responses-API provider (and, unattended, `approval_policy = "never"`
    /// with `sandbox_mode = "danger-full-access"`).
    pub config_toml: String,
    /// `[profiles.<name>]` for orc's `config.toml`: the binary, the
    /// `codex` detector and `env`.
    pub profile_toml: String,
    /// The pane's variables (`HOME`, `CODEX_HOME`, the provider's key
    /// variable, `TERM`, `LANG`), also in the profile.
    pub env: Vec<(String, String)>,
}

impl OpenAiStandIn {
    /// Set up `home` (with `home/.codex` as `CODEX_HOME`) for a Codex agent
    /// talking to this stand-in, and give orc's profile `name` for `bin`.
    /// `unattended`: Codex runs every shell call without asking (approval
    /// policy `never`, full-access sandbox), so a scripted
    /// [`next_turn_runs`](Self::next_turn_runs) needs no human and no
    /// `auto_approve`; otherwise its default (`on-request`, workspace-write)
    /// asks before an escalated command. The trust question on first start
    /// in a folder is orc's to answer (`Trust and continue`).
    pub fn codex_setup(
        &self,
        name: &str,
        bin: &std::path::Path,
        home: &std::path::Path,
        unattended: bool,
    ) -> io::Result<CodexSetup> {
        let codex_home = home.join(".codex");
        std::fs::create_dir_all(&codex_home)?;
        let mut config_toml =
            "model = \"stand-in\"\nmodel_provider = \"standin\"\ncheck_for_update_on_startup = false\n"
                .to_string();
        if unattended {
            config_toml
                .push_str("approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"\n");
        }
        config_toml.push_str(&format!(
            "\n[model_providers.standin]\nname = \"stand-in\"\nbase_url = \"{}\"\nenv_key = \"STANDIN_KEY\"\nwire_api = \"responses\"\n",
            self.base_url()
        ));
        std::fs::write(codex_home.join("config.toml"), &config_toml)?;
        let env: Vec<(String, String)> = [
            ("HOME", home.display().to_string()),
            ("CODEX_HOME", codex_home.display().to_string()),
            ("STANDIN_KEY", "stand-in-key".to_string()),
            ("TERM", "xterm-256color".to_string()),
            ("LANG", "C.UTF-8".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut profile_toml = format!(
            "[profiles.{name}]\ncommand = {}\ndetector = \"codex\"\n\n[profiles.{name}.env]\n",
            q(&bin.display().to_string())
        );
        for (k, v) in &env {
            profile_toml.push_str(&format!("{k} = {}\n", q(v)));
        }
        Ok(CodexSetup {
            config_toml,
            profile_toml,
            env,
        })
    }
}

// ---------------------------------------------------------------------------
// Aider: a turn that proposes a shell command (added for the aider e2e and
// mixed-team tests; see tests/support/aider_recipe.rs).
// ---------------------------------------------------------------------------

impl Reply {
    /// A reply that proposes `command` in a fenced bash block. Aider (with a
    /// diff edit format, as `aider_recipe` sets up) then asks `Run shell
    /// command? (Y)es/(N)o/(D)on't ask again [Yes]:` and, once it ran and
    /// printed something, `Add command output to the chat?`. One line: aider
    /// runs each line of the block as its own command.
    pub fn shell_command(command: &str) -> Reply {
        assert!(!command.contains('\n'), "one command line");
        Reply::text(format!(
            "I will run this command.\n\n```bash\n{command}\n```\n"
        ))
    }
}

impl OpenAiStandIn {
    /// Script the next turn to make Aider propose `command`; it runs in the
    /// agent's folder once `Run shell command?` is answered Yes (by orc, for
    /// an agent with `auto_approve`). Aider sends no request of its own
    /// after the command: the reply after this one answers the next message.
    pub fn aider_next_turn_runs(&self, command: &str) {
        self.push(Reply::shell_command(command));
    }
}
