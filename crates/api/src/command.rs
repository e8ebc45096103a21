//! Which argv a container runs, from the pod's `command`/`args` and the
//! image's `Entrypoint`/`Cmd` (the containerd CRI rule that Kubernetes
//! documents):
//!
//! | pod gives      | argv                     |
//! |----------------|--------------------------|
//! | neither        | Entrypoint + Cmd         |
//! | `command` only | command                  |
//! | `args` only    | Entrypoint + args        |
//! | both           | command + args           |
//!
//! An image `Entrypoint` of `[""]` counts as none. `$(VAR)` expansion is a
//! separate step (see [`crate::expand`]), done by the node before this.

/// The argv to run. Empty when nothing is specified anywhere (the runtime
/// then fails with "no command specified").
pub fn resolve_command(
    image_entrypoint: Option<&[String]>,
    image_cmd: Option<&[String]>,
    command: &[String],
    args: &[String],
) -> Vec<String> {
    if !command.is_empty() {
        return command.iter().chain(args).cloned().collect();
    }
    let entrypoint: &[String] = match image_entrypoint {
        Some([only]) if only.is_empty() => &[],
        Some(e) => e,
        None => &[],
    };
    let tail: &[String] = if args.is_empty() { image_cmd.unwrap_or(&[]) } else { args };
    entrypoint.iter().chain(tail).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_table() {
        let ep = v(&["/docker-entrypoint.sh"]);
        let cmd = v(&["nginx", "-g", "daemon off;"]);
        type Case<'a> = (&'a str, Option<&'a [String]>, Option<&'a [String]>, Vec<String>, Vec<String>, Vec<String>);
        let empty_ep = v(&[""]);
        let cases: Vec<Case> = vec![
            (
                "neither",
                Some(&ep),
                Some(&cmd),
                v(&[]),
                v(&[]),
                v(&["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]),
            ),
            ("command only", Some(&ep), Some(&cmd), v(&["sleep", "10"]), v(&[]), v(&["sleep", "10"])),
            ("args only", Some(&ep), Some(&cmd), v(&[]), v(&["-v"]), v(&["/docker-entrypoint.sh", "-v"])),
            ("both", Some(&ep), Some(&cmd), v(&["sh", "-c"]), v(&["echo hi"]), v(&["sh", "-c", "echo hi"])),
            ("no entrypoint, cmd only", None, Some(&cmd), v(&[]), v(&[]), v(&["nginx", "-g", "daemon off;"])),
            ("no entrypoint, args replace cmd", None, Some(&cmd), v(&[]), v(&["ls"]), v(&["ls"])),
            (
                "empty-string entrypoint is none",
                Some(&empty_ep),
                Some(&cmd),
                v(&[]),
                v(&[]),
                v(&["nginx", "-g", "daemon off;"]),
            ),
            ("nothing at all", None, None, v(&[]), v(&[]), v(&[])),
        ];
        for (name, e, c, command, args, want) in cases {
            assert_eq!(resolve_command(e, c, &command, &args), want, "{name}");
        }
    }
}
