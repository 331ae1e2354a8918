//! A scripted stand-in for the Gemini API (`generativelanguage`, v1beta), for
//! driving the real Gemini CLI (`@google/gemini-cli` 0.61.0) offline.
//!
//! A small HTTP/1.1 server on `127.0.0.1:<port>`, on its own thread with its
//! own tokio runtime. Point the CLI at it with [`GeminiStandIn::env`]
//! (`GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:<port>`, `GEMINI_API_KEY=<dummy>`)
//! and a scratch HOME holding [`SETTINGS`] (API-key auth chosen, a fixed
//! model: no auth chooser, no model router).
//!
//! * `POST /v1beta/models/<m>:streamGenerateContent?alt=sse` takes the next
//!   [`Reply`] from the script (the default `OK.` when it is empty): text as
//!   SSE `data: {"candidates":[...]}` chunks, a `functionCall` to the CLI's
//!   `run_shell_command`, an HTTP error with a Google-style body, or nothing.
//! * `POST ...:generateContent` (the CLI's side calls: next-speaker check,
//!   summaries) answers `{"next_speaker":"user"}` as JSON text.
//! * `POST ...:countTokens` answers `{"totalTokens": 10}`; anything else `{}`.
//!
//! Every request is recorded (method, path, JSON body; headers are never
//! kept, so keys cannot leak). [`GeminiStandIn::turns`] gives the user texts
//! of the turns it saw, so tests can count deliveries.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The model the CLI is pinned to (settings `model.name`).
pub const MODEL: &str = "gemini-2.5-pro";

/// `~/.gemini/settings.json` for a scratch HOME: API-key auth, a fixed model.
pub const SETTINGS: &str =
    "{\"security\":{\"auth\":{\"selectedType\":\"gemini-api-key\"}},\"model\":{\"name\":\"gemini-2.5-pro\"}}\n";

/// The dummy key the CLI is given (the stand-in never checks it).
pub const DUMMY_KEY: &str = "stand-in-key";

/// What a scripted reply answers with.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Text(String),
    /// A `functionCall` to `run_shell_command` with this command.
    Shell(String),
    Error {
        status: u16,
        body: Value,
    },
    /// Never answer; the connection stays open.
    Hang,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub body: Body,
    pub delay: Duration,
    /// Between streamed chunks (one word each).
    pub chunk_delay: Duration,
    /// How many requests it serves; `None`: forever.
    pub times: Option<u32>,
}

impl Reply {
    fn new(body: Body) -> Reply {
        Reply {
            body,
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            times: Some(1),
        }
    }

    pub fn text(t: impl Into<String>) -> Reply {
        Reply::new(Body::Text(t.into()))
    }

    /// The next turn runs `command` through the CLI's shell tool.
    pub fn shell(command: impl Into<String>) -> Reply {
        Reply::new(Body::Shell(command.into()))
    }

    pub fn error(status: u16, body: Value) -> Reply {
        Reply::new(Body::Error { status, body })
    }

    /// 429 RESOURCE_EXHAUSTED, a per-minute quota with `retryDelay` of
    /// `retry_secs` (over the CLI's retry ceiling: it stops and says when
    /// access resets).
    pub fn quota(retry_secs: u64) -> Reply {
        Reply::error(
            429,
            json!({"error": {"code": 429,
            "message": format!("You exceeded your current quota, please check your plan and billing details. Please retry in {retry_secs}s."),
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                 "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                                 "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                                 "quotaDimensions": {"location": "global", "model": MODEL},
                                 "quotaValue": "2"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{retry_secs}s")}
            ]}}),
        )
    }

    /// 400 INVALID_ARGUMENT / API_KEY_INVALID, as the real API answers a bad key.
    pub fn bad_key() -> Reply {
        Reply::error(
            400,
            json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                             "domain": "googleapis.com",
                             "metadata": {"service": "generativelanguage.googleapis.com"}}]}}),
        )
    }

    pub fn unauthenticated() -> Reply {
        Reply::error(
            401,
            json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                "status": "UNAUTHENTICATED"}}),
        )
    }

    pub fn forbidden() -> Reply {
        Reply::error(
            403,
            json!({"error": {"code": 403, "message": "Permission denied: Consumer has been suspended.",
                "status": "PERMISSION_DENIED"}}),
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
}

/// A request as it arrived (no headers kept).
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Value,
}

impl Request {
    pub fn is_turn(&self) -> bool {
        self.method == "POST" && self.path.contains(":streamGenerateContent")
    }

