//! A scripted stand-in for the Anthropic Messages API, for driving the real
//! Claude Code CLI offline in tests.
//!
//! It is a small HTTP/1.1 server on `127.0.0.1:<port>` (its own thread and tokio
//! runtime, so it works from sync and async tests alike). Claude Code is pointed at
//! it with `ANTHROPIC_BASE_URL=stand_in.base_url("/some/prefix")`.
//!
//! * `POST <prefix>/v1/messages[?beta=true]` from an *agent turn* (a request that
//!   carries a non-empty `tools` list) takes the next [`Reply`] from the script
//!   queue; when the queue is empty the default reply (a short text) is used.
//!   Side queries the CLI makes on its own (title / topic / quota checks, which
//!   carry no tools) get the default reply and leave the queue alone, unless
//!   [`Routing::All`] is chosen.
//! * Replies stream as SSE (`message_start`, `content_block_start/delta/stop`,
//!   `message_delta`, `message_stop`) or, when the request has no `"stream": true`,
//!   come back as one JSON message.
//! * `.../count_tokens` answers `{"input_tokens": N}`; any other path answers
//!   `200 {}` (HEAD: empty), so nothing the CLI probes hangs.
//! * Paths under `/_stand_in/` are a control interface for scripts (not recorded):
//!   `POST /_stand_in/push` (a reply or an array of replies, JSON as in
//!   [`Reply::from_json`]), `POST /_stand_in/clear`, `POST /_stand_in/default`,
//!   `GET /_stand_in/requests`.
//!
//! Every other request is recorded ([`Request`]) so tests can assert what the CLI
//! sent. Dropping the [`StandIn`] shuts the server down.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

// ---------------------------------------------------------------------------
// Script: replies
// ---------------------------------------------------------------------------

/// One content block of a scripted assistant message.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    Text(String),
    /// A `tool_use` block; `id` is generated when `None`.
    ToolUse {
        id: Option<String>,
        name: String,
        input: Value,
    },
}

/// What a scripted reply answers with.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyBody {
    /// A normal assistant message. `stop_reason` defaults to `tool_use` when a
    /// tool block is present, else `end_turn`.
    Message {
        content: Vec<Block>,
        stop_reason: Option<String>,
    },
    /// An HTTP error with a JSON body.
    Error { status: u16, body: Value },
    /// Never answer; the connection stays open until the client gives up or the
    /// stand-in is dropped.
    Hang,
}

/// How many requests a reply serves before it leaves the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    N(u32),
    Forever,
}

/// One scripted reply. Build with the constructors and the chained setters:
/// `Reply::text("hi").delay(Duration::from_secs(5))`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub body: ReplyBody,
    /// Wait this long before sending anything (the CLI shows its spinner).
    pub delay_before: Duration,
    /// For streamed replies: after `message_start`, wait this long (sending
    /// `ping` events every second) before the first content block.
    pub delay_after_start: Duration,
    /// For streamed replies: pause between text deltas (text is sent in
    /// word-sized pieces when this is non-zero, else in one delta).
    pub chunk_delay: Duration,
    /// Extra response headers (name, value).
    pub headers: Vec<(String, String)>,
    pub times: Times,
    /// `usage.input_tokens` reported for this reply (default 10). A large value
    /// makes the CLI believe its context is nearly full.
    pub input_tokens: u64,
}

impl Reply {
    fn with_body(body: ReplyBody) -> Reply {
        Reply {
            body,
            delay_before: Duration::ZERO,
            delay_after_start: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            headers: Vec::new(),
            times: Times::N(1),
            input_tokens: 10,
        }
    }

    /// An assistant message with the given content blocks.
    pub fn message(content: Vec<Block>) -> Reply {
        Reply::with_body(ReplyBody::Message {
            content,
            stop_reason: None,
        })
    }

    /// A plain text reply.
    pub fn text(text: impl Into<String>) -> Reply {
        Reply::message(vec![Block::Text(text.into())])
    }

    /// A `Bash` tool call running `command`. The CLI runs it and sends the result
    /// in its next request, which gets the next scripted reply.
    pub fn bash(command: impl Into<String>) -> Reply {
        Reply::tool_use("Bash", json!({ "command": command.into() }))
    }

    /// A `Bash` tool call with a description (shown by some CLI versions).
    pub fn bash_described(command: impl Into<String>, description: impl Into<String>) -> Reply {
        Reply::tool_use(
            "Bash",
            json!({ "command": command.into(), "description": description.into() }),
        )
    }

    /// A call of any tool by name with the given input object.
    pub fn tool_use(name: impl Into<String>, input: Value) -> Reply {
        Reply::message(vec![Block::ToolUse {
            id: None,
            name: name.into(),
            input,
        }])
    }

