//! A tiny stand-in for the Anthropic Messages API, for `orc doctor --live`:
//! just enough for Claude Code to run a turn, a Bash tool call and a usage
//! limit offline (the full test stand-in is `tests/support/stand_in.rs`).
//!
//! HTTP/1.1 on `127.0.0.1:<any port>`. `POST .../v1/messages` that carries
//! tools (an agent turn) takes the next scripted [`Reply`]; one without tools
//! (a title or quota side query) gets a short text; `.../count_tokens` gets a
//! count; anything else `200 {}`. Replies stream as SSE when the request asks
//! for `"stream": true`. Headers and bodies are never printed or logged: the
//! CLI may send credentials.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer to an agent turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// An assistant message with this text, after a delay (the CLI is busy).
    Text { text: String, delay: Duration },
    /// A `Bash` tool call; the CLI runs it and sends the result back.
    Bash { command: String, delay: Duration },
    /// HTTP 429 with the subscription's unified rate-limit headers, reset at
    /// this Unix time, claim `five_hour`. Stays at the head of the queue: every
    /// retry is refused too.
    UsageLimit { reset: u64 },
}

#[derive(Default)]
struct State {
    queue: VecDeque<Reply>,
    /// Agent turns seen.
    turns: usize,
    /// Texts of the `tool_result` blocks the CLI sent back.
    tool_results: Vec<String>,
    counter: u64,
}

/// The running stand-in; dropping it stops the server.
pub struct StandIn {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    pub async fn start() -> io::Result<StandIn> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = connection(stream, st).await;
                });
            }
        });
        Ok(StandIn { addr, state, task })
    }

    /// The OpenAI-wire base (`.../v1`) for Aider and Codex.
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/doctor/v1", self.addr)
    }

    /// `ANTHROPIC_BASE_URL` for the CLI.
    pub fn base_url(&self) -> String {
        format!("http://{}/doctor", self.addr)
    }

    pub fn push(&self, reply: Reply) {
        self.lock().queue.push_back(reply);
    }

    #[cfg(test)]
    pub fn turns(&self) -> usize {
        self.lock().turns
    }

    pub fn tool_results(&self) -> Vec<String> {
        self.lock().tool_results.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

struct Req {
    method: String,
    path: String,
    close: bool,
    body: Vec<u8>,
}

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;

async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut tmp = [0u8; 16 * 1024];
    let n = s.read(&mut tmp).await?;
    buf.extend_from_slice(&tmp[..n]);
    Ok(n)
}

async fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<Req>> {
    let Some(head) = read_head(s, buf).await? else {
        return Ok(None);
    };
    let mut lines = head.split("\r\n").skip_while(|l| l.is_empty());
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").to_string();
    let http10 = first.next() == Some("HTTP/1.0");
    let (mut len, mut chunked, mut close) = (0usize, false, http10);
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        match k.as_str() {
            "content-length" => len = v.parse().map_err(|_| io::Error::other("bad length"))?,
            "transfer-encoding" => chunked = v.contains("chunked"),
            "connection" => close = v.contains("close"),
            "expect" if v == "100-continue" => {
                s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?
            }
            _ => {}
        }
    }
    let body = if chunked {
        read_chunked(s, buf).await?
    } else {
        read_sized(s, buf, len).await?
    };
    Ok(Some(Req {
        method,
        path,
        close,
        body,
    }))
}

/// The request's head (without the blank line); `None` when the connection
/// closed before one.
async fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<String>> {
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::other("head too large"));
        }
        if fill(s, buf).await? == 0 {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    Ok(Some(head))
}

