//! `orc top`: a live dashboard. It reads everything from the supervisor's
//! watch stream (`Request::Watch`: a frame after every change), never from
//! tmux; clocks tick locally once a second.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};
use tokio::sync::mpsc;

use crate::client::Ctx;
use crate::ipc;
use crate::proto::{AgentState, MessageRow, PsRow, Request, Response};
use crate::shown::one_line;

enum Input {
    Frame(Box<Response>),
    Key(event::KeyEvent),
    Resize,
    Lost(String),
}

#[derive(Default)]
struct View {
    agents: Vec<PsRow>,
    messages: Vec<MessageRow>,
    notes: Vec<String>,
    selected: usize,
    project: Option<String>,
    screen: String,
    /// Typing a message for the selected agent.
    input: Option<String>,
    status: String,
}

fn state_color(s: AgentState) -> Color {
    match s {
        AgentState::Idle => Color::Green,
        AgentState::Busy | AgentState::Composing => Color::Cyan,
        AgentState::Starting | AgentState::Restarting => Color::Blue,
        AgentState::AwaitingPermission | AgentState::AwaitingChoice => Color::Yellow,
        AgentState::Limited | AgentState::ApiError => Color::Magenta,
        AgentState::AuthFailed | AgentState::Failed | AgentState::Exited => Color::Red,
        AgentState::Unknown => Color::Gray,
    }
}

fn age(t: chrono::DateTime<Utc>) -> String {
    let s = (Utc::now() - t).num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

impl View {
    fn visible(&self) -> Vec<&PsRow> {
        self.agents
            .iter()
            .filter(|a| self.project.is_none() || a.project == self.project)
            .collect()
    }

    fn selected_name(&self) -> Option<String> {
        self.visible().get(self.selected).map(|a| a.name.clone())
    }

    fn projects(&self) -> Vec<Option<String>> {
        let mut p: Vec<Option<String>> = vec![None];
        for a in &self.agents {
            if a.project.is_some() && !p.contains(&a.project) {
                p.push(a.project.clone());
            }
        }
        p
    }

    fn draw(&self, f: &mut ratatui::Frame) {
        let [top, mid, feed, foot] = Layout::vertical([
            Constraint::Percentage(40),
            Constraint::Min(6),
            Constraint::Length(8),
            Constraint::Length(1),
        ])
        .areas(f.area());
        let mut ts = TableState::default();
        ts.select(Some(self.selected));
        f.render_stateful_widget(self.table(), top, &mut ts);

        let name = self.selected_name().unwrap_or_default();
        // The bottom of the agent's screen: where the prompt and the work are.
        let screen = crate::shown::visible(&self.screen);
        let lines: Vec<&str> = screen.lines().collect();
        let room = mid.height.saturating_sub(2) as usize;
        let start = lines.len().saturating_sub(room);
        f.render_widget(
            Paragraph::new(lines[start..].join("\n"))
                .block(Block::bordered().title(format!(" screen: {name} "))),
            mid,
        );
        f.render_widget(
            Paragraph::new(self.feed_lines())
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(" messages ")),
            feed,
        );
        let foot_text = match &self.input {
            Some(t) => format!("message to {name}: {t}_   (Enter sends, Esc cancels)"),
            None if !self.status.is_empty() => self.status.clone(),
            None => "↑/↓ select  a attach  s send  r restart  p project  q quit".into(),
        };
        f.render_widget(Paragraph::new(foot_text), foot);
    }

    /// The agents' table, one row each.
    fn table(&self) -> Table<'static> {
        let header = Row::new(
            [
                "AGENT", "ROLE", "STATE", "FOR", "LIMIT", "Q", "CTX", "COMMIT", "REPORT",
            ]
            .map(Cell::from),
        )
        .style(Style::new().add_modifier(Modifier::BOLD));
        let rows: Vec<Row> = self.visible().iter().map(|a| agent_row(a)).collect();
        let title = format!(
            " orc top: {} agents{} ",
            self.visible().len(),
            self.project
                .as_ref()
                .map(|p| format!(" in {}", one_line(p)))
                .unwrap_or_default()
        );
        Table::new(
            rows,
            [
                Constraint::Length(22),
                Constraint::Length(16),
                Constraint::Length(19),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(3),
                Constraint::Length(4),
                Constraint::Length(10),
                Constraint::Min(10),
            ],
        )
        .header(header)
        .block(Block::bordered().title(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    }

    /// The last messages, then the supervisor's notes.
    fn feed_lines(&self) -> Vec<Line<'_>> {
        self.messages
            .iter()
            .rev()
            .take(6)
            .rev()
            .map(|m| {
                Line::from(vec![
                    Span::styled(
                        format!("{} ", m.created.format("%H:%M:%S")),
                        Style::new().fg(Color::DarkGray),
                    ),
                    Span::raw(format!("{} -> {} ", one_line(&m.from), one_line(&m.to))),
                    Span::styled(
                        format!("[{:?}] ", m.status).to_lowercase(),
                        Style::new().fg(Color::Yellow),
                    ),
                    Span::raw(one_line(&m.preview).into_owned()),
                ])
            })
            .chain(
                self.notes
                    .iter()
                    .map(|n| Line::from(format!("note: {}", one_line(n)))),
            )
            .collect()
    }
}