    /// Put a text block before the existing content (e.g. "Let me check.").
    pub fn preface(mut self, text: impl Into<String>) -> Reply {
        if let ReplyBody::Message { content, .. } = &mut self.body {
            content.insert(0, Block::Text(text.into()));
        }
        self
    }

    /// An HTTP error: `status` with a JSON body `{"type":"error","error":{...}}`.
    pub fn error(status: u16, error_type: &str, message: &str) -> Reply {
        Reply::with_body(ReplyBody::Error {
            status,
            body: json!({
                "type": "error",
                "error": { "type": error_type, "message": message },
            }),
        })
    }

    /// An HTTP error with an arbitrary JSON body.
    pub fn error_body(status: u16, body: Value) -> Reply {
        Reply::with_body(ReplyBody::Error { status, body })
    }

    /// The subscription usage limit: 429 with the unified rate-limit headers.
    /// `reset_epoch` is in Unix seconds, `claim` e.g. `five_hour`, `seven_day`
    /// (an empty claim leaves that header out).
    pub fn usage_limit(reset_epoch: u64, claim: &str) -> Reply {
        let r = Reply::error(
            429,
            "rate_limit_error",
            "This request would exceed your account's rate limit. Please try again later.",
        )
        .header("anthropic-ratelimit-unified-status", "rejected")
        .header("anthropic-ratelimit-unified-reset", reset_epoch.to_string());
        if claim.is_empty() {
            r
        } else {
            r.header("anthropic-ratelimit-unified-representative-claim", claim)
        }
    }

    /// [`Reply::usage_limit`] with the reset `secs` from now.
    pub fn usage_limit_in(secs: u64, claim: &str) -> Reply {
        Reply::usage_limit(unix_now() + secs, claim)
    }

    /// 401 authentication error.
    pub fn unauthorized(message: &str) -> Reply {
        Reply::error(401, "authentication_error", message)
    }

    /// 500 internal server error.
    pub fn server_error() -> Reply {
        Reply::error(500, "api_error", "Internal server error")
    }

    /// 529 overloaded.
    pub fn overloaded() -> Reply {
        Reply::error(529, "overloaded_error", "Overloaded")
    }

    /// Never answer.
    pub fn hang() -> Reply {
        Reply::with_body(ReplyBody::Hang)
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay_before = d;
        self
    }

    pub fn delay_after_start(mut self, d: Duration) -> Reply {
        self.delay_after_start = d;
        self
    }

