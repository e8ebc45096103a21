//! `docker import --change` instructions applied to an image config.
//!
//! Each change is one Dockerfile instruction, written either `INSTR args` or
//! `INSTR=args` (the CLI passes `--change 'ENV=A=B'`). Supported, with
//! Dockerfile semantics:
//!
//! | instruction | forms |
//! |---|---|
//! | `ENV` | `K=V ...` (quotes allowed), legacy `K V` |
//! | `LABEL` | `k=v ...`, legacy `k v` |
//! | `CMD`, `ENTRYPOINT` | exec form `["a","b"]`, shell form `echo hi` → `["/bin/sh","-c","echo hi"]` |
//! | `WORKDIR` | absolute, or relative to the previous `WORKDIR` |
//! | `USER` | `user[:group]` |
//! | `EXPOSE` | `80`, `80/udp`, `8000-8002/tcp` (ranges are expanded) |
//! | `STOPSIGNAL` | `SIGTERM`, `TERM`, `15`, `SIGRTMIN+3` |
//! | `VOLUME` | `["/a","/b"]` or `/a /b` |
//!
//! Variable expansion (`$VAR`) is not performed; values are stored as written.

use std::collections::BTreeSet;

use crate::error::ImageError;
use crate::image::ImageConfig;

const SUPPORTED: &str = "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR";

/// Apply `changes` in order to `config`.
pub fn apply_changes(config: &mut ImageConfig, changes: &[String]) -> Result<(), ImageError> {
    for change in changes {
        apply_change(config, change).map_err(|reason| ImageError::InvalidChange { change: change.clone(), reason })?;
    }
    Ok(())
}

fn apply_change(config: &mut ImageConfig, change: &str) -> Result<(), String> {
    let (instr, args) = split_instruction(change)?;
    if args.is_empty() {
        return Err(format!("{instr} requires at least one argument"));
    }
    match instr.as_str() {
        "ENV" => {
            for (k, v) in key_values(&instr, args)? {
                config.set_env(&k, &v);
            }
        }
        "LABEL" => config.labels.extend(key_values(&instr, args)?),
        "CMD" => config.cmd = Some(command(args)),
        "ENTRYPOINT" => config.entrypoint = Some(command(args)),
        "WORKDIR" => {
            let base = config.working_dir.as_deref().unwrap_or("/");
            config.working_dir =
                Some(if args.starts_with('/') { clean_path(args) } else { clean_path(&format!("{base}/{args}")) });
        }
        "USER" => config.user = Some(single_word(&instr, args)?),
        "STOPSIGNAL" => {
            let sig = single_word(&instr, args)?;
            if !valid_signal(&sig) {
                return Err(format!("invalid signal {sig:?}"));
            }
            config.stop_signal = Some(sig);
        }
        "EXPOSE" => {
            let mut ports: BTreeSet<String> = config.exposed_ports.drain(..).collect();
            for word in split_words(args)? {
                ports.extend(expose_ports(&word)?);
            }
            config.exposed_ports = ports.into_iter().collect();
        }
        "VOLUME" => {
            let mut volumes: BTreeSet<String> = config.volumes.drain(..).collect();
            for path in json_array(args).map_or_else(|| split_words(args), Ok)? {
                if path.trim().is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                volumes.insert(path);
            }
            config.volumes = volumes.into_iter().collect();
        }
        _ => {
            return Err(format!("unknown instruction {instr}; supported: {SUPPORTED}"));
        }
    }
    Ok(())
}

/// Split `INSTR args` / `INSTR=args` into the upper-cased instruction and
/// its trimmed arguments.
fn split_instruction(change: &str) -> Result<(String, &str), String> {
    let s = change.trim();
    let end = s.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (name, rest) = s.split_at(end);
    if name.is_empty() {
        return Err(format!("expected a Dockerfile instruction ({SUPPORTED}) at the start"));
    }
    let name = name.to_ascii_uppercase();
    let args = match rest.strip_prefix('=') {
        Some(args) => args,
        None if rest.is_empty() || rest.starts_with(char::is_whitespace) => rest,
        None => return Err(format!("expected a space or '=' after {name}")),
    };
    Ok((name, args.trim()))
}

