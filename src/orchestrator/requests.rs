//! A client's request, as it crossed the socket: each kind to the handler
//! of its concern. The daemon passes requests through untouched (after the
//! name checks at its door); adding a request is a `proto::Request` variant,
//! an arm here, and its handler.

use ractor::{ActorRef, RpcReplyPort};

use super::{OrchMsg, OrchState};
use crate::proto::{Request, Response};

impl OrchState {
    pub(super) async fn request(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        req: Request,
        reply: RpcReplyPort<Response>,
    ) {
        match req {
            Request::Spawn(s) => self.spawn(myself, s, reply).await,
            Request::Ps => self.ps(reply).await,
            Request::Kill { name } => self.kill(myself, name, reply).await,
            Request::Restart { name } => self.restart(myself, name, reply),
            Request::Send {
                name,
                text,
                from,
                wait,
            } => self.send(&name, &text, from.as_deref(), wait, reply),
            // A briefing from `orc up`: orc's own message (the CLI has no
            // flag to send as orc).
            Request::Brief { name, text } => self.send(
                &name,
                &text,
                Some(crate::routing::SYSTEM_SENDER),
                false,
                reply,
            ),
            Request::Report {
                from,
                status,
                details,
            } => self.report(myself, &from, status, &details, reply),
            Request::Messages { agent, status } => self.messages(agent.as_deref(), status, reply),
            Request::Locate { name } => self.locate(&name, reply),
            Request::Logs {
                name,
                transcript: true,
            } => self.transcript(&name, reply),
            Request::Logs { name, .. } => self.logs(&name, reply),
            Request::Rename { name, title } => self.rename(name, title, reply),
            Request::Screen { name } => self.screen(name, reply),
            Request::DebugPanic { name } => self.debug_panic(&name, reply),
            Request::Credits => self.credits(reply),
            Request::Schedule {
                to,
                from,
                note,
                at,
                every,
            } => {
                let spec = crate::scheduler::JobSpec {
                    to,
                    from: from.unwrap_or_else(|| "user".into()),
                    note,
                    at,
                    every,
                    origin: None,
                };
                self.schedule(spec, reply)
            }
            Request::ScheduleList => self.schedule_list(reply),
            Request::ScheduleCancel { id } => self.schedule_cancel(id, reply),
            Request::Hook {
                agent,
                event,
                payload,
            } => self.hook(&agent, event, payload, reply),
            Request::Status { agent, report } => self.status(&agent, report, reply),
            Request::Git { project } => self.git(project, reply),
            // The daemon answers these itself.
            Request::Ping | Request::Stop | Request::Watch => {
                let _ = reply.send(Response::Error {
                    message: "the supervisor answers this request itself".into(),
                });
            }
        }
    }
}