/// One agent's row of the table.
fn agent_row(a: &PsRow) -> Row<'static> {
    let limit = match a.limited_until {
        Some(u) if u > Utc::now() => {
            let s = (u - Utc::now()).num_seconds();
            format!("{}m{:02}s", s / 60, s % 60)
        }
        Some(_) => "due".into(),
        None => "-".into(),
    };
    Row::new(vec![
        Cell::from(one_line(&a.name).into_owned()),
        Cell::from(one_line(a.role.as_deref().unwrap_or("-")).into_owned()),
        Cell::from(a.state.as_str()).style(Style::new().fg(state_color(a.state))),
        Cell::from(age(a.since)),
        Cell::from(limit),
        Cell::from(a.queue.to_string()),
        Cell::from(
            a.context_left
                .map(|c| format!("{c}%"))
                .unwrap_or_else(|| "-".into()),
        ),
        Cell::from(match (a.last_commit, a.uncommitted) {
            (Some(t), Some(n)) if n > 0 => format!("{} +{n}", age(t)),
            (Some(t), _) => age(t),
            (None, Some(_)) => "never".into(),
            (None, None) => "-".into(),
        }),
        Cell::from(
            a.report
                .as_ref()
                .map(|r| format!("{} {}", r.status.as_str(), one_line(&r.details)))
                .or_else(|| a.note.clone())
                .unwrap_or_default(),
        ),
    ])
}

static PAUSED: std::sync::OnceLock<std::sync::atomic::AtomicBool> = std::sync::OnceLock::new();

fn pause_keys(on: bool) {
    if let Some(p) = PAUSED.get() {
        p.store(on, std::sync::atomic::Ordering::SeqCst);
    }
    if on {
        // Let a poll under way run out.
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// Run the dashboard until `q`.
pub async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!("`orc top` needs a terminal (its input and output are not one); in a script use `orc ps --json` and `orc messages --json`");
    }
    // Fail before touching the terminal when no supervisor runs.
    let stream = ipc::subscribe(&ctx.paths.socket(), &Request::Watch).await?;
    let (tx, mut rx) = mpsc::channel::<Input>(64);
    let frames = tx.clone();
    tokio::spawn(async move {
        let mut stream = stream;
        loop {
            match ipc::read_frame::<_, Response>(&mut stream).await {
                Ok(r) => {
                    if frames.send(Input::Frame(Box::new(r))).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = frames.send(Input::Lost(e.to_string())).await;
                    return;
                }
            }
        }
    });
    let keys = tx.clone();
    let paused = PAUSED.get_or_init(|| std::sync::atomic::AtomicBool::new(false));
    std::thread::spawn(move || loop {
        // While another program has the terminal (attach), leave its input
        // alone: no reads, so nothing is stolen from it or from crossterm's
        // own cursor queries.
        if paused.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        match event::poll(Duration::from_millis(100)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        match event::read() {
            Ok(Event::Key(k)) if k.kind == KeyEventKind::Press => {
                if keys.blocking_send(Input::Key(k)).is_err() {
                    return;
                }
            }
            Ok(Event::Resize(..)) => {
                let _ = keys.blocking_send(Input::Resize);
            }
            Ok(_) => {}
            Err(_) => return,
        }
    });
    let mut terminal = ratatui::init();
    let result = event_loop(ctx, &mut terminal, &mut rx).await;
    ratatui::restore();
    result
}

async fn event_loop(
    ctx: &Ctx,
    terminal: &mut ratatui::DefaultTerminal,
    rx: &mut mpsc::Receiver<Input>,
) -> anyhow::Result<()> {
    let mut v = View::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        terminal.draw(|f| v.draw(f)).context("drawing")?;
        tokio::select! {
            _ = tick.tick() => refresh_screen(ctx, &mut v).await,
            input = rx.recv() => match input {
                None => return Ok(()),
                Some(Input::Lost(e)) => anyhow::bail!("lost the supervisor: {e}"),
                Some(Input::Resize) => {}
                Some(Input::Frame(r)) => {
                    if let Response::Watch { agents, notes, messages } = *r {
                        v.agents = agents;
                        v.notes = notes;
                        v.messages = messages;
                        let n = v.visible().len();
                        if v.selected >= n {
                            v.selected = n.saturating_sub(1);
                        }
                        refresh_screen(ctx, &mut v).await;
                    }
                }
                Some(Input::Key(k)) => {
                    if !on_key(ctx, terminal, &mut v, k).await? {
                        return Ok(());
                    }
                    refresh_screen(ctx, &mut v).await;
                }
            }
        }
    }
}

