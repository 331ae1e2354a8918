//! `orc schedule` and `orc credits`: argument checks and tables.

use anyhow::{anyhow, bail};
use chrono::{DateTime, Local, NaiveTime, TimeZone, Utc};

use super::{ago, Ctx};
use crate::proto::{CreditRow, Job, Request, Response};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    pub action: Option<ScheduleCmd>,
    /// `MINUTES NOTE` (fire in that many minutes; decimals allowed), or just
    /// `NOTE` with --at or --every
    #[arg(value_name = "MINUTES NOTE", num_args = 1..=2, allow_negative_numbers = true)]
    pub args: Vec<String>,
    /// The agent it goes to (default: yourself, inside an agent's pane)
    #[arg(long)]
    pub to: Option<String>,
    /// Fire at a clock time today (HH:MM, local) or an RFC 3339 instant
    #[arg(long)]
    pub at: Option<String>,
    /// Fire again every this many minutes
    #[arg(long, allow_negative_numbers = true)]
    pub every: Option<String>,
    /// With --at in the past: fire now instead of refusing
    #[arg(long)]
    pub fire_if_past: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum ScheduleCmd {
    /// List scheduled check-ins
    List {
        #[arg(long)]
        json: bool,
    },
    /// Cancel a scheduled check-in by id
    Cancel { id: String },
}

/// Minutes as the user wrote them, checked: positive, at most 30 days.
pub fn parse_minutes(what: &str, s: &str) -> anyhow::Result<f64> {
    let m: f64 = s
        .trim()
        .parse()
        .map_err(|_| anyhow!("{what} {s:?} is not a number of minutes (e.g. 30 or 0.5)"))?;
    if !m.is_finite() || m <= 0.0 {
        bail!("{what} must be more than 0 minutes; got {s}");
    }
    if m > 43200.0 {
        bail!("{what} {s} is more than 30 days (43200 minutes); schedule something nearer");
    }
    Ok(m)
}

/// `--at`: `HH:MM` (today, local time) or RFC 3339.
pub fn parse_at(s: &str, now: DateTime<Utc>, fire_if_past: bool) -> anyhow::Result<DateTime<Utc>> {
    let at = if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        t.with_timezone(&Utc)
    } else if let Ok(t) = NaiveTime::parse_from_str(s.trim(), "%H:%M") {
        let today = now.with_timezone(&Local).date_naive().and_time(t);
        Local
            .from_local_datetime(&today)
            .earliest()
            .ok_or_else(|| anyhow!("--at {s}: that time does not exist today (a clock change)"))?
            .with_timezone(&Utc)
    } else {
        bail!("--at {s:?} is neither HH:MM nor an RFC 3339 time like 2026-11-25T15:30:00+01:00");
    };
    if at <= now {
        if fire_if_past {
            return Ok(now);
        }
        bail!(
            "--at {s} is in the past ({} ago); give a later time, or add --fire-if-past to fire it now",
            ago(at)
        );
    }
    Ok(at)
}

fn until(t: DateTime<Utc>) -> String {
    crate::client::countdown(t)
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%H:%M:%S").to_string()
}

fn describe(j: &Job) -> String {
    let mut s = format!(
        "{} to {} at {} ({})",
        j.id,
        j.to,
        local(j.due_at()),
        until(j.due_at())
    );
    if let Some(e) = j.every {
        s.push_str(&format!(", every {}", minutes(e)));
    }
    s
}

fn minutes(secs: u64) -> String {
    if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{:.1}m", secs as f64 / 60.0)
    }
}