    pub fn chunk_delay(mut self, d: Duration) -> Reply {
        self.chunk_delay = d;
        self
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Report this many input tokens in the reply's usage.
    pub fn input_tokens(mut self, n: u64) -> Reply {
        self.input_tokens = n;
        self
    }

    pub fn stop_reason(mut self, reason: impl Into<String>) -> Reply {
        if let ReplyBody::Message { stop_reason, .. } = &mut self.body {
            *stop_reason = Some(reason.into());
        }
        self
    }

    /// Serve `n` requests with this reply (e.g. an error on every retry).
    pub fn times(mut self, n: u32) -> Reply {
        self.times = Times::N(n.max(1));
        self
    }

    /// Serve every request with this reply until the queue is cleared.
    pub fn forever(mut self) -> Reply {
        self.times = Times::Forever;
        self
    }

    /// Short description for logs and records.
    pub fn describe(&self) -> String {
        let body = match &self.body {
            ReplyBody::Message { content, .. } => content
                .iter()
                .map(|b| match b {
                    Block::Text(t) => format!("text({:?})", truncate(t, 40)),
                    Block::ToolUse { name, input, .. } => {
                        format!("tool_use({name} {})", truncate(&input.to_string(), 60))
                    }
                })
                .collect::<Vec<_>>()
                .join("+"),
            ReplyBody::Error { status, .. } => format!("error({status})"),
            ReplyBody::Hang => "hang".to_string(),
        };
        if self.delay_before.is_zero() && self.delay_after_start.is_zero() {
            body
        } else {
            format!(
                "{body} delay={}ms/{}ms",
                self.delay_before.as_millis(),
                self.delay_after_start.as_millis()
            )
        }
    }

    /// Parse a reply from JSON (the command-line example and the control
    /// interface use this). Forms:
    ///
    /// ```text
    /// {"text": "Hello"}
    /// {"bash": "ls -la", "description": "optional", "text": "optional preface"}
    /// {"tool": {"name": "Write", "input": {...}}, "text": "optional preface"}
    /// {"error": {"status": 500, "type": "api_error", "message": "..."}}
    /// {"error": {"status": 401, "body": {...}}}
    /// {"usage_limit": {"reset_in_secs": 7200, "claim": "five_hour"}}
    ///     ("reset_at": epoch instead of reset_in_secs; "claim": null omits that header)
    /// {"hang": true}
    /// ```
    ///
    /// Common optional keys: `delay_ms`, `delay_after_start_ms`, `chunk_delay_ms`,
    /// `headers` (object), `times` (number or `"forever"`), `stop_reason`,
    /// `input_tokens` (usage reported, default 10).
    pub fn from_json(v: &Value) -> Result<Reply, String> {
        let obj = v.as_object().ok_or("a reply must be a JSON object")?;
        let str_of = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        let mut reply = if let Some(cmd) = str_of("bash") {
            let r = match str_of("description") {
                Some(d) => Reply::bash_described(cmd, d),
                None => Reply::bash(cmd),
            };
            match str_of("text") {
                Some(t) => r.preface(t),
                None => r,
            }
        } else if let Some(tool) = obj.get("tool") {
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .ok_or("tool.name missing")?;
            let input = tool.get("input").cloned().unwrap_or_else(|| json!({}));
            let r = Reply::tool_use(name, input);
            match str_of("text") {
                Some(t) => r.preface(t),
                None => r,
            }
        } else if let Some(e) = obj.get("error") {
            let status = e
                .get("status")
                .and_then(Value::as_u64)
                .ok_or("error.status missing")? as u16;
            if let Some(body) = e.get("body") {
                Reply::error_body(status, body.clone())
            } else {
                let (dt, dm) = default_error(status);
                let ty = e.get("type").and_then(Value::as_str).unwrap_or(dt);
                let msg = e.get("message").and_then(Value::as_str).unwrap_or(dm);
                Reply::error(status, ty, msg)
            }
        } else if let Some(u) = obj.get("usage_limit") {
            // "claim": null leaves the representative-claim header out.
            let claim = match u.get("claim") {
                None => "five_hour",
                Some(c) => c.as_str().unwrap_or(""),
            };
            let reset = if let Some(at) = u.get("reset_at").and_then(Value::as_u64) {
                at
            } else {
                unix_now()
                    + u.get("reset_in_secs")
                        .and_then(Value::as_u64)
                        .unwrap_or(7200)
            };
            Reply::usage_limit(reset, claim)
        } else if obj.get("hang").is_some() {
            Reply::hang()
        } else if let Some(t) = str_of("text") {
            Reply::text(t)
        } else {
            return Err(format!("unknown reply form: {v}"));
        };
        let ms = |k: &str| {
            obj.get(k)
                .and_then(Value::as_u64)
                .map(Duration::from_millis)
        };
        if let Some(d) = ms("delay_ms") {
            reply = reply.delay(d);
        }
        if let Some(d) = ms("delay_after_start_ms") {
            reply = reply.delay_after_start(d);
        }
        if let Some(d) = ms("chunk_delay_ms") {
            reply = reply.chunk_delay(d);
        }
        if let Some(h) = obj.get("headers").and_then(Value::as_object) {
            for (k, val) in h {
                let val = match val {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                reply = reply.header(k.clone(), val);
            }
        }
        if let Some(n) = obj.get("input_tokens").and_then(Value::as_u64) {
            reply = reply.input_tokens(n);
        }
        if let Some(s) = str_of("stop_reason") {
            reply = reply.stop_reason(s);
        }
        match obj.get("times") {
            Some(Value::String(s)) if s == "forever" => reply = reply.forever(),
            Some(Value::Number(n)) => reply = reply.times(n.as_u64().unwrap_or(1) as u32),
            _ => {}
        }
        Ok(reply)
    }

    /// Parse a script: a JSON array of replies (or a single reply).
    pub fn script_from_json(v: &Value) -> Result<Vec<Reply>, String> {
        match v {
            Value::Array(items) => items.iter().map(Reply::from_json).collect(),
            other => Ok(vec![Reply::from_json(other)?]),
        }
    }
}

fn default_error(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("invalid_request_error", "Invalid request"),
        401 => ("authentication_error", "invalid x-api-key"),
        403 => ("permission_error", "Forbidden"),
        404 => ("not_found_error", "Not found"),
        413 => ("request_too_large", "Request too large"),
        429 => ("rate_limit_error", "Rate limited"),
        529 => ("overloaded_error", "Overloaded"),
        _ => ("api_error", "Internal server error"),
    }
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/// What kind of request the stand-in saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// `/v1/messages` with a non-empty `tools` list: a turn of the agent.
    AgentTurn,
    /// `/v1/messages` without tools (title, topic, quota checks...).
    SideQuery,
    CountTokens,
    Other,
}

/// One recorded request.
#[derive(Clone, Debug)]
pub struct Request {
    pub seq: usize,
    pub at: SystemTime,
    pub method: String,
    /// Path without the query string, e.g. `/a/dev/v1/messages`.
    pub path: String,
    /// Query string without `?`, e.g. `beta=true`.
    pub query: String,
    /// All headers, names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (None when empty or not JSON).
    pub body: Option<Value>,
    pub body_len: usize,
    pub kind: RequestKind,
    /// Whether this request took a reply from the script queue.
    pub scripted: bool,
    /// Short description of the answer.
    pub answered: String,
}

impl Request {
    /// First header with that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_messages(&self) -> bool {
        matches!(self.kind, RequestKind::AgentTurn | RequestKind::SideQuery)
    }

