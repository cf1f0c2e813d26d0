//! The dispatcher against a scripted interpreter ([`fake`]), over in-memory channels
//! ([`harness`]): what a Jupyter client relies on, checked in seconds without sockets or Python.
//! The Python suites in tests/kernel check the same over ZeroMQ with the real evaluator.

mod fake;
mod harness;

use crate::transport::sockets::Channel;
use harness::{assert_framed, shape, Kernel};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// jupyter_client's `wait_for_ready` wants a reply and an iopub message within this.
const AT_ONCE: Duration = Duration::from_millis(200);

fn status(msg: &crate::transport::Message) -> &str {
    msg.content["status"].as_str().unwrap_or_default()
}

fn count(msg: &crate::transport::Message) -> Value {
    msg.content["execution_count"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_framed_by_busy_and_idle() {
    let mut k = Kernel::start();
    let shell_requests = [
        ("kernel_info_request", json!({}), "kernel_info_reply"),
        ("execute_request", json!({ "code": "print hi\ndisplay pic\nvalue 42", "silent": false }), "execute_reply"),
        ("complete_request", json!({ "code": "al", "cursor_pos": 2 }), "complete_reply"),
        ("inspect_request", json!({ "code": "Vec", "cursor_pos": 1, "detail_level": 0 }), "inspect_reply"),
        ("is_complete_request", json!({ "code": "fn f() {" }), "is_complete_reply"),
        ("history_request", json!({ "hist_access_type": "tail", "n": 10, "output": false, "raw": true }), "history_reply"),
        ("comm_info_request", json!({}), "comm_info_reply"),
    ];
    for (msg_type, content, reply_type) in shell_requests {
        let request = k.send(Channel::Shell, msg_type, content);
        let msgs = k.finish(&request).await;
        assert_framed(&msgs, &request, Channel::Shell, Some(reply_type));
    }

    let request = k.send(Channel::Control, "kernel_info_request", json!({}));
    let msgs = k.finish(&request).await;
    assert_framed(&msgs, &request, Channel::Control, Some("kernel_info_reply"));

    // Not supported: control answers with an error reply, shell only logs; both still busy/idle.
    let request = k.send(Channel::Control, "debug_request", json!({}));
    let msgs = k.finish(&request).await;
    assert_framed(&msgs, &request, Channel::Control, Some("debug_reply"));
    assert_eq!(status(&msgs[1].1), "error");
    let request = k.send(Channel::Shell, "no_such_request", json!({}));
    let msgs = k.finish(&request).await;
    assert_framed(&msgs, &request, Channel::Shell, None);

    // An unknown comm target is closed at once, inside busy/idle of the comm_open.
    let request = k.send(Channel::Shell, "comm_open", json!({ "comm_id": "c1", "target_name": "nope", "data": {} }));
    let msgs = k.finish(&request).await;
    assert_framed(&msgs, &request, Channel::Shell, None);
    assert_eq!(shape(&msgs), ["iopub:status:busy", "iopub:comm_close", "iopub:status:idle"]);

    k.settle(Duration::from_millis(50)).await;
    k.assert_all_parented();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_come_after_execute_input_and_before_the_reply_and_idle() {
    let mut k = Kernel::start();
    let request = k.execute("print one\neprint two\ndisplay three\nvalue 42", json!({}));
    let msgs = k.finish(&request).await;
    assert_framed(&msgs, &request, Channel::Shell, Some("execute_reply"));
    assert_eq!(
        shape(&msgs),
        [
            "iopub:status:busy",
            "iopub:execute_input",
            "iopub:stream",
            "iopub:stream",
            "iopub:display_data",
            "iopub:execute_result",
            "shell:execute_reply",
            "iopub:status:idle",
        ]
    );
    let content: Vec<&Value> = msgs.iter().map(|(_, m)| &m.content).collect();
    assert_eq!(*content[1], json!({ "code": "print one\neprint two\ndisplay three\nvalue 42", "execution_count": 1 }));
    assert_eq!(*content[2], json!({ "name": "stdout", "text": "one\n" }));
    assert_eq!(*content[3], json!({ "name": "stderr", "text": "two\n" }));
    assert_eq!(content[4]["data"], json!({ "text/plain": "three" }));
    assert_eq!(content[5]["data"], json!({ "text/plain": "42" }));
    assert_eq!(content[5]["execution_count"], 1);
    assert_eq!(content[6]["status"], "ok");
    assert_eq!(content[6]["execution_count"], 1);

    // A failing cell: the error is published before the error reply, both before idle.
    let request = k.execute("print before\nfail", json!({}));
    let msgs = k.finish(&request).await;
    assert_framed(&msgs, &request, Channel::Shell, Some("execute_reply"));
    assert_eq!(
        shape(&msgs),
        ["iopub:status:busy", "iopub:execute_input", "iopub:stream", "iopub:error", "shell:execute_reply", "iopub:status:idle"]
    );
    let reply = &msgs[4].1.content;
    assert_eq!((reply["status"].as_str(), reply["ename"].as_str()), (Some("error"), Some("Failure")));
    assert_eq!(msgs[3].1.content["ename"], "Failure");
}

fn streams(msgs: &[(Channel, crate::transport::Message)], name: &str) -> String {
    msgs.iter()
        .filter(|(_, m)| m.msg_type() == "stream" && m.content["name"] == name)
        .map(|(_, m)| m.content["text"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_past_the_cap_is_left_out_with_a_note_before_the_reply() {
    let mut k = Kernel::start_with_limit(1_000);
    let request = k.execute("print first\nbulk 200000\ndisplay late\nvalue 42", json!({}));
    let msgs = k.finish(&request).await;
    assert_framed(&msgs, &request, Channel::Shell, Some("execute_reply"));
    let stdout = streams(&msgs, "stdout");
    assert!(stdout.len() <= 1_000 && stdout.len() > 900, "{} bytes sent", stdout.len());
    assert!(stdout.starts_with("first\n") && stdout.ends_with('\n'), "cut at a line break");
    let stderr = streams(&msgs, "stderr");
    let notes: Vec<&str> = stderr.lines().collect();
    assert_eq!(notes.len(), 2, "{stderr}");
    assert!(notes[0].contains("reached the cap of 1 kB"), "{stderr}");
    // 6 + 200000 + 4 ("late") bytes were made; the note counts what was not sent.
    let left_out = 200_010 - stdout.len();
    assert!(notes[1].contains(&format!("{} more were left out", output::limit::format_size(left_out as u64))), "{stderr}");
    assert!(notes[1].contains("%output_limit 1MB"), "{stderr}");
    assert!(!msgs.iter().any(|(_, m)| m.msg_type() == "display_data"), "a display past the cap is left out");
    // The value is not output: it is still shown, after the note.
    let shape = shape(&msgs);
    let note_at = shape.iter().rposition(|s| s == "iopub:stream").unwrap();
    assert_eq!(&shape[note_at + 1..], ["iopub:execute_result", "shell:execute_reply", "iopub:status:idle"]);
    let stream_messages = shape.iter().filter(|s| *s == "iopub:stream").count();
    assert!(stream_messages <= 4, "{stream_messages} stream messages for 1 kB of output and two notes");

    // Every cell has a cap of its own.
    let request = k.execute("print again", json!({}));
    let msgs = k.finish(&request).await;
    assert_eq!(streams(&msgs, "stdout"), "again\n");
    assert_eq!(streams(&msgs, "stderr"), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cap_everything_is_sent() {
    let mut k = Kernel::start_with_limit(0);
    let request = k.execute("bulk 3000000", json!({}));
    let msgs = k.finish(&request).await;
    assert_eq!(streams(&msgs, "stdout").len(), 3_000_000);
    assert_eq!(streams(&msgs, "stderr"), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_execution_count_rises_only_for_stored_cells() {
    let mut k = Kernel::start();
    // (code, extra content, the count it should show)
    let cells = [
        ("value a", json!({}), 1),
        ("value b", json!({ "store_history": false }), 1),
        ("   ", json!({}), 1), // as in IPython: an empty cell takes no number
        ("value c", json!({ "silent": true }), 1),
        ("value d", json!({ "silent": true, "store_history": true }), 1), // silent forces it off
        ("value e", json!({}), 2),
    ];
    for (code, extra, expected) in cells {
        let silent = extra.get("silent").is_some();
        let request = k.execute(code, extra);
        let msgs = k.finish(&request).await;
        let reply = k.reply(Channel::Shell, &request).await;
        assert_eq!(count(&reply), expected, "{code:?}: execute_reply count");
        if !silent {
            let input = msgs.iter().find(|(_, m)| m.msg_type() == "execute_input").expect("no execute_input");
            assert_eq!(count(&input.1), expected, "{code:?}: execute_input count");
        }
    }
    // Only the stored cells are in history, under their numbers.
    let request = k.send(Channel::Shell, "history_request", json!({ "hist_access_type": "tail", "n": 10, "output": false }));
    let reply = k.reply(Channel::Shell, &request).await;
    let lines: Vec<(i64, String)> = reply.content["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h[1].as_i64().unwrap(), h[2].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(lines, [(1, "value a".to_string()), (2, "value e".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_execute_publishes_nothing_but_status() {
    let mut k = Kernel::start();
    for code in ["print out\neprint err\ndisplay pic\nvalue 42", "print out\nfail"] {
        let request = k.execute(code, json!({ "silent": true }));
        let msgs = k.finish(&request).await;
        assert_framed(&msgs, &request, Channel::Shell, Some("execute_reply"));
        assert_eq!(shape(&msgs), ["iopub:status:busy", "shell:execute_reply", "iopub:status:idle"], "{code:?}");
    }
    assert_eq!(k.fake.executed().len(), 2, "the silent cells did not run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_error_the_queued_executes_are_aborted_and_the_next_runs() {
    let mut k = Kernel::start();
    let failing = k.execute("wait\nfail", json!({}));
    k.fake.until_waiting().await;
    // Queued while the failing cell runs: two executes and a request that is not an execute.
    let queued_a = k.execute("print queued a", json!({}));
    let info = k.send(Channel::Shell, "kernel_info_request", json!({}));
    let queued_b = k.execute("print queued b", json!({ "silent": true }));

    // Sent the instant the error's reply goes out, before the kernel does anything else: it was
    // not queued behind the error, so it must run.
    let failing_id = failing.header.msg_id.clone();
    let after = k.send_when(
        move |c, m| c == Channel::Shell && harness::parent_id(m) == failing_id,
        Channel::Shell,
        "execute_request",
        json!({ "code": "value 42", "silent": false, "store_history": true, "stop_on_error": true }),
    );
    k.fake.release();

    let reply = k.reply(Channel::Shell, &failing).await;
    assert_eq!(status(&reply), "error");

    for queued in [&queued_a, &queued_b] {
        let msgs = k.finish(queued).await;
        assert_framed(&msgs, queued, Channel::Shell, Some("execute_reply"));
        // As ipykernel: busy, a reply with status "aborted", idle; nothing else.
        assert_eq!(shape(&msgs), ["iopub:status:busy", "shell:execute_reply", "iopub:status:idle"]);
        assert_eq!(status(&msgs[1].1), "aborted");
    }
    // ipykernel aborts only executes: the rest of the queue is answered.
    let msgs = k.finish(&info).await;
    assert_framed(&msgs, &info, Channel::Shell, Some("kernel_info_reply"));
    assert_eq!(status(&msgs[1].1), "ok");

    let msgs = k.finish(&after).await;
    assert_framed(&msgs, &after, Channel::Shell, Some("execute_reply"));
    let reply = &msgs.iter().find(|(_, m)| m.msg_type() == "execute_reply").unwrap().1;
    assert_eq!(status(reply), "ok");
    // The aborted cells took no number.
    assert_eq!(count(reply), 2);
    assert_eq!(k.fake.executed(), ["wait\nfail", "value 42"]);

    // In order: the error's reply, then the aborts, then the cell sent after the error.
    let order: Vec<&str> = k
        .seen
        .iter()
        .filter(|(c, _)| *c == Channel::Shell)
        .map(|(_, m)| harness::parent_id(m))
        .collect();
    let ids: Vec<&str> = [&failing, &queued_a, &info, &queued_b, &after].map(|m| m.header.msg_id.as_str()).to_vec();
    assert_eq!(order, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_aborts_nothing_without_stop_on_error_or_when_silent() {
    let mut k = Kernel::start();
    for extra in [json!({ "stop_on_error": false }), json!({ "silent": true })] {
        let failing = k.execute("wait\nfail", extra.clone());
        k.fake.until_waiting().await;
        let queued = k.execute("value 1", json!({}));
        k.fake.release();
        assert_eq!(status(&k.reply(Channel::Shell, &failing).await), "error", "{extra}");
        let msgs = k.finish(&queued).await;
        assert_framed(&msgs, &queued, Channel::Shell, Some("execute_reply"));
        assert_eq!(status(&k.reply(Channel::Shell, &queued).await), "ok", "{extra}: the queued cell was aborted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_info_is_answered_at_once_on_shell() {
    let mut k = Kernel::start();
    // As wait_for_ready: several times from the start, each needing a reply and an iopub message.
    for _ in 0..3 {
        let started = Instant::now();
        let request = k.send(Channel::Shell, "kernel_info_request", json!({}));
        let reply = k.reply(Channel::Shell, &request).await;
        let msgs = k.finish(&request).await;
        assert!(started.elapsed() < AT_ONCE, "kernel_info took {:?}", started.elapsed());
        assert_framed(&msgs, &request, Channel::Shell, Some("kernel_info_reply"));
        let content = &reply.content;
        assert_eq!(content["status"], "ok");
        assert_eq!(content["protocol_version"], crate::transport::wire::PROTOCOL_VERSION);
        assert_eq!(content["implementation"], "kubernel");
        assert_eq!(content["language_info"]["name"], "fake", "the interpreter's language_info is missing");
    }
    k.assert_all_parented();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_info_on_control_is_answered_while_an_execute_runs() {
    let mut k = Kernel::start();
    let running = k.execute("wait\nvalue done", json!({}));
    k.fake.until_waiting().await;

    let started = Instant::now();
    let request = k.send(Channel::Control, "kernel_info_request", json!({}));
    let msgs = k.finish(&request).await;
    assert!(started.elapsed() < AT_ONCE, "kernel_info on control took {:?}", started.elapsed());
    assert_framed(&msgs, &request, Channel::Control, Some("kernel_info_reply"));
    assert_eq!(msgs[1].1.content["language_info"]["name"], "fake");
    assert!(
        k.of(&running).iter().all(|(_, m)| m.msg_type() != "execute_reply"),
        "the execute ended before kernel_info was answered: the test proves nothing"
    );

    k.fake.release();
    let msgs = k.finish(&running).await;
    assert_framed(&msgs, &running, Channel::Shell, Some("execute_reply"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_on_control_reaches_the_running_execute() {
    let mut k = Kernel::start();
    let running = k.execute("print before\nwait\nprint after", json!({}));
    k.fake.until_waiting().await;

    let interrupt = k.send(Channel::Control, "interrupt_request", json!({}));
    let msgs = k.finish(&interrupt).await;
    assert_framed(&msgs, &interrupt, Channel::Control, Some("interrupt_reply"));
    assert_eq!(status(&msgs[1].1), "ok");
    assert_eq!(k.fake.interrupts_while_running.load(Ordering::SeqCst), 1, "the interrupt did not reach the execute");

    let msgs = k.finish(&running).await;
    assert_framed(&msgs, &running, Channel::Shell, Some("execute_reply"));
    let reply = k.reply(Channel::Shell, &running).await;
    assert_eq!((status(&reply), reply.content["ename"].as_str()), ("error", Some("Interrupted")));
    let printed: Vec<&Value> = msgs.iter().filter(|(_, m)| m.msg_type() == "stream").map(|(_, m)| &m.content["text"]).collect();
    assert_eq!(printed, [&json!("before\n")]);

    // The kernel goes on serving.
    let next = k.execute("value 1", json!({}));
    assert_eq!(status(&k.reply(Channel::Shell, &next).await), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_requests_go_to_the_peer_of_the_execute() {
    let mut k = Kernel::start();
    let request = k.execute("input Name?", json!({ "allow_stdin": true }));
    let id = request.header.msg_id.clone();
    let asked = k.wait_for("input_request", |c, m| c == Channel::Stdin && harness::parent_id(m) == id).await;
    assert_eq!(asked.msg_type(), "input_request");
    assert_eq!(asked.identities, request.identities, "input_request went to another peer");
    assert_eq!(asked.content, json!({ "prompt": "Name?", "password": false }));
    k.send(Channel::Stdin, "input_reply", json!({ "value": "Ada" }));

    let msgs = k.finish(&request).await;
    assert_framed(&msgs, &request, Channel::Shell, Some("execute_reply"));
    let stream = msgs.iter().find(|(_, m)| m.msg_type() == "stream").expect("no output");
    assert_eq!(stream.1.content["text"], "got Ada\n");

    // A frontend without an input box: the read fails and nothing is asked on stdin.
    let request = k.execute("input Name?", json!({ "allow_stdin": false }));
    let msgs = k.finish(&request).await;
    assert_framed(&msgs, &request, Channel::Shell, Some("execute_reply"));
    assert!(msgs.iter().all(|(c, _)| *c != Channel::Stdin), "asked for input though allow_stdin is false");
    assert_eq!(status(&k.reply(Channel::Shell, &request).await), "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_on_control_stops_the_kernel_even_while_an_execute_runs() {
    let mut k = Kernel::start();
    k.execute("wait", json!({}));
    k.fake.until_waiting().await;
    let request = k.send(Channel::Control, "shutdown_request", json!({ "restart": false }));
    let fake = k.fake.clone();
    let seen = k.stopped().await;
    let msgs: Vec<_> = seen.into_iter().filter(|(_, m)| harness::parent_id(m) == request.header.msg_id).collect();
    assert_framed(&msgs, &request, Channel::Control, Some("shutdown_reply"));
    assert_eq!(msgs[1].1.content, json!({ "status": "ok", "restart": false }));
    assert_eq!(fake.shutdowns.load(Ordering::SeqCst), 1, "the interpreter was not told to shut down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_on_shell_stops_the_kernel_and_echoes_restart() {
    let mut k = Kernel::start();
    let request = k.send(Channel::Shell, "shutdown_request", json!({ "restart": true }));
    let fake = k.fake.clone();
    let seen = k.stopped().await;
    let msgs: Vec<_> = seen.into_iter().filter(|(_, m)| harness::parent_id(m) == request.header.msg_id).collect();
    assert_framed(&msgs, &request, Channel::Shell, Some("shutdown_reply"));
    assert_eq!(msgs[1].1.content, json!({ "status": "ok", "restart": true }));
    assert_eq!(fake.shutdowns.load(Ordering::SeqCst), 1);
}
