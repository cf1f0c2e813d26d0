//! Keeps stdout and stderr of user code in the order it wrote them.
//!
//! User code runs in evcxr's child process (this same binary, re-executed). Two pipes cannot
//! keep the order of writes across them, so in the child every write to stderr is sent down the
//! stdout pipe instead, each line behind a marker that the output pump turns back into stderr.
//! This binary defines `write` and exports it (see build.rs): the user code's standard library,
//! loaded later as a shared object, resolves `write` to it. Everything else passes straight to
//! the system call.
//!
//! The child's stdin is the pipe evcxr sends its commands on, so user code that reads stdin
//! would wait forever. `read` is exported the same way: a read of stdin while a command runs is
//! the user's, and it first asks evcxr's parent for a line (`EVCXR_INPUT_REQUEST:`, the request
//! evcxr already understands), which arrives on that same pipe. An answer that cannot be had
//! (the frontend takes no input) comes back as a marker line, read as end of file.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

/// Starts a line of stderr carried on stdout.
pub const STDERR_MARK: &str = "\u{1}KUBERNEL_STDERR:";
/// Starts a line of stdout carried on stderr. evcxr reads the stdout pipe only while a command
/// runs, but stderr always: what threads of user code print between cells (a live display)
/// goes that way, so that it is shown now and not when the next cell runs.
pub const STDOUT_MARK: &str = "\u{1}KUBERNEL_STDOUT:";

static IN_CHILD: AtomicBool = AtomicBool::new(false);
/// Set when evcxr's runtime has read a command, cleared when it reports the command complete.
static RUNNING_COMMAND: AtomicBool = AtomicBool::new(false);
/// Set while an answer line has been asked for and not wholly read.
static LINE_OPEN: AtomicBool = AtomicBool::new(false);
/// Whether the last byte written to stdout ended a line (a request must start a line).
static STDOUT_AT_LINE_START: AtomicBool = AtomicBool::new(true);
/// The thread of evcxr's command loop, known from its first read.
static RUNTIME_THREAD: AtomicI64 = AtomicI64::new(0);
const INPUT_REQUEST: &[u8] = b"EVCXR_INPUT_REQUEST:\n";
/// Both of evcxr's requests (`EVCXR_INPUT_REQUEST:` and `EVCXR_INPUT_REQUEST_PASSWORD:`).
const REQUEST_PREFIX: &[u8] = b"EVCXR_INPUT_REQUEST";
const EXECUTION_COMPLETE: &[u8] = b"EVCXR_EXECUTION_COMPLETE";
/// The answer that stands for "no input can be had": the user's read gets end of file.
pub const NO_INPUT: &str = "\u{4}KUBERNEL_NO_INPUT";

/// Turns the rerouting on when this process is evcxr's runtime child.
pub fn enable_in_evcxr_child() {
    if std::env::var_os("EVCXR_IS_RUNTIME").is_some() {
        IN_CHILD.store(true, Ordering::SeqCst);
    }
}

/// Partial stderr lines wait here for their newline, so that `eprintln!("x {}", 1)`, which
/// writes in pieces, stays one line. Guarded by a spin flag, not a mutex: `write` may be called
/// anywhere, and a writer that finds it taken writes its piece out at once instead.
struct Pending {
    busy: AtomicBool,
    len: std::cell::UnsafeCell<usize>,
    buf: std::cell::UnsafeCell<[u8; 4096]>,
}

// SAFETY: `len` and `buf` are only touched by the holder of `busy`.
unsafe impl Sync for Pending {}

static PENDING: Pending = Pending {
    busy: AtomicBool::new(false),
    len: std::cell::UnsafeCell::new(0),
    buf: std::cell::UnsafeCell::new([0; 4096]),
};

