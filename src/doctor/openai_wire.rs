//! The OpenAI wire of the doctor's stand-in, for Aider (chat completions)
//! and Codex (the Responses API): a scripted text, streamed as SSE when the
//! request asks for a stream, or a usage limit (HTTP 429 with Codex's
//! rate-limit headers). Enough for `orc doctor --live` to walk startup, a
//! turn and a limit offline; the full test stand-in is
//! `tests/support/openai_stand_in.rs`.

use std::io;
use std::time::SystemTime;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::stand_in::{respond, Reply};

/// A request that is an agent turn on the OpenAI wire.
pub(super) fn is_turn(path: &str) -> bool {
    path.ends_with("/chat/completions") || path.ends_with("/responses")
}

/// The outputs of tool calls a Responses request carries back.
pub(super) fn tool_outputs(body: &Value) -> Vec<String> {
    body["input"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i["type"] == "function_call_output")
                .filter_map(|i| i["output"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) async fn answer(
    s: &mut TcpStream,
    path: &str,
    body: &Value,
    reply: Reply,
    n: u64,
) -> io::Result<()> {
    let chat = path.ends_with("/chat/completions");
    let (text, delay) = match reply {
        Reply::UsageLimit { reset } => return limited(s, reset).await,
        Reply::Text { text, delay } => (text, delay),
        // No tool step is scripted for these CLIs; say so if one is.
        Reply::Bash { delay, .. } => ("orc doctor: no tool call on this wire.".into(), delay),
    };
    tokio::time::sleep(delay).await;
    let model = body["model"].as_str().unwrap_or("stand-in").to_string();
    let id = format!("doctor_{n:06}");
    if body["stream"].as_bool() != Some(true) {
        let v = if chat {
            json!({"id": id, "object": "chat.completion", "created": now(), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
        } else {
            response(&id, &model, &text, "completed")
        };
        return respond(s, 200, &[], &v.to_string()).await;
    }
    let events = if chat {
        chat_events(&id, &model, &text)
    } else {
        responses_events(&id, &model, &text)
    };
    s.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    )
    .await?;
    for e in events {
        s.write_all(e.as_bytes()).await?;
        s.flush().await?;
    }
    // The stream ends with the connection.
    s.shutdown().await
}

/// 429 as OpenAI words a rate limit (the wording the recordings have), with the usage headers Codex reads
/// (`x-codex-primary-*`: 100% of a five-hour window, reset at `reset`).
async fn limited(s: &mut TcpStream, reset: u64) -> io::Result<()> {
    let err = json!({"error": {"message": "Rate limit reached for requests. Please try again later.",
        "type": "rate_limit_exceeded", "param": null, "code": "rate_limit_exceeded"}});
    let headers = [
        ("x-codex-primary-used-percent", "100".to_string()),
        ("x-codex-primary-window-minutes", "300".to_string()),
        ("x-codex-primary-reset-at", reset.to_string()),
    ];
    respond(s, 429, &headers, &err.to_string()).await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Word-sized pieces of a text, each keeping the whitespace after it.
fn pieces(text: &str) -> Vec<&str> {
    text.split_inclusive(char::is_whitespace).collect()
}

fn chat_events(id: &str, model: &str, text: &str) -> Vec<String> {
    let created = now();
    let chunk = |delta: Value, finish: Value| {
        let v = json!({"id": id, "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {v}\n\n")
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    out.extend(
        pieces(text)
            .into_iter()
            .map(|p| chunk(json!({"content": p}), Value::Null)),
    );
    out.push(chunk(json!({}), json!("stop")));
    out.push("data: [DONE]\n\n".into());
    out
}

fn response(id: &str, model: &str, text: &str, status: &str) -> Value {
    json!({"id": format!("resp_{id}"), "object": "response", "created_at": now(),
        "status": status, "model": model,
        "output": [{"type": "message", "id": format!("msg_{id}"), "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}],
        "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": 15}})
}

fn responses_events(id: &str, model: &str, text: &str) -> Vec<String> {
    let ev = |v: Value| format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or(""));
    let item = format!("msg_{id}");
    let mut started = response(id, model, "", "in_progress");
    started["output"] = json!([]);
    let mut out = vec![
        ev(json!({"type": "response.created", "response": started})),
        ev(
            json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"type": "message", "id": item, "status": "in_progress",
                     "role": "assistant", "content": []}}),
        ),
        ev(
            json!({"type": "response.content_part.added", "item_id": item, "output_index": 0,
            "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
    ];
    out.extend(pieces(text).into_iter().map(|p| {
        ev(
            json!({"type": "response.output_text.delta", "item_id": item,
            "output_index": 0, "content_index": 0, "delta": p}),
        )
    }));
    out.push(ev(
        json!({"type": "response.output_item.done", "output_index": 0,
        "item": {"type": "message", "id": item, "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": text, "annotations": []}]}}),
    ));
    out.push(ev(json!({"type": "response.completed",
        "response": response(id, model, text, "completed")})));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_chat_reply_carries_the_text_in_order_and_ends_with_done() {
        let ev = chat_events("x", "m", "one two three");
        let text: String = ev
            .iter()
            .filter_map(|e| e.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        assert_eq!(text, "one two three");
        assert_eq!(ev.last().unwrap(), "data: [DONE]\n\n");
    }

    #[test]
    fn a_streamed_response_completes_with_the_whole_text() {
        let ev = responses_events("x", "m", "hello there");
        let last = ev.last().unwrap();
        assert!(last.starts_with("event: response.completed\n"), "{last}");
        let data: Value =
            serde_json::from_str(last.split_once("data: ").unwrap().1.trim()).unwrap();
        assert_eq!(
            data["response"]["output"][0]["content"][0]["text"],
            "hello there"
        );
    }

    #[test]
    fn tool_outputs_are_read_from_a_responses_request() {
        let body = json!({"input": [
            {"type": "message", "role": "user", "content": []},
            {"type": "function_call_output", "call_id": "c", "output": "ran"}
        ]});
        assert_eq!(tool_outputs(&body), vec!["ran".to_string()]);
        assert!(is_turn("/doctor/v1/responses") && is_turn("/v1/chat/completions"));
        assert!(!is_turn("/v1/models"));
    }
}
