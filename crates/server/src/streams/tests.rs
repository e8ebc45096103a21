use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::*;

fn pod() -> Value {
    json!({
        "metadata": {"name": "web", "uid": "u1"},
        "spec": {"containers": [{"name": "main"}, {"name": "side"}], "initContainers": [{"name": "init"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "main", "containerID": "runc://abc", "state": {"running": {}}},
            {"name": "side", "containerID": "runc://def", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
        ]},
    })
}

#[test]
fn resolves_containers_like_the_apiserver() {
    let p = pod();
    assert_eq!(resolve_container(&p, "web", Some("main"), "exec into").unwrap(), ("main".into(), "abc".into()));
    let e = resolve_container(&p, "web", Some("nosuch"), "exec into").unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (400, "container nosuch is not valid for pod web"));
    let e = resolve_container(&p, "web", None, "exec into").unwrap_err();
    assert!(e.message.contains("choose one of: [main side]"), "{}", e.message);
    let e = resolve_container(&p, "web", Some("side"), "exec into").unwrap_err();
    assert!(e.message.contains("not running"), "{}", e.message);
    let mut done = pod();
    done["status"]["phase"] = json!("Succeeded");
    assert!(
        resolve_container(&done, "web", Some("main"), "attach to")
            .unwrap_err()
            .message
            .contains("cannot attach to a container in a completed pod")
    );
    let mut single = pod();
    single["spec"]["containers"] = json!([{"name": "main"}]);
    assert_eq!(resolve_container(&single, "web", None, "exec into").unwrap().0, "main");
}

#[test]
fn exit_statuses_carry_the_code() {
    let cmd = vec!["sh".to_string(), "-c".into(), "exit 3".into()];
    assert_eq!(exit_status(&Ending::Exited(0), &cmd), json!({"metadata": {}, "status": "Success"}));
    let s = exit_status(&Ending::Exited(3), &cmd);
    assert_eq!(s["reason"], "NonZeroExitCode");
    assert_eq!(s["details"]["causes"][0], json!({"reason": "ExitCode", "message": "3"}));
    assert_eq!(
        s["message"],
        "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
    );
    assert_eq!(status_text(&s).unwrap(), s["message"].as_str().unwrap());
    assert_eq!(status_text(&exit_status(&Ending::Exited(0), &cmd)), None);
    let s = exit_status(&Ending::Failed(StreamError::Internal("exec: not found".into())), &cmd);
    assert_eq!((s["reason"].as_str(), s["code"].as_u64()), (Some("InternalError"), Some(500)));
    assert_eq!(s["message"], "Internal error occurred: exec: not found");
}

#[test]
fn parses_resize_messages() {
    let got = parse_resizes(b"{\"Width\":120,\"Height\":40}\n{\"Width\":80,\"Height\":24}\n");
    assert_eq!(got, vec![TerminalSize { width: 120, height: 40 }, TerminalSize { width: 80, height: 24 }]);
    assert!(parse_resizes(b"garbage").is_empty());
}

#[test]
fn stream_options_follow_the_kubelet() {
    let o = StreamOptions::from_query(&Query::parse(Some("stdin=true&stdout=true&stderr=true&tty=true"))).unwrap();
    assert_eq!(o, StreamOptions { stdin: true, stdout: true, stderr: false, tty: true });
    assert!(StreamOptions::from_query(&Query::parse(Some("tty=true"))).is_err());
}

/// A fake process: `cat`-like stdout echo of stdin, a fixed stderr line, an
/// exit code sent by the test, resizes recorded.
struct Fake {
    io: ProcessIo,
    exit: oneshot::Sender<i32>,
    sizes: Arc<Mutex<Vec<TerminalSize>>>,
    killed: oneshot::Receiver<()>,
}

struct KillOnDrop(Option<oneshot::Sender<()>>);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

fn fake() -> Fake {
    let (stdin_w, mut stdin_r) = tokio::io::duplex(1024);
    let (mut out_w, out_r) = tokio::io::duplex(1024);
    let (mut err_w, err_r) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        err_w.write_all(b"warning\n").await.unwrap();
        drop(err_w);
        let mut buf = [0u8; 64];
        loop {
            match stdin_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out_w.write_all(&buf[..n]).await.unwrap(),
            }
        }
    });
    let (exit_tx, exit_rx) = oneshot::channel::<i32>();
    let (kill_tx, killed) = oneshot::channel();
    let guard = KillOnDrop(Some(kill_tx));
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let s = sizes.clone();
    let io = ProcessIo {
        stdin: Some(Box::pin(stdin_w)),
        stdout: Some(Box::pin(out_r)),
        stderr: Some(Box::pin(err_r)),
        resize: Some(Box::new(move |t| s.lock().unwrap().push(t))),
        exit: Box::pin(async move {
            let _g = guard;
            exit_rx.await.map_err(|_| StreamError::Internal("gone".into()))
        }),
    };
    Fake { io, exit: exit_tx, sizes, killed }
}

#[tokio::test]
async fn pump_copies_both_ways_and_reports_the_exit_code() {
    let f = fake();
    let (in_tx, in_rx) = mpsc::channel(8);
    let (out_tx, mut out_rx) = mpsc::channel(8);
    let task = tokio::spawn(pump(f.io, in_rx, out_tx));
    in_tx.send(Input::Resize(TerminalSize { width: 10, height: 5 })).await.unwrap();
    in_tx.send(Input::Stdin(Bytes::from_static(b"hello"))).await.unwrap();
    in_tx.send(Input::StdinEof).await.unwrap();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    while stdout.len() < 5 || stderr.len() < 8 {
        match out_rx.recv().await.unwrap() {
            Output::Stdout(b) => stdout.extend_from_slice(&b),
            Output::Stderr(b) => stderr.extend_from_slice(&b),
            Output::Exit(_) => unreachable!("pump does not send the status"),
        }
    }
    assert_eq!((&stdout[..], &stderr[..]), (&b"hello"[..], &b"warning\n"[..]));
    f.exit.send(7).unwrap();
    assert_eq!(task.await.unwrap(), Ending::Exited(7));
    assert_eq!(*f.sizes.lock().unwrap(), vec![TerminalSize { width: 10, height: 5 }]);
}

#[tokio::test]
async fn pump_ends_the_process_when_the_client_goes_away() {
    let f = fake();
    let (in_tx, in_rx) = mpsc::channel(8);
    let (out_tx, _out_rx) = mpsc::channel(8);
    let task = tokio::spawn(pump(f.io, in_rx, out_tx));
    drop(in_tx);
    assert_eq!(task.await.unwrap(), Ending::ClientGone);
    f.killed.await.expect("the exit future was dropped, which ends the process");
}

#[tokio::test]
async fn drive_sends_the_status_last() {
    let f = fake();
    let session = Session {
        opts: StreamOptions { stdin: true, stdout: true, stderr: true, tty: false },
        command: vec!["cat".into()],
        start: Box::pin(async move { Ok(f.io) }),
    };
    let (in_tx, in_rx) = mpsc::channel(8);
    let (out_tx, mut out_rx) = mpsc::channel(8);
    tokio::spawn(drive(session, in_rx, out_tx));
    in_tx.send(Input::StdinEof).await.unwrap();
    f.exit.send(0).unwrap();
    let mut last = None;
    while let Some(o) = out_rx.recv().await {
        last = Some(o);
    }
    assert_eq!(last, Some(Output::Exit(json!({"metadata": {}, "status": "Success"}))));
    drop(in_tx);
}