async fn refresh_screen(ctx: &Ctx, v: &mut View) {
    let Some(name) = v.selected_name() else {
        v.screen.clear();
        return;
    };
    if let Ok(Response::Screen { text, .. }) = ctx.request(Request::Screen { name }).await {
        v.screen = text;
    }
}

/// Returns false to quit.
async fn on_key(
    ctx: &Ctx,
    terminal: &mut ratatui::DefaultTerminal,
    v: &mut View,
    k: event::KeyEvent,
) -> anyhow::Result<bool> {
    if v.input.is_some() {
        typing_key(ctx, v, k).await;
        return Ok(true);
    }
    v.status.clear();
    match k.code {
        KeyCode::Char('q') | KeyCode::Esc => return Ok(false),
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => return Ok(false),
        KeyCode::Down | KeyCode::Char('j') if v.selected + 1 < v.visible().len() => {
            v.selected += 1;
        }
        KeyCode::Up | KeyCode::Char('k') => v.selected = v.selected.saturating_sub(1),
        KeyCode::Char('s') if v.selected_name().is_some() => {
            v.input = Some(String::new());
        }
        KeyCode::Char('p') => {
            let ps = v.projects();
            let i = ps.iter().position(|p| *p == v.project).unwrap_or(0);
            v.project = ps[(i + 1) % ps.len()].clone();
            v.selected = 0;
        }
        KeyCode::Char('r') => restart(ctx, v).await,
        KeyCode::Char('a') => attach(terminal, v)?,
        _ => {}
    }
    Ok(true)
}

/// A key while typing a message: Enter sends it, Esc drops it.
async fn typing_key(ctx: &Ctx, v: &mut View, k: event::KeyEvent) {
    let Some(text) = v.input.as_mut() else {
        return;
    };
    match k.code {
        KeyCode::Esc => v.input = None,
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Enter => {
            let text = v.input.take().unwrap_or_default();
            if let (Some(name), false) = (v.selected_name(), text.trim().is_empty()) {
                v.status = match ctx
                    .request(Request::Send {
                        name: name.clone(),
                        text,
                        from: Some("user".into()),
                        wait: false,
                    })
                    .await
                {
                    Ok(Response::Queued { id }) => format!("queued {id} for {name}"),
                    Ok(Response::Error { message }) => message,
                    Ok(other) => format!("{other:?}"),
                    Err(e) => e.to_string(),
                };
            }
        }
        KeyCode::Char(c) => text.push(c),
        _ => {}
    }
}

/// `r`: restart the selected agent.
async fn restart(ctx: &Ctx, v: &mut View) {
    if let Some(name) = v.selected_name() {
        v.status = match ctx.request(Request::Restart { name: name.clone() }).await {
            Ok(Response::Ok { message }) => message,
            Ok(Response::Error { message }) => message,
            Ok(other) => format!("{other:?}"),
            Err(e) => e.to_string(),
        };
    }
}

/// `a`: attach to the selected agent's window, then take the terminal back.
fn attach(terminal: &mut ratatui::DefaultTerminal, v: &mut View) -> anyhow::Result<()> {
    if let Some(name) = v.selected_name() {
        // Hand the terminal to tmux until the user detaches.
        pause_keys(true);
        ratatui::restore();
        let me = std::env::current_exe()?;
        let st = std::process::Command::new(me)
            .args(["attach", &name])
            .status();
        *terminal = ratatui::init();
        let cleared = terminal.clear();
        pause_keys(false);
        cleared?;
        v.status = match st {
            Ok(s) if s.success() => format!("back from {name}"),
            Ok(s) => format!("attach to {name} ended with {s}"),
            Err(e) => format!("cannot attach: {e}"),
        };
    }
    Ok(())
}