/// Continuation bytes still owed to a character cut by the end of a write, on stdout and stderr.
static OWED: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// # Safety
/// The contract of write(2): `buf` points to `count` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn write(fd: libc::c_int, buf: *const libc::c_void, count: libc::size_t) -> libc::ssize_t {
    if IN_CHILD.load(Ordering::Relaxed) && count > 0 && (fd == 1 || fd == 2) {
        let data = std::slice::from_raw_parts(buf as *const u8, count);
        let owed = &OWED[fd as usize - 1];
        if owed.load(Ordering::Relaxed) == 0 && std::str::from_utf8(data).is_ok() {
            return write_text(fd, data);
        }
        return write_as_utf8(fd, data, owed);
    }
    libc::syscall(libc::SYS_write, fd, buf, count) as libc::ssize_t
}

/// evcxr reads the child's pipes as lines of UTF-8, and a line that is not UTF-8 ends its
/// reader (on stderr for the rest of the session). Bytes that cannot be UTF-8 become U+FFFD,
/// gathered in a buffer on the stack (this may run anywhere: no allocation), cut only between
/// characters.
unsafe fn write_as_utf8(fd: libc::c_int, data: &[u8], owed: &AtomicUsize) -> libc::ssize_t {
    let mut buf = [0u8; 4096];
    let mut len = 0;
    let mut failed = false;
    let left = utf8_pieces(data, owed.load(Ordering::Relaxed), &mut |mut piece| {
        while !piece.is_empty() {
            let mut n = piece.len().min(buf.len() - len);
            while n > 0 && n < piece.len() && piece[n] & 0xC0 == 0x80 {
                n -= 1;
            }
            if n == 0 {
                if len == 0 {
                    n = piece.len().min(buf.len());
                } else {
                    failed |= write_text(fd, &buf[..len]) < 0;
                    len = 0;
                    continue;
                }
            }
            buf[len..len + n].copy_from_slice(&piece[..n]);
            len += n;
            piece = &piece[n..];
            if len == buf.len() {
                failed |= write_text(fd, &buf[..len]) < 0;
                len = 0;
            }
        }
    });
    if len > 0 {
        failed |= write_text(fd, &buf[..len]) < 0;
    }
    owed.store(left, Ordering::Relaxed);
    if failed { -1 } else { data.len() as libc::ssize_t }
}

/// Gives `data` to `emit` in pieces that are UTF-8, with U+FFFD for each byte sequence that
/// cannot be. `owed` continuation bytes at the start finish a character the previous write cut;
/// a character cut at the end passes as it is, and the count it still owes is returned.
fn utf8_pieces(data: &[u8], owed: usize, emit: &mut dyn FnMut(&[u8])) -> usize {
    let carried = data.iter().take(owed).take_while(|b| **b & 0xC0 == 0x80).count();
    if carried > 0 {
        emit(&data[..carried]);
    }
    let rest = &data[carried..];
    if rest.is_empty() {
        return owed - carried;
    }
    for chunk in rest.utf8_chunks() {
        if !chunk.valid().is_empty() {
            emit(chunk.valid().as_bytes());
        }
        let bad = chunk.invalid();
        if bad.is_empty() {
            continue;
        }
        let at_end = bad.as_ptr() as usize + bad.len() == rest.as_ptr() as usize + rest.len();
        let wanted = match bad[0] {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 0,
        };
        if at_end && wanted > bad.len() {
            emit(bad);
            return wanted - bad.len();
        }
        emit("\u{FFFD}".as_bytes());
    }
    0
}

/// A write of UTF-8 text to stdout (1) or stderr (2) of user code.
unsafe fn write_text(fd: libc::c_int, data: &[u8]) -> libc::ssize_t {
    if fd == 2 {
        return stderr_piece(data);
    }
    // A partial stderr line written before this stdout goes first, to keep the order.
    flush_pending();
    if data.starts_with(EXECUTION_COMPLETE) {
        RUNNING_COMMAND.store(false, Ordering::SeqCst);
        LINE_OPEN.store(false, Ordering::SeqCst);
    } else if !RUNNING_COMMAND.load(Ordering::SeqCst) {
        return send_lines(data, true, 2, STDOUT_MARK);
    } else if data.windows(REQUEST_PREFIX.len()).any(|w| w == REQUEST_PREFIX) {
        // User code asked itself (evcxr_input's way): its next read needs no request.
        LINE_OPEN.store(true, Ordering::SeqCst);
    }
    STDOUT_AT_LINE_START.store(data.ends_with(b"\n"), Ordering::SeqCst);
    libc::syscall(libc::SYS_write, 1, data.as_ptr(), data.len()) as libc::ssize_t
}

