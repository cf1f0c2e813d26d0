//! What a launcher and a spare say to each other on the spare's socket: length-prefixed frames,
//! the launcher's stdout and stderr passed along with the request (SCM_RIGHTS), and the peer's
//! user checked on both sides (SO_PEERCRED).

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// Names the protocol, so that a spare of another version says no instead of misreading.
const HELLO: &[u8] = b"kubernel-spare-1";
/// Asks a waiting spare to end (`kubernel spare --stop`).
const STOP: &[u8] = b"kubernel-spare-stop";
/// No frame is larger (an environment of many large variables still fits).
const MAX_FRAME: usize = 16 << 20;

/// What a launcher hands over: everything of its session that a spare does not have yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// When the launcher started, in microseconds since the epoch (for the start-up log).
    pub launched: u64,
    pub connection_file: PathBuf,
    pub cwd: PathBuf,
    /// The binary the launcher runs (see [`super::binary_identity`]).
    pub binary: String,
    pub env: Vec<(OsString, OsString)>,
}

/// What a spare is asked on its socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    Take(Request),
    Stop,
}

impl Ask {
    pub fn read(input: &mut impl Read) -> io::Result<Ask> {
        match read_frame(input)?.as_slice() {
            HELLO => Request::decode_rest(input).map(Ask::Take),
            STOP => Ok(Ask::Stop),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "not a kubernel launcher of this version")),
        }
    }
}

pub fn stop_request(out: &mut Vec<u8>) {
    frame(out, STOP);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The spare serves the session now, as process `pid`.
    Taken { pid: u32 },
    /// It does not, for this reason; the launcher starts its own evaluator.
    Refused(String),
}

fn frame(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn read_frame(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a frame of {len} bytes")));
    }
    let mut bytes = vec![0u8; len];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn text(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

impl Request {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        frame(&mut out, HELLO);
        frame(&mut out, self.launched.to_string().as_bytes());
        frame(&mut out, self.connection_file.as_os_str().as_bytes());
        frame(&mut out, self.cwd.as_os_str().as_bytes());
        frame(&mut out, self.binary.as_bytes());
        frame(&mut out, self.env.len().to_string().as_bytes());
        for (key, value) in &self.env {
            frame(&mut out, key.as_bytes());
            frame(&mut out, value.as_bytes());
        }
        out
    }

    /// The request after its first frame.
    fn decode_rest(input: &mut impl Read) -> io::Result<Request> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let launched = text(read_frame(input)?)?.parse().map_err(|_| bad("launch time"))?;
        let connection_file = PathBuf::from(OsString::from_vec(read_frame(input)?));
        let cwd = PathBuf::from(OsString::from_vec(read_frame(input)?));
        let binary = text(read_frame(input)?)?;
        let n: usize = text(read_frame(input)?)?.parse().map_err(|_| bad("variable count"))?;
        let mut env = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            let key = OsString::from_vec(read_frame(input)?);
            let value = OsString::from_vec(read_frame(input)?);
            env.push((key, value));
        }
        Ok(Request { launched, connection_file, cwd, binary, env })
    }
}

impl Reply {
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let line = match self {
            Reply::Taken { pid } => format!("taken {pid}"),
            Reply::Refused(why) => format!("refused {why}"),
        };
        let mut bytes = Vec::new();
        frame(&mut bytes, line.as_bytes());
        out.write_all(&bytes)
    }

    pub fn read(input: &mut impl Read) -> io::Result<Reply> {
        let line = text(read_frame(input)?)?;
        match line.split_once(' ') {
            Some(("taken", pid)) => pid.parse().map(|pid| Reply::Taken { pid }).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, line.clone())),
            Some(("refused", why)) => Ok(Reply::Refused(why.to_string())),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, line)),
        }
    }
}

/// After a hand-over, the launcher passes on the signals it gets: the signal's number.
pub fn signal_frame(signal: i32) -> Vec<u8> {
    let mut out = Vec::new();
    frame(&mut out, format!("signal {signal}").as_bytes());
    out
}

/// The next signal passed on (an error at end of stream: the launcher is gone).
pub fn read_signal(input: &mut impl Read) -> io::Result<i32> {
    let line = text(read_frame(input)?)?;
    line.strip_prefix("signal ").and_then(|n| n.parse().ok()).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, line))
}

