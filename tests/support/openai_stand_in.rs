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
        let reply = next_reply(&st);
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
    pub fn next_turn_runs(&self, command: &str) {
        self.push(Reply::shell_command(command));
    }
}