pub async fn schedule(ctx: &Ctx, a: ScheduleArgs) -> anyhow::Result<()> {
    match a.action {
        Some(ScheduleCmd::List { json }) => {
            let (jobs, notes) = match ctx.request(Request::ScheduleList).await? {
                Response::Jobs { jobs, notes } => (jobs, notes),
                Response::Error { message } => bail!(message),
                other => bail!("unexpected answer: {other:?}"),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
            } else {
                print!("{}", jobs_table(&jobs));
            }
            for n in notes {
                eprintln!("note: {}", crate::shown::visible(&n));
            }
            Ok(())
        }
        Some(ScheduleCmd::Cancel { id }) => {
            match ctx.request(Request::ScheduleCancel { id }).await? {
                Response::Ok { message } => println!("{}", crate::shown::visible(&message)),
                Response::Error { message } => bail!(message),
                other => bail!("unexpected answer: {other:?}"),
            }
            Ok(())
        }
        None => {
            let now = Utc::now();
            let every = a
                .every
                .as_deref()
                .map(|e| parse_minutes("--every", e))
                .transpose()?
                .map(|m| (m * 60.0).round().max(1.0) as u64);
            let (at, note) = match (a.args.as_slice(), &a.at) {
                ([m, note], None) => {
                    let m = parse_minutes("MINUTES", m)?;
                    (now + chrono::Duration::milliseconds((m * 60_000.0) as i64), note.clone())
                }
                ([_, _], Some(_)) => bail!("give either MINUTES or --at, not both"),
                ([note], Some(at)) => (parse_at(at, now, a.fire_if_past)?, note.clone()),
                ([note], None) => match every {
                    Some(e) => (now + chrono::Duration::seconds(e as i64), note.clone()),
                    None => bail!(
                        "say when: `orc schedule MINUTES \"NOTE\"`, `--at HH:MM \"NOTE\"`, or `--every MINUTES \"NOTE\"`"
                    ),
                },
                _ => bail!("usage: orc schedule MINUTES \"NOTE\" [--to AGENT] (see `orc schedule --help`)"),
            };
            if note.trim().is_empty() {
                bail!("the note is empty: say what the check-in should tell the agent");
            }
            let me = std::env::var("ORC_AGENT").ok().filter(|s| !s.is_empty());
            let to = match (a.to, &me) {
                (Some(t), _) => t,
                (None, Some(me)) => me.clone(),
                (None, None) => bail!("say who gets it: --to AGENT (only inside an agent's pane does it default to that agent)"),
            };
            let req = Request::Schedule {
                to,
                from: Some(me.unwrap_or_else(|| "user".into())),
                note,
                at,
                every,
            };
            match ctx.request(req).await? {
                Response::Scheduled { job } => {
                    println!("scheduled {}", crate::shown::one_line(&describe(&job)))
                }
                Response::Error { message } => bail!(message),
                other => bail!("unexpected answer: {other:?}"),
            }
            Ok(())
        }
    }
}

pub fn jobs_table(jobs: &[Job]) -> String {
    if jobs.is_empty() {
        return "(nothing scheduled; `orc schedule MINUTES \"NOTE\" --to AGENT` adds a check-in)\n"
            .into();
    }
    let mut rows = vec![["ID", "TO", "DUE", "EVERY", "FIRED", "FROM", "NOTE"]
        .map(String::from)
        .to_vec()];
    for j in jobs {
        let due = match (&j.deferred_until, &j.deferred_why) {
            (Some(d), Some(w)) if *d > j.next => {
                format!("{} ({}; deferred: {w})", local(*d), until(*d))
            }
            _ => format!("{} ({})", local(j.next), until(j.next)),
        };
        rows.push(vec![
            j.id.clone(),
            j.to.clone(),
            due,
            j.every.map(minutes).unwrap_or_else(|| "-".into()),
            j.fired.to_string(),
            j.from.clone(),
            j.note
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(50)
                .collect(),
        ]);
    }
    super::table(&rows)
}

pub async fn credits(ctx: &Ctx, json: bool) -> anyhow::Result<()> {
    let rows = match ctx.request(Request::Credits).await? {
        Response::Credits { agents } => agents,
        Response::Error { message } => bail!(message),
        other => bail!("unexpected answer: {other:?}"),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", credits_table(&rows));
    }
    Ok(())
}

/// A usage window as a cell: `42% (resets 19:05)`, or `-`.
fn usage_cell(w: Option<crate::proto::UsageWindow>) -> String {
    match w {
        None => "-".into(),
        Some(w) => {
            let at = w.resets_at.map(|t| {
                let l = t.with_timezone(&Local);
                if t - Utc::now() > chrono::Duration::hours(20) {
                    l.format(" (resets %a %H:%M)").to_string()
                } else {
                    l.format(" (resets %H:%M)").to_string()
                }
            });
            format!(
                "{}%{}",
                w.used_percent.round() as i64,
                at.unwrap_or_default()
            )
        }
    }
}