/// The user id of the process at the other end.
pub fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `cred`, which is that large.
    let rc = unsafe { libc::getsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERCRED, &mut cred as *mut _ as *mut libc::c_void, &mut len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.uid)
}

pub fn my_uid() -> u32 {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() }
}

/// Sends `bytes` with the file descriptors `fds` attached.
pub fn send_with_fds(stream: &UnixStream, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let space = unsafe { libc::CMSG_SPACE((fds.len() * std::mem::size_of::<RawFd>()) as u32) } as usize;
    // u64s: control messages must be aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
    // SAFETY: msghdr is plain data; every pointer set below points into buffers that outlive
    // the sendmsg call, with their true lengths.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN((fds.len() * std::mem::size_of::<RawFd>()) as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr() as *const u8, libc::CMSG_DATA(cmsg), fds.len() * std::mem::size_of::<RawFd>());
    }
    // SAFETY: as above.
    let sent = unsafe { libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    // The descriptors went with the first byte; the rest is plain data.
    (&*stream).write_all(&bytes[sent as usize..])
}

/// Receives the descriptors sent with the first bytes (up to `max`), leaving the data on the
/// stream: it peeks one byte and so takes nothing of the frames.
pub fn receive_fds(stream: &UnixStream, max: usize) -> io::Result<Vec<OwnedFd>> {
    let space = unsafe { libc::CMSG_SPACE((max * std::mem::size_of::<RawFd>()) as u32) } as usize;
    // u64s: control messages must be aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr() as *mut libc::c_void, iov_len: 1 };
    // SAFETY: as in send_with_fds; recvmsg fills at most the lengths given.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    let got = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_PEEK | libc::MSG_CMSG_CLOEXEC) };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    // SAFETY: walking the control messages recvmsg wrote, with the libc macros meant for it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let n = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<RawFd>();
                let data = libc::CMSG_DATA(cmsg) as *const RawFd;
                for i in 0..n {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_the_wire_with_any_bytes_in_its_environment() {
        let request = Request {
            launched: 1_733_000_000_123_456,
            connection_file: "/run/user/1000/jupyter/kernel-1.json".into(),
            cwd: "/home/ada/notebooks/week 1".into(),
            binary: "/usr/bin/kubernel 123 456".into(),
            env: vec![("KUBECONFIG".into(), "/home/ada/.kube/class".into()), ("ODD".into(), OsString::from_vec(vec![0xff, b'=', 0]))],
        };
        let bytes = request.encode();
        assert_eq!(Ask::read(&mut &bytes[..]).unwrap(), Ask::Take(request));
        // Cut anywhere, it is an error, not a shorter request.
        assert!(Ask::read(&mut &bytes[..bytes.len() - 1]).is_err());
        let mut other = bytes.clone();
        other[4] = b'X';
        assert!(Ask::read(&mut &other[..]).is_err(), "another protocol is refused");
        let mut stop = Vec::new();
        stop_request(&mut stop);
        assert_eq!(Ask::read(&mut &stop[..]).unwrap(), Ask::Stop);
    }

    #[test]
    fn replies_and_descriptors_cross_a_socket() {
        let (a, b) = UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a).unwrap(), my_uid());
        let (r, w) = UnixStream::pair().unwrap();
        send_with_fds(&a, b"hello", &[w.as_raw_fd()]).unwrap();
        let fds = receive_fds(&b, 2).unwrap();
        assert_eq!(fds.len(), 1);
        let mut buf = [0u8; 5];
        (&b).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello", "the data is all still there");
        // The descriptor received is the same socket: what is written to it comes out of `r`.
        let mut passed = UnixStream::from(fds.into_iter().next().unwrap());
        passed.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        (&r).read_exact(&mut one).unwrap();
        assert_eq!(&one, b"x");
        assert_eq!(read_signal(&mut &signal_frame(15)[..]).unwrap(), 15);
        for reply in [Reply::Taken { pid: 42 }, Reply::Refused("the toolchain changed".into())] {
            let mut bytes = Vec::new();
            reply.write(&mut bytes).unwrap();
            assert_eq!(Reply::read(&mut &bytes[..]).unwrap(), reply);
        }
    }
}
