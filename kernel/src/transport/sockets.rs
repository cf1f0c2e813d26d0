//! Binds the five sockets and runs one task per direction, so that control and heartbeat are
//! served while the shell is busy. Received messages come out as decoded [`Message`]s on channels;
//! outgoing ones go in through [`Outgoing`]. A frame that fails to decode is logged and dropped.

use super::{ConnectionInfo, Message, Signer};
use anyhow::{Context, Result};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use zeromq::{PubSocket, RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

/// Decoded requests from the frontends.
pub struct Channels {
    pub shell: UnboundedReceiver<Message>,
    pub control: UnboundedReceiver<Message>,
    pub stdin: UnboundedReceiver<Message>,
    pub outgoing: Outgoing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Shell,
    Control,
    Stdin,
    Iopub,
}

/// The sending side of every socket; cheap to clone and usable from any task or thread.
/// It wraps a routing function rather than the sockets' senders so that the dispatcher's tests
/// can record every outgoing message, on all channels, in the order it was sent.
#[derive(Clone)]
pub struct Outgoing {
    route: Arc<dyn Fn(Channel, Message) + Send + Sync>,
}

impl Outgoing {
    pub fn new(route: impl Fn(Channel, Message) + Send + Sync + 'static) -> Self {
        Self { route: Arc::new(route) }
    }

    pub fn send(&self, channel: Channel, msg: Message) {
        (self.route)(channel, msg)
    }
}

pub async fn bind(info: &ConnectionInfo) -> Result<Channels> {
    let signer = Signer::new(&info.key);

    let mut shell = RouterSocket::new();
    bind_one(&mut shell, info, info.shell_port, "shell").await?;
    let mut control = RouterSocket::new();
    bind_one(&mut control, info, info.control_port, "control").await?;
    let mut stdin = RouterSocket::new();
    bind_one(&mut stdin, info, info.stdin_port, "stdin").await?;
    let mut iopub = PubSocket::new();
    bind_one(&mut iopub, info, info.iopub_port, "iopub").await?;
    // A ROUTER, not a REP: REP's strict receive/send turns could stall for good when a peer
    // vanished mid-reply (seen with a 1 MiB ping closed at once). REQ peers work the same.
    let mut heartbeat = RouterSocket::new();
    bind_one(&mut heartbeat, info, info.hb_port, "heartbeat").await?;

    tokio::spawn(heartbeat_loop(heartbeat));

    let (shell_out, shell_in) = router_tasks(shell, "shell", signer.clone());
    let (control_out, control_in) = router_tasks(control, "control", signer.clone());
    let (stdin_out, stdin_in) = router_tasks(stdin, "stdin", signer.clone());

    let (iopub_tx, mut iopub_rx) = unbounded_channel::<Message>();
    let iopub_signer = signer.clone();
    tokio::spawn(async move {
        while let Some(msg) = iopub_rx.recv().await {
            if let Err(err) = send_frames(&mut iopub, msg.encode(&iopub_signer)).await {
                log(&format!("iopub: could not publish: {err}"));
            }
        }
    });

    let outgoing = Outgoing::new(move |channel, msg| {
        let sender = match channel {
            Channel::Shell => &shell_out,
            Channel::Control => &control_out,
            Channel::Stdin => &stdin_out,
            Channel::Iopub => &iopub_tx,
        };
        // A closed channel means the kernel is shutting down; nothing to deliver to.
        let _ = sender.send(msg);
    });
    Ok(Channels { shell: shell_in, control: control_in, stdin: stdin_in, outgoing })
}

async fn bind_one<S: Socket>(socket: &mut S, info: &ConnectionInfo, port: u16, name: &str) -> Result<()> {
    let endpoint = info.endpoint(port);
    // A kernel killed for a restart may still hold the port for a moment (its process ending):
    // Jupyter gives the new one the same ports at once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match socket.bind(&endpoint).await {
            Ok(_) => return Ok(()),
            Err(zeromq::ZmqError::Network(e)) if e.kind() == std::io::ErrorKind::AddrInUse && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot bind the {name} socket to {endpoint}")),
        }
    }
}

fn router_tasks(
    socket: RouterSocket,
    name: &'static str,
    signer: Signer,
) -> (UnboundedSender<Message>, UnboundedReceiver<Message>) {
    let (mut send_half, mut recv_half) = socket.split();
    let (in_tx, in_rx) = unbounded_channel();
    let recv_signer = signer.clone();
    tokio::spawn(async move {
        loop {
            match recv_half.recv().await {
                Ok(frames) => match Message::decode(frames.into_vec(), &recv_signer) {
                    Ok(msg) => {
                        if in_tx.send(msg).is_err() {
                            break;
                        }
                    }
                    Err(err) => log(&format!("{name}: dropped a message: {err}")),
                },
                Err(err) => {
                    log(&format!("{name}: receive failed: {err}"));
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    });
    let (out_tx, mut out_rx) = unbounded_channel::<Message>();
    tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            if let Err(err) = send_frames(&mut send_half, msg.encode(&signer)).await {
                log(&format!("{name}: could not send {}: {err}", msg.header.msg_type));
            }
        }
    });
    (out_tx, in_rx)
}

async fn send_frames<S: SocketSend>(socket: &mut S, frames: Vec<Bytes>) -> Result<()> {
    let message = ZmqMessage::try_from(frames).map_err(|e| anyhow::anyhow!("{e}"))?;
    socket.send(message).await?;
    Ok(())
}

/// Echoes every heartbeat (identity and envelope included); never waits on anything else, and
/// gives up on a reply that cannot be sent within a second.
async fn heartbeat_loop(socket: RouterSocket) {
    let (mut send_half, mut recv_half) = socket.split();
    loop {
        match recv_half.recv().await {
            Ok(ping) => {
                let sent = tokio::time::timeout(std::time::Duration::from_secs(1), send_half.send(ping)).await;
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => log(&format!("heartbeat: could not answer: {err}")),
                    Err(_) => log("heartbeat: a reply could not be sent within 1 s; dropped it"),
                }
            }
            Err(err) => {
                log(&format!("heartbeat: receive failed: {err}"));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

pub fn log(text: &str) {
    eprintln!("[kubernel] {text}");
}