/// `K=V K2="v 2"` pairs, or the legacy single `K V` form.
fn key_values(instr: &str, args: &str) -> Result<Vec<(String, String)>, String> {
    let words = split_words(args)?;
    if !words[0].contains('=') {
        // Legacy form: the first word is the key, the rest of the line the
        // value, verbatim.
        let (key, value) = args.split_once(char::is_whitespace).map(|(k, v)| (k, v.trim())).unwrap_or((args, ""));
        if value.is_empty() {
            return Err(format!("{instr} must have two arguments"));
        }
        return Ok(vec![(key.to_string(), value.to_string())]);
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            Some(_) => Err(format!("{instr} names can not be blank")),
            None => Err(format!("syntax error - can't find = in {word:?}; must be of the form: name=value")),
        })
        .collect()
}

/// Exec form if `args` is a JSON string array, else shell form.
fn command(args: &str) -> Vec<String> {
    json_array(args).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), args.into()])
}

/// `["a","b"]` as strings; `None` when `args` is not a JSON string array
/// (Docker then falls back to the shell form).
fn json_array(args: &str) -> Option<Vec<String>> {
    args.starts_with('[').then(|| serde_json::from_str(args).ok()).flatten()
}

fn single_word(instr: &str, args: &str) -> Result<String, String> {
    match split_words(args)?.as_slice() {
        [word] if !word.is_empty() => Ok(word.clone()),
        _ => Err(format!("{instr} requires exactly one argument")),
    }
}