    /// The user's text when the request's last content is a user message
    /// (not a tool result).
    pub fn user_text(&self) -> Option<String> {
        let last = self.body.get("contents")?.as_array()?.last()?;
        if last.get("role").and_then(Value::as_str) != Some("user") {
            return None;
        }
        let parts = last.get("parts")?.as_array()?;
        if parts.iter().any(|p| p.get("functionResponse").is_some()) {
            return None;
        }
        let text: Vec<&str> = parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        if text.is_empty() {
            return None;
        }
        // The first turn carries the CLI's `<session_context>` block first.
        let all = text.join("\n");
        Some(match all.rfind("</session_context>") {
            Some(i) => all[i + "</session_context>".len()..]
                .trim_start()
                .to_string(),
            None => all,
        })
    }

    /// The `functionResponse` parts of the last content (tool results).
    pub fn function_responses(&self) -> Vec<Value> {
        self.body
            .get("contents")
            .and_then(Value::as_array)
            .and_then(|c| c.last())
            .and_then(|c| c.get("parts"))
            .and_then(Value::as_array)
            .map(|p| {
                p.iter()
                    .filter_map(|x| x.get("functionResponse").cloned())
                    .collect()
            })
            .unwrap_or_default()
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
pub struct GeminiStandIn {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl GeminiStandIn {
    pub fn start() -> io::Result<GeminiStandIn> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State {
            default: Some(Reply::text("OK.").forever()),
            log: std::env::var_os("GEMINI_STAND_IN_LOG").is_some(),
            ..State::default()
        }));
        let (stop, mut stopped) = watch::channel(false);
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name("gemini-stand-in".into())
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
        Ok(GeminiStandIn {
            port,
            state,
            stop,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>` (the CLI adds `/v1beta/models/...`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment the CLI needs to talk to this stand-in.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("GOOGLE_GEMINI_BASE_URL".into(), self.base_url()),
            ("GEMINI_API_KEY".into(), DUMMY_KEY.into()),
        ]
    }

    pub fn push(&self, reply: Reply) {
        self.state.lock().unwrap().script.push_back(reply);
    }

    /// Script "the next turn runs this shell command": a `run_shell_command`
    /// functionCall, then (after the CLI returns its output) `then` as text.
    pub fn next_turn_runs(&self, command: &str, then: &str) {
        self.push(Reply::shell(command));
        self.push(Reply::text(then));
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().script.clear();
    }

    pub fn pending(&self) -> usize {
        self.state.lock().unwrap().script.len()
    }

    pub fn set_default(&self, reply: Option<Reply>) {
        self.state.lock().unwrap().default = reply;
    }

    pub fn set_log(&self, on: bool) {
        self.state.lock().unwrap().log = on;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The user texts of the turns the stand-in saw, in order.
    pub fn turns(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.is_turn())
            .filter_map(Request::user_text)
            .collect()
    }

    /// How many turns carried exactly this user text.
    pub fn deliveries(&self, text: &str) -> usize {
        self.turns()
            .iter()
            .filter(|t| t.trim() == text.trim())
            .count()
    }

    /// The tool results the CLI sent back.
    pub fn function_responses(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| r.is_turn())
            .flat_map(Request::function_responses)
            .collect()
    }
}

impl Drop for GeminiStandIn {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A profile for `orc supervise` that runs the real Gemini CLI against a
/// stand-in, for tests that build a team: `(profile TOML, env)`. The TOML is
/// a `[profiles.<name>]` table (detector `gemini`, its `env` included); the
/// env is the same variables for `orc spawn --env`. `home` is a scratch HOME
/// holding [`SETTINGS`] (write it with [`prepare_home`]). `approval` is the
/// CLI's `--approval-mode`: `yolo` runs tools with no dialog at all;
/// `default` asks, and orc answers `Allow once` by label when the agent has
/// `auto_approve` (otherwise a person is told).
pub fn profile_recipe(
    name: &str,
    bin: &std::path::Path,
    stand_in: &GeminiStandIn,
    home: &std::path::Path,
    approval: &str,
) -> (String, Vec<(String, String)>) {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut env = stand_in.env();
    env.push(("HOME".into(), home.display().to_string()));
    env.push(("TERM".into(), "xterm-256color".into()));
    let table: Vec<String> = env.iter().map(|(k, v)| format!("{k} = {}", q(v))).collect();
    let toml = format!(
        "[profiles.{name}]\ncommand = {}\nargs = [\"--approval-mode\", {}]\ndetector = \"gemini\"\nenv = {{ {} }}\n",
        q(&bin.display().to_string()),
        q(approval),
        table.join(", "),
    );
    (toml, env)
}

/// Write [`SETTINGS`] into `home/.gemini/settings.json`.
pub fn prepare_home(home: &std::path::Path) -> io::Result<()> {
    std::fs::create_dir_all(home.join(".gemini"))?;
    std::fs::write(home.join(".gemini/settings.json"), SETTINGS)
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
    s.default.clone().unwrap_or_else(|| {
        Reply::error(500, json!({"error": {"code": 500, "message": "stand-in: script empty", "status": "INTERNAL"}}))
    })
}

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
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let mut len = 0usize;
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                len = v.parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let mut rest: Vec<u8> = buf[head_end + 4..].to_vec();
    let mut body = Vec::new();
    if chunked {
        loop {
            if let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&rest[..i]).into_owned();
                let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
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
            read_more(sock, &mut rest).await?;
        }
    } else {
        while rest.len() < len {
            read_more(sock, &mut rest).await?;
        }
        body.extend_from_slice(&rest[..len]);
        rest.drain(..len);
    }
    *buf = rest;
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok(Some(Request { method, path, body }))
}

async fn read_more(sock: &mut TcpStream, rest: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = [0u8; 8192];
    let n = sock.read(&mut chunk).await?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    rest.extend_from_slice(&chunk[..n]);
    Ok(())
}

async fn write_head(
    sock: &mut TcpStream,
    status: u16,
    ctype: &str,
    len: Option<usize>,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\n");
    match len {
        Some(n) => head.push_str(&format!("content-length: {n}\r\n")),
        None => head.push_str("cache-control: no-cache\r\nconnection: close\r\n"),
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes()).await
}

async fn send_json(sock: &mut TcpStream, status: u16, v: &Value) -> io::Result<()> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    write_head(sock, status, "application/json", Some(body.len())).await?;
    sock.write_all(&body).await
}

fn usage() -> Value {
    json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15})
}

fn candidate(parts: Value, finish: Option<&str>) -> Value {
    let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(f) = finish {
        c["finishReason"] = json!(f);
    }
    json!({"candidates": [c], "usageMetadata": usage(), "modelVersion": MODEL})
}

/// The SSE events of one streamed reply.
fn stream_events(body: &Body) -> Vec<String> {
    let ev = |v: Value| format!("data: {v}\r\n\r\n");
    match body {
        Body::Shell(cmd) => vec![ev(candidate(
            json!([{"functionCall": {"name": "run_shell_command",
                    "args": {"command": cmd, "description": "Run the command the test asked for."}}}]),
            Some("STOP"),
        ))],
        Body::Text(text) => {
            let mut words = Vec::new();
            let mut cur = String::new();
            for ch in text.chars() {
                cur.push(ch);
                if ch.is_whitespace() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            if !cur.is_empty() || words.is_empty() {
                words.push(cur);
            }
            let n = words.len();
            words
                .into_iter()
                .enumerate()
                .map(|(i, w)| {
                    ev(candidate(
                        json!([{"text": w}]),
                        (i + 1 == n).then_some("STOP"),
                    ))
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if d.is_zero() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.changed() => false,
    }
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
                eprintln!("gemini-stand-in: {} {}", req.method, req.path);
            }
            s.requests.push(req.clone());
        }
        let path = req.path.split('?').next().unwrap_or_default().to_string();
        if path.ends_with(":countTokens") {
            send_json(&mut sock, 200, &json!({"totalTokens": 10})).await?;
            continue;
        }
        if path.ends_with(":generateContent") {
            let text = "{\"reasoning\": \"stand-in\", \"next_speaker\": \"user\"}";
            send_json(
                &mut sock,
                200,
                &candidate(json!([{"text": text}]), Some("STOP")),
            )
            .await?;
            continue;
        }
        if !path.ends_with(":streamGenerateContent") {
            send_json(&mut sock, 200, &json!({})).await?;
            continue;
        }
        let reply = next_reply(&st);
        if !pause(reply.delay, &mut stop).await {
            return Ok(());
        }
        match &reply.body {
            Body::Hang => {
                let _ = stop.changed().await;
                return Ok(());
            }
            Body::Error { status, body } => {
                send_json(&mut sock, *status, body).await?;
            }
            body => {
                write_head(&mut sock, 200, "text/event-stream", None).await?;
                for (i, ev) in stream_events(body).iter().enumerate() {
                    if i > 0 && !pause(reply.chunk_delay, &mut stop).await {
                        return Ok(());
                    }
                    sock.write_all(ev.as_bytes()).await?;
                    sock.flush().await?;
                }
                let _ = sock.shutdown().await;
                return Ok(());
            }
        }
    }
}