/// # Safety
/// The contract of read(2): `buf` points to `count` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn read(fd: libc::c_int, buf: *mut libc::c_void, count: libc::size_t) -> libc::ssize_t {
    if fd == 0 && IN_CHILD.load(Ordering::Relaxed) {
        let thread = libc::syscall(libc::SYS_gettid);
        let user = RUNNING_COMMAND.load(Ordering::SeqCst);
        if !user {
            let runtime = RUNTIME_THREAD.load(Ordering::SeqCst);
            if runtime == 0 {
                RUNTIME_THREAD.store(thread, Ordering::SeqCst);
            } else if runtime != thread {
                // A thread of user code reading between commands would take evcxr's next
                // command as its input: it gets end of file instead.
                return 0;
            }
        }
        // One request per line (an answer may arrive in pieces; evcxr writes the newline apart).
        if user && LINE_OPEN.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            flush_pending();
            if !STDOUT_AT_LINE_START.load(Ordering::SeqCst) {
                // A prompt printed without a newline: the request must start a line of its own.
                libc::syscall(libc::SYS_write, 1, b"\n".as_ptr(), 1);
            }
            libc::syscall(libc::SYS_write, 1, INPUT_REQUEST.as_ptr(), INPUT_REQUEST.len());
            STDOUT_AT_LINE_START.store(true, Ordering::SeqCst);
        }
        let n = libc::syscall(libc::SYS_read, fd, buf, count) as libc::ssize_t;
        let data = if n > 0 { std::slice::from_raw_parts(buf as *const u8, n as usize) } else { &[][..] };
        let whole_line = data.ends_with(b"\n");
        if user {
            if data == NO_INPUT.as_bytes() {
                // evcxr writes the answer and its newline apart: take the newline as well, so that
                // nothing of it is left on the pipe to be read as input or as a command.
                let mut newline = 0u8;
                libc::syscall(libc::SYS_read, fd, &mut newline as *mut u8 as *mut libc::c_void, 1);
                LINE_OPEN.store(false, Ordering::SeqCst);
                return 0;
            }
            LINE_OPEN.store(n > 0 && !whole_line, Ordering::SeqCst);
            if data.strip_suffix(b"\n") == Some(NO_INPUT.as_bytes()) {
                return 0;
            }
        } else if whole_line {
            // The runtime has a whole command line: what runs now is the user's.
            RUNNING_COMMAND.store(true, Ordering::SeqCst);
        }
        return n;
    }
    libc::syscall(libc::SYS_read, fd, buf, count) as libc::ssize_t
}

unsafe fn stderr_piece(data: &[u8]) -> libc::ssize_t {
    if PENDING.busy.swap(true, Ordering::Acquire) {
        return stderr_lines(data, true);
    }
    let len = &mut *PENDING.len.get();
    let buf = &mut *PENDING.buf.get();
    let mut result = data.len() as libc::ssize_t;
    match data.iter().rposition(|b| *b == b'\n') {
        Some(last) => {
            // Pending bytes plus everything up to the last newline go out; the rest waits.
            if *len > 0 {
                let first_end = data.iter().position(|b| *b == b'\n').expect("has a newline") + 1;
                let room = buf.len() - *len;
                if first_end <= room {
                    buf[*len..*len + first_end].copy_from_slice(&data[..first_end]);
                    *len += first_end;
                    stderr_lines(&buf[..*len], false);
                } else {
                    stderr_lines(&buf[..*len], true);
                    stderr_lines(&data[..first_end], false);
                }
                *len = 0;
                if first_end <= last {
                    stderr_lines(&data[first_end..=last], false);
                }
            } else if stderr_lines(&data[..=last], false) < 0 {
                result = -1;
            }
            keep(&data[last + 1..], len, buf);
        }
        None => keep(data, len, buf),
    }
    PENDING.busy.store(false, Ordering::Release);
    result
}