/// Split on unquoted whitespace, removing quotes: `"..."` (where `\` escapes
/// `"`, `\` and `$`), `'...'` (literal), and `\x` outside quotes.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unmatched single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$')) => word.push(e),
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err("unmatched double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unmatched double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// `80`, `80/udp`, `8000-8002/tcp` → `["80/tcp"]`, ...
fn expose_ports(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid protocol {proto:?} in {spec:?}"));
    }
    let port =
        |p: &str| p.parse::<u16>().ok().filter(|&n| n > 0).ok_or_else(|| format!("invalid port {p:?} in {spec:?}"));
    let (lo, hi) = match ports.split_once('-') {
        Some((lo, hi)) => (port(lo)?, port(hi)?),
        None => (port(ports)?, port(ports)?),
    };
    if lo > hi {
        return Err(format!("invalid port range {ports:?}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// Docker's signal syntax: a number 1–64 or a name, `SIG` optional.
fn valid_signal(sig: &str) -> bool {
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
        "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED",
        "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
    ];
    if let Ok(n) = sig.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let upper = sig.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let offset_ok = |rest: &str, max: u32| rest.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n));
    NAMES.contains(&name)
        || name.strip_prefix("RTMIN+").is_some_and(|r| offset_ok(r, 15))
        || name.strip_prefix("RTMAX-").is_some_and(|r| offset_ok(r, 14))
}

/// Lexically clean an absolute path (`//a/./b/../c` → `/a/c`).
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::DEFAULT_PATH_ENV;

    fn apply(changes: &[&str]) -> Result<ImageConfig, ImageError> {
        let mut c = ImageConfig { env: vec![DEFAULT_PATH_ENV.into()], ..Default::default() };
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &changes).map(|()| c)
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn change_table() {
        type Check = fn(&ImageConfig) -> bool;
        let cases: &[(&str, &[&str], Check)] = &[
            ("env k=v", &["ENV A=B"], |c| c.env[1] == "A=B"),
            ("env with '=' form", &["ENV=A=B"], |c| c.env[1] == "A=B"),
            ("env legacy", &["ENV A hello world"], |c| c.env[1] == "A=hello world"),
            ("env lower-case instr", &["env A=1"], |c| c.env[1] == "A=1"),
            ("env several quoted", &[r#"ENV A="x y" B='z' C=a\ b"#], |c| {
                c.env[1..] == strs(&["A=x y", "B=z", "C=a b"])
            }),
            ("env empty value", &["ENV A="], |c| c.env[1] == "A="),
            ("env overrides PATH", &["ENV PATH=/x"], |c| c.env == strs(&["PATH=/x"])),
            ("env later wins", &["ENV A=1", "ENV A=2"], |c| c.env[1..] == strs(&["A=2"])),
            ("cmd exec", &[r#"CMD ["a","b c"]"#], |c| c.cmd == Some(strs(&["a", "b c"]))),
            ("cmd shell", &["CMD echo hi"], |c| c.cmd == Some(strs(&["/bin/sh", "-c", "echo hi"]))),
            ("cmd bad json falls back to shell", &["CMD [oops"], |c| c.cmd == Some(strs(&["/bin/sh", "-c", "[oops"]))),
            ("cmd empty exec", &["CMD []"], |c| c.cmd == Some(vec![])),
            ("entrypoint exec", &[r#"ENTRYPOINT=["/bin/sh"]"#], |c| c.entrypoint == Some(strs(&["/bin/sh"]))),
            ("entrypoint shell", &["ENTRYPOINT top -b"], |c| c.entrypoint == Some(strs(&["/bin/sh", "-c", "top -b"]))),
            ("workdir abs", &["WORKDIR /srv//app/"], |c| c.working_dir.as_deref() == Some("/srv/app")),
            ("workdir relative", &["WORKDIR /a", "WORKDIR b/../c"], |c| c.working_dir.as_deref() == Some("/a/c")),
            ("user", &["USER 1000:1000"], |c| c.user.as_deref() == Some("1000:1000")),
            ("label", &["LABEL a=b \"c d\"=e"], |c| {
                c.labels.get("a").map(String::as_str) == Some("b")
                    && c.labels.get("c d").map(String::as_str) == Some("e")
            }),
            ("label legacy", &["LABEL maintainer me <me@x>"], |c| c.labels["maintainer"] == "me <me@x>"),
            ("expose", &["EXPOSE 80 53/UDP", "EXPOSE 8000-8001/tcp 80"], |c| {
                c.exposed_ports == strs(&["53/udp", "80/tcp", "8000/tcp", "8001/tcp"])
            }),
            ("stopsignal", &["STOPSIGNAL SIGTERM"], |c| c.stop_signal.as_deref() == Some("SIGTERM")),
            ("stopsignal number/rt", &["STOPSIGNAL 9", "STOPSIGNAL SIGRTMIN+3"], |c| {
                c.stop_signal.as_deref() == Some("SIGRTMIN+3")
            }),
            ("volume words", &["VOLUME /a /b", "VOLUME [\"/c\"]"], |c| c.volumes == strs(&["/a", "/b", "/c"])),
            ("no changes keeps PATH", &[], |c| c.env == strs(&[DEFAULT_PATH_ENV])),
        ];
        for (name, changes, check) in cases {
            let c = apply(changes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(check(&c), "{name}: got {c:?}");
        }
    }

    #[test]
    fn rejection_table() {
        let cases: &[(&str, &str)] = &[
            ("FROM busybox", "unknown instruction FROM"),
            ("ONBUILD RUN x", "unknown instruction ONBUILD"),
            ("RUN echo", "unknown instruction RUN"),
            ("= x", "expected a Dockerfile instruction"),
            ("ENV", "ENV requires at least one argument"),
            ("ENV   ", "ENV requires at least one argument"),
            ("ENV A", "ENV must have two arguments"),
            ("ENV =B", "names can not be blank"),
            ("ENV A=1 B", "can't find = in \"B\""),
            ("ENV A=\"x", "unmatched double quote"),
            ("ENV1 A=B", "expected a space or '=' after ENV"),
            ("USER a b", "USER requires exactly one argument"),
            ("EXPOSE 0", "invalid port"),
            ("EXPOSE 70000", "invalid port"),
            ("EXPOSE 80/icmp", "invalid protocol"),
            ("EXPOSE 90-80", "invalid port range"),
            ("STOPSIGNAL SIGFOO", "invalid signal"),
            ("STOPSIGNAL 99", "invalid signal"),
            ("VOLUME [\"\"]", "can not be an empty string"),
        ];
        for (change, want) in cases {
            match apply(&[change]) {
                Err(ImageError::InvalidChange { change: c, reason }) => {
                    assert_eq!(c, *change);
                    assert!(reason.contains(want), "{change:?}: {reason:?} lacks {want:?}");
                }
                other => panic!("{change:?}: expected InvalidChange, got {other:?}"),
            }
        }
    }

    #[test]
    fn error_message_names_the_change() {
        let err = apply(&["FROB x"]).unwrap_err();
        assert!(err.to_string().starts_with("invalid change \"FROB x\": unknown instruction FROB"));
    }
}