    pub fn model(&self) -> Option<&str> {
        self.body.as_ref()?.get("model")?.as_str()
    }

    pub fn is_stream(&self) -> bool {
        self.body
            .as_ref()
            .and_then(|b| b.get("stream"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn messages(&self) -> &[Value] {
        self.body
            .as_ref()
            .and_then(|b| b.get("messages"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Role of the last message (`system` in subscription mode, see field notes).
    pub fn last_role(&self) -> Option<&str> {
        self.messages().last()?.get("role")?.as_str()
    }

    /// The last `role: user` message (a trailing `role: system` message may follow it).
    pub fn last_user_message(&self) -> Option<&Value> {
        self.messages()
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    }

    /// Text of the last user message: its text blocks joined with newlines, leaving
    /// out `<system-reminder>` blocks the CLI injects. None if there is no text.
    pub fn last_user_text(&self) -> Option<String> {
        let m = self.last_user_message()?;
        let texts: Vec<String> = content_texts(m.get("content")?)
            .into_iter()
            .filter(|t| !t.trim_start().starts_with("<system-reminder>"))
            .collect();
        if texts.is_empty() {
            None
        } else {
            Some(texts.join("\n"))
        }
    }

    /// All text of the last user message, including injected reminders.
    pub fn last_user_text_all(&self) -> Option<String> {
        let m = self.last_user_message()?;
        let texts = content_texts(m.get("content")?);
        if texts.is_empty() {
            None
        } else {
            Some(texts.join("\n"))
        }
    }

    /// `tool_result` blocks of the last user message: (tool_use_id, text, is_error).
    pub fn tool_results(&self) -> Vec<(String, String, bool)> {
        let Some(content) = self
            .last_user_message()
            .and_then(|m| m.get("content"))
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        content
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
            .map(|b| {
                let id = b
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let text = b
                    .get("content")
                    .map(content_texts)
                    .unwrap_or_default()
                    .join("\n");
                let err = b.get("is_error").and_then(Value::as_bool).unwrap_or(false);
                (id, text, err)
            })
            .collect()
    }

    /// Summary as JSON (used by `GET /_stand_in/requests`).
    pub fn to_json(&self) -> Value {
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            headers.insert(k.clone(), Value::String(v.clone()));
        }
        json!({
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "kind": format!("{:?}", self.kind),
            "scripted": self.scripted,
            "answered": self.answered,
            "model": self.model(),
            "stream": self.is_stream(),
            "last_role": self.last_role(),
            "last_user_text": self.last_user_text(),
            "tool_results": self.tool_results().iter().map(|(id, t, e)| json!({"tool_use_id": id, "text": t, "is_error": e})).collect::<Vec<_>>(),
            "headers": headers,
            "body_len": self.body_len,
        })
    }
}

fn content_texts(content: &Value) -> Vec<String> {
    match content {
        Value::String(s) => vec![s.clone()],
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b {
                Value::String(s) => Some(s.clone()),
                _ if b.get("type").and_then(Value::as_str) == Some("text") => {
                    b.get("text").and_then(Value::as_str).map(str::to_string)
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// Which `/v1/messages` requests take replies from the script queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// Only agent turns (requests with tools); side queries get the default.
    AgentTurns,
    /// Every `/v1/messages` request.
    All,
}

/// Decides the reply to a `/v1/messages` request before the script queue and
/// the default are asked (None: fall through to them). Called with the
/// stand-in's lock held: it must not call back into the [`StandIn`].
pub type Responder = Arc<dyn Fn(&Request) -> Option<Reply> + Send + Sync>;

struct State {
    queue: VecDeque<Reply>,
    default: Reply,
    routing: Routing,
    requests: Vec<Request>,
    counter: u64,
    log: bool,
    responder: Option<Responder>,
    /// Keep every request (with its body) for [`StandIn::requests`].
    keep: bool,
}

impl State {
    fn next_reply(&mut self) -> Option<Reply> {
        let front = self.queue.front_mut()?;
        match front.times {
            Times::Forever => Some(front.clone()),
            Times::N(n) if n > 1 => {
                front.times = Times::N(n - 1);
                let mut r = front.clone();
                r.times = Times::N(1);
                Some(r)
            }
            Times::N(_) => self.queue.pop_front(),
        }
    }
}

/// A running stand-in. Dropping it shuts the server down.
pub struct StandIn {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl StandIn {
    /// Start on an ephemeral port of 127.0.0.1 with the given script.
    pub fn start(script: Vec<Reply>) -> io::Result<StandIn> {
        StandIn::start_on(0, script)
    }

    /// Start on a given port of 127.0.0.1 (0 = ephemeral).
    pub fn start_on(port: u16, script: Vec<Reply>) -> io::Result<StandIn> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            queue: script.into(),
            default: Reply::text("OK."),
            routing: Routing::AgentTurns,
            requests: Vec::new(),
            counter: 0,
            log: std::env::var_os("STAND_IN_LOG").is_some(),
            responder: None,
            keep: true,
        }));
        let (tx, rx) = watch::channel(false);
        let st = state.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name(format!("stand-in-{}", addr.port()))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    serve(listener, st, rx).await;
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("stand-in thread died"))??;
        Ok(StandIn {
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT<prefix>` for `ANTHROPIC_BASE_URL` (prefix may be "").
    pub fn base_url(&self, prefix: &str) -> String {
        let p = prefix.trim_end_matches('/');
        if p.is_empty() {
            format!("http://{}", self.addr)
        } else if p.starts_with('/') {
            format!("http://{}{}", self.addr, p)
        } else {
            format!("http://{}/{}", self.addr, p)
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Append a reply to the script queue.
    pub fn push(&self, reply: Reply) {
        self.lock().queue.push_back(reply);
    }

    /// Drop all queued replies.
    pub fn clear(&self) {
        self.lock().queue.clear();
    }

    /// Number of replies still queued.
    pub fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    /// The reply used when the queue is empty (default: text "OK.").
    pub fn set_default(&self, reply: Reply) {
        self.lock().default = reply;
    }

    pub fn set_routing(&self, routing: Routing) {
        self.lock().routing = routing;
    }

    /// Let `f` answer `/v1/messages` requests first (see [`Responder`]).
    pub fn set_responder(&self, f: Responder) {
        self.lock().responder = Some(f);
    }

    /// Whether requests are kept for [`StandIn::requests`] (default: yes). A
    /// long run with a responder that looks at each request itself turns it
    /// off: every request carries the whole conversation.
    pub fn set_keep_records(&self, keep: bool) {
        self.lock().keep = keep;
    }

    /// Print one line per request to stderr.
    pub fn set_log(&self, on: bool) {
        self.lock().log = on;
    }

    /// All recorded requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// Recorded agent turns (requests that carried tools).
    /// The last user text of every agent turn, in order (cheap: no clones of
    /// whole requests).
    pub fn agent_turn_texts(&self) -> Vec<String> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.kind == RequestKind::AgentTurn)
            .filter_map(|r| r.last_user_text())
            .collect()
    }

    pub fn agent_turns(&self) -> Vec<Request> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.kind == RequestKind::AgentTurn)
            .cloned()
            .collect()
    }

    /// Wait (blocking, polling) until a recorded request matches `pred`.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Request) -> bool) -> Option<Request> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.lock().requests.iter().find(|r| pred(r)) {
                return Some(r.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Wait until an agent turn whose last user text contains `needle` arrives.
    pub fn wait_for_user_text(&self, needle: &str, timeout: Duration) -> Option<Request> {
        self.wait_for(timeout, |r| {
            r.kind == RequestKind::AgentTurn
                && r.last_user_text().is_some_and(|t| t.contains(needle))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(listener: TcpListener, state: Arc<Mutex<State>>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let st = state.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let _ = connection(stream, st, stop).await;
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP/1.1
// ---------------------------------------------------------------------------

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 256 * 1024 * 1024;

struct HttpRequest {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn wants_close(&self) -> bool {
        match self.header("connection") {
            Some(v) if v.to_ascii_lowercase().contains("close") => true,
            Some(v) if v.to_ascii_lowercase().contains("keep-alive") => false,
            _ => self.version == "HTTP/1.0",
        }
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Read more bytes; Ok(false) on EOF.
    async fn fill(&mut self) -> io::Result<bool> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.stream.read(&mut tmp).await?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n > 0)
    }

    async fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(pos) = find(&self.buf, b"\r\n") {
                let line = self.buf[..pos].to_vec();
                self.buf.drain(..pos + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(io::Error::other("line too long"));
            }
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn read_exact_bytes(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Read one request; Ok(None) on a clean EOF between requests.
    async fn read_request(&mut self) -> io::Result<Option<HttpRequest>> {
        let head_end = loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                break pos;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(io::Error::other("head too large"));
            }
            if !self.fill().await? {
                if self.buf.iter().all(|b| b.is_ascii_whitespace()) {
                    return Ok(None);
                }
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_string();
        self.buf.drain(..head_end + 4);
        // Tolerate stray CRLFs before a request line.
        let mut lines = head.split("\r\n").skip_while(|l| l.is_empty());
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let version = parts.next().unwrap_or("HTTP/1.1").to_string();
        let mut headers = Vec::new();
        for line in lines {
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let mut req = HttpRequest {
            method,
            target,
            version,
            headers,
            body: Vec::new(),
        };
        if req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        let chunked = req
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            let mut body = Vec::new();
            loop {
                let line = self.read_line().await?;
                let line = String::from_utf8_lossy(&line);
                let size_str = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_str, 16)
                    .map_err(|_| io::Error::other("bad chunk size"))?;
                if size == 0 {
                    // Trailers until an empty line.
                    loop {
                        if self.read_line().await?.is_empty() {
                            break;
                        }
                    }
                    break;
                }
                if body.len() + size > MAX_BODY {
                    return Err(io::Error::other("body too large"));
                }
                body.extend(self.read_exact_bytes(size).await?);
                self.read_line().await?; // CRLF after the chunk
            }
            req.body = body;
        } else if let Some(len) = req.header("content-length") {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| io::Error::other("bad content-length"))?;
            if len > MAX_BODY {
                return Err(io::Error::other("body too large"));
            }
            req.body = self.read_exact_bytes(len).await?;
        }
        Ok(Some(req))
    }

    async fn respond(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        head_only: bool,
        close: bool,
    ) -> io::Result<()> {
        let mut out = status_line(status);
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!("content-length: {}\r\n", body.len()));
        out.push_str(if close {
            "connection: close\r\n"
        } else {
            "connection: keep-alive\r\n"
        });
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(body);
        }
        self.stream.write_all(&bytes).await?;
        self.stream.flush().await
    }

    async fn start_chunked(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        close: bool,
    ) -> io::Result<()> {
        let mut out = status_line(status);
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("transfer-encoding: chunked\r\n");
        out.push_str(if close {
            "connection: close\r\n"
        } else {
            "connection: keep-alive\r\n"
        });
        out.push_str("\r\n");
        self.stream.write_all(out.as_bytes()).await?;
        self.stream.flush().await
    }

    async fn chunk(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        self.stream.write_all(&out).await?;
        self.stream.flush().await
    }

    async fn end_chunked(&mut self) -> io::Result<()> {
        self.stream.write_all(b"0\r\n\r\n").await?;
        self.stream.flush().await
    }
}

fn status_line(status: u16) -> String {
    let reason = match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    };
    format!("HTTP/1.1 {status} {reason}\r\n")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn lock(state: &Arc<Mutex<State>>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

async fn connection(
    stream: TcpStream,
    state: Arc<Mutex<State>>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
    };
    loop {
        let req = tokio::select! {
            _ = stop.changed() => return Ok(()),
            r = conn.read_request() => r?,
        };
        let Some(req) = req else { return Ok(()) };
        let close = req.wants_close();
        let keep = tokio::select! {
            _ = stop.changed() => return Ok(()),
            r = handle(&mut conn, req, &state, close) => r?,
        };
        if close || !keep {
            let _ = conn.stream.shutdown().await;
            return Ok(());
        }
    }
}

/// Handle one request; Ok(false) when the connection must close afterwards.
async fn handle(
    conn: &mut Conn,
    req: HttpRequest,
    state: &Arc<Mutex<State>>,
    close: bool,
) -> io::Result<bool> {
    let (path, query) = match req.target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (req.target.clone(), String::new()),
    };
    // Absolute-form targets (proxies) → keep only the path.
    let path = match path.find("://") {
        Some(i) => path[i + 3..]
            .find('/')
            .map(|j| path[i + 3 + j..].to_string())
            .unwrap_or_else(|| "/".to_string()),
        None => path,
    };
    let json_headers = vec![("content-type".to_string(), "application/json".to_string())];

    if path.starts_with("/_stand_in/") {
        let (status, body) = control(&req, &path, state);
        conn.respond(
            status,
            &json_headers,
            body.to_string().as_bytes(),
            false,
            close,
        )
        .await?;
        return Ok(true);
    }

    let body_json: Option<Value> = if req.body.is_empty() {
        None
    } else {
        serde_json::from_slice(&req.body).ok()
    };
    let is_post = req.method.eq_ignore_ascii_case("POST");
    let kind = if is_post && path.ends_with("/v1/messages/count_tokens") {
        RequestKind::CountTokens
    } else if is_post && path.ends_with("/v1/messages") {
        let has_tools = body_json
            .as_ref()
            .and_then(|b| b.get("tools"))
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty());
        if has_tools {
            RequestKind::AgentTurn
        } else {
            RequestKind::SideQuery
        }
    } else {
        RequestKind::Other
    };

    // Pick the reply and record the request under one lock.
    let (reply, msg_no) = {
        let mut st = lock(state);
        st.counter += 1;
        let msg_no = st.counter;
        let takes_script = match kind {
            RequestKind::AgentTurn => true,
            RequestKind::SideQuery => st.routing == Routing::All,
            _ => false,
        };
        let seq = st.requests.len();
        let record = Request {
            seq,
            at: SystemTime::now(),
            method: req.method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: req.headers.clone(),
            body: body_json.clone(),
            body_len: req.body.len(),
            kind,
            scripted: false,
            answered: String::new(),
        };
        let by_responder = match (&st.responder, kind) {
            (Some(f), RequestKind::AgentTurn | RequestKind::SideQuery) => f(&record),
            _ => None,
        };
        let (reply, scripted) = if by_responder.is_some() {
            (by_responder, false)
        } else if takes_script {
            match st.next_reply() {
                Some(r) => (Some(r), true),
                None => (Some(st.default.clone()), false),
            }
        } else if kind == RequestKind::SideQuery {
            (Some(st.default.clone()), false)
        } else {
            (None, false)
        };
        let answered = match (&reply, kind) {
            (Some(r), _) => r.describe(),
            (None, RequestKind::CountTokens) => "count_tokens".to_string(),
            (None, _) => "200 {}".to_string(),
        };
        let mut record = record;
        record.scripted = scripted;
        record.answered = answered;
        if st.log {
            eprintln!(
                "stand-in #{seq} {} {}{}{} {:?} model={} last_user={:?} -> {}",
                record.method,
                record.path,
                if query.is_empty() { "" } else { "?" },
                query,
                kind,
                record.model().unwrap_or("-"),
                record
                    .last_user_text()
                    .map(|t| truncate(&t, 60))
                    .unwrap_or_default(),
                record.answered
            );
        }
        if st.keep {
            st.requests.push(record);
        }
        (reply, msg_no)
    };

    match kind {
        RequestKind::CountTokens => {
            let n = body_json
                .as_ref()
                .map(|b| (b.to_string().len() / 4).max(1))
                .unwrap_or(1);
            let body = json!({ "input_tokens": n }).to_string();
            conn.respond(200, &json_headers, body.as_bytes(), false, close)
                .await?;
            Ok(true)
        }
        RequestKind::Other => {
            let head = req.method.eq_ignore_ascii_case("HEAD");
            conn.respond(200, &json_headers, b"{}", head, close).await?;
            Ok(true)
        }
        RequestKind::AgentTurn | RequestKind::SideQuery => {
            let reply = reply.expect("messages request always has a reply");
            let model = body_json
                .as_ref()
                .and_then(|b| b.get("model"))
                .and_then(Value::as_str)
                .unwrap_or("claude-stand-in")
                .to_string();
            let stream = body_json
                .as_ref()
                .and_then(|b| b.get("stream"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            send_reply(conn, &reply, &model, stream, msg_no, close).await
        }
    }
}

fn control(req: &HttpRequest, path: &str, state: &Arc<Mutex<State>>) -> (u16, Value) {
    let body: Option<Value> = serde_json::from_slice(&req.body).ok();
    let mut st = lock(state);
    match path {
        "/_stand_in/push" => match body.as_ref().map(Reply::script_from_json) {
            Some(Ok(replies)) => {
                let n = replies.len();
                st.queue.extend(replies);
                (200, json!({ "pushed": n, "pending": st.queue.len() }))
            }
            Some(Err(e)) => (400, json!({ "error": e })),
            None => (400, json!({ "error": "body must be JSON" })),
        },
        "/_stand_in/clear" => {
            st.queue.clear();
            (200, json!({ "pending": 0 }))
        }
        "/_stand_in/default" => match body.as_ref().map(Reply::from_json) {
            Some(Ok(r)) => {
                st.default = r;
                (200, json!({}))
            }
            Some(Err(e)) => (400, json!({ "error": e })),
            None => (400, json!({ "error": "body must be JSON" })),
        },
        "/_stand_in/requests" => (
            200,
            Value::Array(st.requests.iter().map(Request::to_json).collect()),
        ),
        "/_stand_in/pending" => (200, json!({ "pending": st.queue.len() })),
        _ => (404, json!({ "error": "unknown control path" })),
    }
}

async fn send_reply(
    conn: &mut Conn,
    reply: &Reply,
    model: &str,
    stream: bool,
    msg_no: u64,
    close: bool,
) -> io::Result<bool> {
    if !reply.delay_before.is_zero() {
        tokio::time::sleep(reply.delay_before).await;
    }
    let request_id = format!("req_stand_in_{msg_no:06}");
    let mut headers = vec![("request-id".to_string(), request_id)];
    headers.extend(reply.headers.iter().cloned());

    let (content, stop_reason) = match &reply.body {
        ReplyBody::Hang => {
            // Wait until the client goes away (read returns 0 or errors).
            let mut tmp = [0u8; 1024];
            loop {
                match conn.stream.read(&mut tmp).await {
                    Ok(0) | Err(_) => return Ok(false),
                    Ok(_) => {}
                }
            }
        }
        ReplyBody::Error { status, body } => {
            headers.push(("content-type".to_string(), "application/json".to_string()));
            conn.respond(*status, &headers, body.to_string().as_bytes(), false, close)
                .await?;
            return Ok(true);
        }
        ReplyBody::Message {
            content,
            stop_reason,
        } => {
            let has_tool = content.iter().any(|b| matches!(b, Block::ToolUse { .. }));
            let stop = stop_reason
                .clone()
                .unwrap_or_else(|| if has_tool { "tool_use" } else { "end_turn" }.to_string());
            (content, stop)
        }
    };

    let msg_id = format!("msg_stand_in_{msg_no:06}");
    // Assign tool ids.
    let blocks: Vec<Value> = content
        .iter()
        .enumerate()
        .map(|(i, b)| match b {
            Block::Text(t) => json!({ "type": "text", "text": t }),
            Block::ToolUse { id, name, input } => json!({
                "type": "tool_use",
                "id": id.clone().unwrap_or_else(|| format!("toolu_stand_in_{msg_no:06}_{i}")),
                "name": name,
                "input": input,
            }),
        })
        .collect();
    let output_tokens: usize = content
        .iter()
        .map(|b| match b {
            Block::Text(t) => t.split_whitespace().count().max(1),
            Block::ToolUse { input, .. } => input.to_string().len() / 4 + 1,
        })
        .sum();
    let usage_in = json!({
        "input_tokens": reply.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    });

    if !stream {
        headers.push(("content-type".to_string(), "application/json".to_string()));
        let body = json!({
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {
                "input_tokens": reply.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": output_tokens,
            },
        });
        conn.respond(200, &headers, body.to_string().as_bytes(), false, close)
            .await?;
        return Ok(true);
    }

    headers.push(("content-type".to_string(), "text/event-stream".to_string()));
    headers.push(("cache-control".to_string(), "no-cache".to_string()));
    conn.start_chunked(200, &headers, close).await?;
    let sse = |event: &str, data: Value| format!("event: {event}\ndata: {data}\n\n");

    conn.chunk(
        sse(
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": usage_in,
                },
            }),
        )
        .as_bytes(),
    )
    .await?;

    if !reply.delay_after_start.is_zero() {
        let deadline = tokio::time::Instant::now() + reply.delay_after_start;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            let step = (deadline - now).min(Duration::from_secs(1));
            tokio::time::sleep(step).await;
            conn.chunk(sse("ping", json!({ "type": "ping" })).as_bytes())
                .await?;
        }
    }

    for (index, block) in blocks.iter().enumerate() {
        let ty = block["type"].as_str().unwrap_or("text");
        if ty == "text" {
            conn.chunk(
                sse(
                    "content_block_start",
                    json!({
                        "type": "content_block_start",
                        "index": index,
                        "content_block": { "type": "text", "text": "" },
                    }),
                )
                .as_bytes(),
            )
            .await?;
            let text = block["text"].as_str().unwrap_or("");
            let pieces = if reply.chunk_delay.is_zero() {
                vec![text.to_string()]
            } else {
                split_keep_spaces(text)
            };
            for (i, piece) in pieces.iter().enumerate() {
                if i > 0 && !reply.chunk_delay.is_zero() {
                    tokio::time::sleep(reply.chunk_delay).await;
                }
                conn.chunk(
                    sse(
                        "content_block_delta",
                        json!({
                            "type": "content_block_delta",
                            "index": index,
                            "delta": { "type": "text_delta", "text": piece },
                        }),
                    )
                    .as_bytes(),
                )
                .await?;
            }
        } else {
            let mut start = block.clone();
            start["input"] = json!({});
            conn.chunk(
                sse(
                    "content_block_start",
                    json!({
                        "type": "content_block_start",
                        "index": index,
                        "content_block": start,
                    }),
                )
                .as_bytes(),
            )
            .await?;
            let partial = block["input"].to_string();
            conn.chunk(
                sse(
                    "content_block_delta",
                    json!({
                        "type": "content_block_delta",
                        "index": index,
                        "delta": { "type": "input_json_delta", "partial_json": partial },
                    }),
                )
                .as_bytes(),
            )
            .await?;
        }
        conn.chunk(
            sse(
                "content_block_stop",
                json!({ "type": "content_block_stop", "index": index }),
            )
            .as_bytes(),
        )
        .await?;
    }

    conn.chunk(
        sse(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": { "stop_reason": stop_reason, "stop_sequence": null },
                "usage": { "output_tokens": output_tokens },
            }),
        )
        .as_bytes(),
    )
    .await?;
    conn.chunk(sse("message_stop", json!({ "type": "message_stop" })).as_bytes())
        .await?;
    conn.end_chunked().await?;
    Ok(true)
}

/// Split text into word-sized pieces, keeping the whitespace attached.
fn split_keep_spaces(text: &str) -> Vec<String> {
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
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

/// Current Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