/// A `transfer-encoding: chunked` body.
async fn read_chunked(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = loop {
            if let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
                let l = String::from_utf8_lossy(&buf[..p]).into_owned();
                buf.drain(..p + 2);
                break l;
            }
            if fill(s, buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| io::Error::other("bad chunk size"))?;
        // The chunk and its CRLF (or, after the last one, the final CRLF).
        while buf.len() < size + 2 {
            if fill(s, buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
        if size == 0 || body.len() > MAX_BODY {
            break;
        }
    }
    Ok(body)
}

/// A body of `content-length` bytes.
async fn read_sized(s: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> io::Result<Vec<u8>> {
    if len > MAX_BODY {
        return Err(io::Error::other("body too large"));
    }
    while buf.len() < len {
        if fill(s, buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buf.drain(..len).collect())
}

async fn connection(mut s: TcpStream, state: Arc<Mutex<State>>) -> io::Result<()> {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut s, &mut buf).await? {
        handle(&mut s, &req, &state).await?;
        if req.close {
            break;
        }
    }
    Ok(())
}

pub(super) async fn respond(
    s: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &str,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        429 => "Too Many Requests",
        _ => "Status",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    s.write_all(out.as_bytes()).await?;
    s.flush().await
}

async fn handle(s: &mut TcpStream, req: &Req, state: &Mutex<State>) -> io::Result<()> {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let post = req.method.eq_ignore_ascii_case("POST");
    if post && req.path.ends_with("/v1/messages/count_tokens") {
        let n = (req.body.len() / 4).max(1);
        return respond(s, 200, &[], &json!({ "input_tokens": n }).to_string()).await;
    }
    if post && super::openai_wire::is_turn(&req.path) {
        let (reply, n) = take_turn(state, &body);
        return super::openai_wire::answer(s, &req.path, &body, reply, n).await;
    }
    if !(post && req.path.ends_with("/v1/messages")) {
        return respond(s, 200, &[], "{}").await;
    }
    let (reply, n) = next_reply(state, &body);
    let model = body["model"]
        .as_str()
        .unwrap_or("claude-stand-in")
        .to_string();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let (block, delay) = match reply {
        Reply::UsageLimit { reset } => return limited(s, reset, n).await,
        Reply::Text { text, delay } => (json!({"type": "text", "text": text}), delay),
        Reply::Bash { command, delay } => (
            json!({"type": "tool_use", "id": format!("toolu_doctor_{n:06}"), "name": "Bash",
                   "input": {"command": command, "description": "orc doctor's tool call"}}),
            delay,
        ),
    };
    tokio::time::sleep(delay).await;
    let stop = if block["type"] == "tool_use" {
        "tool_use"
    } else {
        "end_turn"
    };
    let id = format!("msg_doctor_{n:06}");
    let usage = json!({"input_tokens": 10, "cache_creation_input_tokens": 0,
                       "cache_read_input_tokens": 0, "output_tokens": 5});
    if !stream {
        let msg = json!({"id": id, "type": "message", "role": "assistant", "model": model,
            "content": [block], "stop_reason": stop, "stop_sequence": null, "usage": usage});
        return respond(s, 200, &[], &msg.to_string()).await;
    }
    let events = stream_events(&id, &model, &block, stop, &usage);
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
         request-id: req_doctor_{n:06}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await?;
    for (event, data) in events {
        let e = format!("event: {event}\ndata: {data}\n\n");
        s.write_all(format!("{:x}\r\n{e}\r\n", e.len()).as_bytes())
            .await?;
        s.flush().await?;
    }
    s.write_all(b"0\r\n\r\n").await?;
    s.flush().await
}

/// The reply to this request and its number: an agent turn (one with tools)
/// takes the next scripted one (a usage limit stays queued), anything else
/// a short text.
fn next_reply(state: &Mutex<State>, body: &Value) -> (Reply, u64) {
    let agent_turn = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let mut st = lock(state);
    st.counter += 1;
    let n = st.counter;
    let reply = if agent_turn {
        st.turns += 1;
        st.tool_results.extend(tool_results(body));
        match st.queue.front() {
            Some(r @ Reply::UsageLimit { .. }) => Some(r.clone()),
            Some(_) => st.queue.pop_front(),
            None => None,
        }
    } else {
        None
    };
    (
        reply.unwrap_or(Reply::Text {
            text: "OK.".into(),
            delay: Duration::ZERO,
        }),
        n,
    )
}

/// An OpenAI-wire request (every one is an agent turn): the next scripted
/// reply, a usage limit staying queued.
fn take_turn(state: &Mutex<State>, body: &Value) -> (Reply, u64) {
    let mut st = lock(state);
    st.counter += 1;
    st.turns += 1;
    let n = st.counter;
    st.tool_results
        .extend(super::openai_wire::tool_outputs(body));
    let reply = match st.queue.front() {
        Some(r @ Reply::UsageLimit { .. }) => Some(r.clone()),
        Some(_) => st.queue.pop_front(),
        None => None,
    };
    let reply = reply.unwrap_or(Reply::Text {
        text: "OK.".into(),
        delay: Duration::ZERO,
    });
    (reply, n)
}

/// HTTP 429 with the subscription's rate-limit headers.
async fn limited(s: &mut TcpStream, reset: u64, n: u64) -> io::Result<()> {
    let err = json!({"type": "error", "error": {"type": "rate_limit_error",
        "message": "This request would exceed your account's rate limit. Please try again later."}});
    let headers = [
        ("request-id", format!("req_doctor_{n:06}")),
        ("anthropic-ratelimit-unified-status", "rejected".into()),
        ("anthropic-ratelimit-unified-reset", reset.to_string()),
        (
            "anthropic-ratelimit-unified-representative-claim",
            "five_hour".into(),
        ),
    ];
    respond(s, 429, &headers, &err.to_string()).await
}

/// The SSE events of a streamed reply of one content block.
fn stream_events(
    id: &str,
    model: &str,
    block: &Value,
    stop: &str,
    usage: &Value,
) -> Vec<(&'static str, Value)> {
    let mut events = vec![(
        "message_start",
        json!({"type": "message_start", "message": {"id": id, "type": "message",
            "role": "assistant", "model": model, "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": usage}}),
    )];
    let (start, delta) = if block["type"] == "tool_use" {
        let mut start = block.clone();
        start["input"] = json!({});
        let partial = block["input"].to_string();
        (
            start,
            json!({"type": "input_json_delta", "partial_json": partial}),
        )
    } else {
        (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": block["text"]}),
        )
    };
    events.push((
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": start}),
    ));
    events.push((
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": delta}),
    ));
    events.push((
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push((
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": 5}}),
    ));
    events.push(("message_stop", json!({"type": "message_stop"})));
    events
}

/// The texts of the `tool_result` blocks in the last user message.
fn tool_results(body: &Value) -> Vec<String> {
    let Some(last) = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
    else {
        return Vec::new();
    };
    let Some(blocks) = last["content"].as_array() else {
        return Vec::new();
    };
    blocks
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| match &b["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(addr: SocketAddr, body: &Value) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let b = body.to_string();
        let req = format!(
            "POST /doctor/v1/messages?beta=true HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
             content-length: {}\r\n\r\n{b}",
            b.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn scripted_turns_stream_and_a_limit_stays() {
        let st = StandIn::start().await.unwrap();
        st.push(Reply::Bash {
            command: "echo hi".into(),
            delay: Duration::ZERO,
        });
        st.push(Reply::UsageLimit {
            reset: 1_900_000_000,
        });
        let turn = json!({"model": "m", "stream": true, "tools": [{"name": "Bash"}],
            "messages": [{"role": "user", "content": "go"}]});
        let r = post(st.addr, &turn).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.contains("event: message_start") && r.contains("input_json_delta"));
        assert!(r.contains(r#"\"command\":\"echo hi\""#), "{r}");
        let side = json!({"model": "m", "messages": [{"role": "user", "content": "title?"}]});
        let r = post(st.addr, &side).await;
        assert!(
            r.contains(r#""text":"OK.""#),
            "side queries leave the script alone: {r}"
        );
        let back = json!({"model": "m", "tools": [{"name": "Bash"}], "messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
             "content": [{"type": "text", "text": "hi"}]}]}]});
        for _ in 0..2 {
            let r = post(st.addr, &back).await;
            assert!(r.starts_with("HTTP/1.1 429"), "{r}");
            assert!(r.contains("anthropic-ratelimit-unified-reset: 1900000000"));
            assert!(r.contains("anthropic-ratelimit-unified-status: rejected"));
        }
        assert_eq!(st.turns(), 3);
        assert_eq!(st.tool_results(), vec!["hi", "hi"]);
    }
}
