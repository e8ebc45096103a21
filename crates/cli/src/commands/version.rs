//! `version`: prints the client version, then `GET /version` and the
//! server's `gitVersion`, like kubectl 1.28+.

use crate::GlobalOpts;
use crate::errors::CliError;

/// Arguments of `version`.
#[derive(clap::Args, Debug)]
pub struct VersionArgs {
    /// Only print the client version.
    #[arg(long)]
    pub client: bool,
}

/// Run `version`.
pub async fn run(g: &GlobalOpts, args: VersionArgs) -> Result<i32, CliError> {
    println!("Client Version: v{}", env!("CARGO_PKG_VERSION"));
    if args.client {
        return Ok(0);
    }
    let client = crate::connect(g)?;
    let v = client.get("/version", &[], "application/json, */*", "get version").await?;
    let server = v.get("gitVersion").and_then(serde_json::Value::as_str).unwrap_or("unknown");
    println!("Server Version: {server}");
    Ok(0)
}
