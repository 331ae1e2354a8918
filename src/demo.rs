pub async fn run(_keep: bool) -> anyhow::Result<()> { anyhow::bail!("demo not yet") }
