//! The real server (`threadgate serve`, configured by `THREADGATE_*`), built
//! with the test-only fault points, for the tests that kill it: a process
//! of its own, so that killing it is a real `kill -9`.

fn main() -> anyhow::Result<()> {
    let settings = threadgate_server::config::Settings::load(None)?;
    actix_web::rt::System::new().block_on(async {
        let application = threadgate_server::Application::build(&settings)?;
        application.run_until_stopped().await?;
        Ok(())
    })
}
