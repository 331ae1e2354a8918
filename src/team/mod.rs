//! Teams: role briefings, team templates and project detection, per-agent
//! git worktrees, and the `orc up` / `orc resume` / `orc down` flows.

pub mod detect;
pub mod roles;
pub mod up;
pub mod worktree;