/// Keeps a partial line; if it does not fit, it goes out as a line of its own.
unsafe fn keep(rest: &[u8], len: &mut usize, buf: &mut [u8; 4096]) {
    if rest.is_empty() {
        return;
    }
    if *len + rest.len() > buf.len() {
        stderr_lines(&buf[..*len], true);
        *len = 0;
        if rest.len() > buf.len() {
            stderr_lines(rest, true);
            return;
        }
    }
    buf[*len..*len + rest.len()].copy_from_slice(rest);
    *len += rest.len();
}

unsafe fn flush_pending() {
    if PENDING.busy.swap(true, Ordering::Acquire) {
        return;
    }
    let len = &mut *PENDING.len.get();
    if *len > 0 {
        let buf = &*PENDING.buf.get();
        stderr_lines(&buf[..*len], true);
        *len = 0;
    }
    PENDING.busy.store(false, Ordering::Release);
}

/// Lines of stderr: behind a marker on stdout while a command runs, to keep their order with
/// stdout; straight to stderr between commands, when only stderr is read.
unsafe fn stderr_lines(data: &[u8], whole: bool) -> libc::ssize_t {
    if RUNNING_COMMAND.load(Ordering::SeqCst) {
        send_lines(data, whole, 1, STDERR_MARK)
    } else {
        send_lines(data, whole, 2, "")
    }
}

/// Writes each line as one writev to `fd`: marker, line, newline (added when `whole` and
/// missing). No allocation: this may run anywhere.
unsafe fn send_lines(data: &[u8], whole: bool, fd: libc::c_int, mark: &str) -> libc::ssize_t {
    let mut start = 0;
    while start < data.len() {
        let end = match data[start..].iter().position(|b| *b == b'\n') {
            Some(i) => start + i + 1,
            None => data.len(),
        };
        let line = &data[start..end];
        let newline: &[u8] = if line.ends_with(b"\n") || !whole { b"" } else { b"\n" };
        let parts = [
            libc::iovec { iov_base: mark.as_ptr() as *mut libc::c_void, iov_len: mark.len() },
            libc::iovec { iov_base: line.as_ptr() as *mut libc::c_void, iov_len: line.len() },
            libc::iovec { iov_base: newline.as_ptr() as *mut libc::c_void, iov_len: newline.len() },
        ];
        if libc::syscall(libc::SYS_writev, fd, parts.as_ptr(), 3) < 0 {
            return -1;
        }
        start = end;
    }
    data.len() as libc::ssize_t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(data: &[u8], owed: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let left = utf8_pieces(data, owed, &mut |p| {
            assert!(std::str::from_utf8(p).is_ok() || p.len() < 4, "a piece that is not UTF-8: {p:?}");
            out.extend_from_slice(p)
        });
        (out, left)
    }

    #[test]
    fn bytes_that_cannot_be_utf8_become_replacement_characters() {
        assert_eq!(pieces(b"ab\xffcd\xc3(\n", 0), ("ab\u{FFFD}cd\u{FFFD}(\n".as_bytes().to_vec(), 0));
        assert_eq!(pieces(b"\x80\x80", 0), ("\u{FFFD}\u{FFFD}".as_bytes().to_vec(), 0));
    }

    #[test]
    fn a_character_cut_between_two_writes_passes_whole() {
        let euro = "\u{20AC}".as_bytes();
        let (first, owed) = pieces(&[b"x".as_slice(), &euro[..1]].concat(), 0);
        assert_eq!(owed, 2);
        let (second, owed) = pieces(&[&euro[1..], b"y".as_slice()].concat(), owed);
        assert_eq!(owed, 0);
        assert_eq!(String::from_utf8([first, second].concat()).unwrap(), "x\u{20AC}y");
    }
}