pub fn credits_table(rows: &[CreditRow]) -> String {
    if rows.is_empty() {
        return "(no agents)\n".into();
    }
    let t = |x: Option<DateTime<Utc>>| x.map(local).unwrap_or_else(|| "-".into());
    let mut lines = vec![[
        "NAME",
        "ACCOUNT",
        "STATUS",
        "EXHAUSTED",
        "RESET",
        "NEXT RESUME",
        "TRIES",
        "5H USED",
        "7D USED",
    ]
    .map(String::from)
    .to_vec()];
    for r in rows {
        let status = match r.status {
            crate::proto::CreditStatus::Limited => match r.limited_until {
                Some(u) => format!("limited until {} ({})", local(u), until(u)),
                None => "limited (reset unknown)".into(),
            },
            s => s.as_str().replace('_', " "),
        };
        lines.push(vec![
            r.name.clone(),
            r.account.clone().unwrap_or_else(|| "-".into()),
            status,
            t(r.exhausted_at),
            t(r.reset_at),
            r.next_resume
                .map(|n| format!("{} ({})", local(n), until(n)))
                .unwrap_or_else(|| "-".into()),
            r.tries.to_string(),
            usage_cell(r.five_hour),
            usage_cell(r.seven_day),
        ]);
    }
    let mut out = super::table(&lines);
    for r in rows {
        if let Some(b) = &r.at_risk_because {
            out.push_str(&format!("{}: at risk: {b}\n", r.name));
        }
        if !r.history.is_empty() {
            out.push_str(&format!("{} history:\n", r.name));
            for e in r.history.iter().rev().take(8).rev() {
                let kind = serde_json::to_value(e.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {}  {:<13} {}{}\n",
                    e.at.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S"),
                    kind,
                    e.reset_at
                        .map(|r| format!("reset {} ", local(r)))
                        .unwrap_or_default(),
                    e.detail.clone().unwrap_or_default()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_usage_windows() {
        let row = |five: Option<crate::proto::UsageWindow>| CreditRow {
            name: "dev".into(),
            account: None,
            status: crate::proto::CreditStatus::Ok,
            limited_until: None,
            exhausted_at: None,
            reset_at: None,
            next_resume: None,
            tries: 0,
            at_risk_because: None,
            history: vec![],
            five_hour: five,
            seven_day: None,
            usage_at: None,
        };
        let t = credits_table(&[row(Some(crate::proto::UsageWindow {
            used_percent: 41.6,
            resets_at: Some(Utc::now() + chrono::Duration::hours(2)),
        }))]);
        assert!(t.contains("5H USED") && t.contains("7D USED"), "{t}");
        assert!(t.contains("42% (resets "), "{t}");
        let t = credits_table(&[row(None)]);
        assert!(!t.contains('%'), "{t}");
    }

    #[test]
    fn minutes_are_checked() {
        assert_eq!(parse_minutes("MINUTES", "30").unwrap(), 30.0);
        assert_eq!(parse_minutes("MINUTES", "0.5").unwrap(), 0.5);
        for bad in ["0", "-5", "abc", "NaN", "inf", "43201"] {
            assert!(parse_minutes("MINUTES", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn at_in_the_past_is_refused_or_fires_now() {
        let now = Utc::now();
        let past = (now - chrono::Duration::hours(1)).to_rfc3339();
        let e = parse_at(&past, now, false).unwrap_err().to_string();
        assert!(
            e.contains("in the past") && e.contains("--fire-if-past"),
            "{e}"
        );
        assert_eq!(parse_at(&past, now, true).unwrap(), now);
        let future = (now + chrono::Duration::hours(1)).to_rfc3339();
        assert!(parse_at(&future, now, false).unwrap() > now);
        assert!(parse_at("25:99", now, false).is_err());
        assert!(parse_at("tomorrow", now, false)
            .unwrap_err()
            .to_string()
            .contains("HH:MM"));
    }
}
