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

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

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

/// The start of a character cut by the end of a write, held back until the next write to the
/// same stream (stdout, stderr) completes it: up to 3 bytes in the low 24 bits, their count in
/// the top 8. 0: none.
static HELD: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

/// # Safety
/// The contract of write(2): `buf` points to `count` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn write(fd: libc::c_int, buf: *const libc::c_void, count: libc::size_t) -> libc::ssize_t {
    if IN_CHILD.load(Ordering::Relaxed) && count > 0 && (fd == 1 || fd == 2) {
        let data = std::slice::from_raw_parts(buf as *const u8, count);
        let held = &HELD[fd as usize - 1];
        if held.load(Ordering::Relaxed) == 0 && std::str::from_utf8(data).is_ok() {
            return write_text(fd, data);
        }
        return write_as_utf8(fd, data, held);
    }
    libc::syscall(libc::SYS_write, fd, buf, count) as libc::ssize_t
}

/// evcxr reads the child's pipes as lines of UTF-8, and a line that is not UTF-8 ends its
/// reader (on stderr for the rest of the session). Bytes that cannot be UTF-8 become U+FFFD,
/// gathered in a buffer on the stack (this may run anywhere: no allocation, a small frame),
/// cut only between characters.
#[inline(never)]
unsafe fn write_as_utf8(fd: libc::c_int, data: &[u8], held: &AtomicU32) -> libc::ssize_t {
    let mut buf = [0u8; 1024];
    let mut len = 0;
    let (mut wrote_any, mut failed) = (false, false);
    let mut send = |bytes: &[u8]| {
        if write_text(fd, bytes) < 0 {
            failed = true;
        } else {
            wrote_any = true;
        }
    };
    let keep = utf8_write(data, held.swap(0, Ordering::SeqCst), &mut |mut piece, alone| {
        if alone {
            send(piece);
            return;
        }
        while !piece.is_empty() {
            let mut n = piece.len().min(buf.len() - len);
            // A piece that does not fit is cut only between characters.
            while n > 0 && n < piece.len() && piece[n] & 0xC0 == 0x80 {
                n -= 1;
            }
            if n == 0 {
                send(&buf[..len]);
                len = 0;
                continue;
            }
            buf[len..len + n].copy_from_slice(&piece[..n]);
            len += n;
            piece = &piece[n..];
            if len == buf.len() {
                send(&buf[..len]);
                len = 0;
            }
        }
    });
    if len > 0 {
        send(&buf[..len]);
    }
    held.store(keep, Ordering::SeqCst);
    // Nothing written: the caller may try again. Part written: say all, or it would be repeated.
    if failed && !wrote_any { -1 } else { data.len() as libc::ssize_t }
}

/// One write made UTF-8, given to `out` in pieces; `held` is what the write before held back
/// (see [`HELD`]), and the result is what this one holds back. The held character, finished or
/// replaced, comes first and alone (`true`), so that a marker line after it (evcxr's "execution
/// complete") still starts a write of its own.
fn utf8_write(data: &[u8], held: u32, out: &mut dyn FnMut(&[u8], bool)) -> u32 {
    let mut joined = [0u8; 4];
    let rest = match finish_held(unpack(held), data, &mut joined) {
        Held::Again(bytes) => return pack(bytes),
        Held::Finished(before, rest) => {
            if let Some(bytes) = before {
                out(bytes, true);
            }
            rest
        }
    };
    pack(utf8_pieces(rest, &mut |piece| out(piece, false)))
}

fn pack(bytes: &[u8]) -> u32 {
    bytes.iter().enumerate().fold((bytes.len() as u32) << 24, |acc, (i, b)| acc | (*b as u32) << (8 * i))
}

fn unpack(word: u32) -> ([u8; 3], usize) {
    let bytes = [word as u8, (word >> 8) as u8, (word >> 16) as u8];
    (bytes, (word >> 24) as usize)
}

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

enum Held<'a> {
    /// The held character made whole, or U+FFFD where the data does not go on with it (or
    /// nothing was held); and what of the data is left.
    Finished(Option<&'a [u8]>, &'a [u8]),
    /// The data ended before the character did: these bytes are held again.
    Again(&'a [u8]),
}

/// Joins the held start of a character with the first bytes of `data`.
fn finish_held<'a>((held, count): ([u8; 3], usize), data: &'a [u8], joined: &'a mut [u8; 4]) -> Held<'a> {
    if count == 0 {
        return Held::Finished(None, data);
    }
    let take = data.len().min(4 - count);
    joined[..count].copy_from_slice(&held[..count]);
    joined[count..count + take].copy_from_slice(&data[..take]);
    let first = joined[..count + take].utf8_chunks().next().expect("not empty");
    if let Some(c) = first.valid().chars().next() {
        let n = c.len_utf8();
        return Held::Finished(Some(&joined[..n]), &data[n - count..]);
    }
    let bad = first.invalid().len();
    if bad == count + take && take == data.len() && wanted(joined[0]) > bad {
        return Held::Again(&joined[..bad]);
    }
    Held::Finished(Some(REPLACEMENT), &data[bad.saturating_sub(count)..])
}

/// How many bytes a character that starts with `lead` has; 0 for a byte no character starts with.
fn wanted(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Gives `data` to `emit` in pieces that are UTF-8, with U+FFFD for each byte sequence that
/// cannot be. A character cut by the end of `data` is not given: it is returned, to be held.
fn utf8_pieces<'a>(data: &'a [u8], emit: &mut dyn FnMut(&[u8])) -> &'a [u8] {
    for chunk in data.utf8_chunks() {
        if !chunk.valid().is_empty() {
            emit(chunk.valid().as_bytes());
        }
        let bad = chunk.invalid();
        if bad.is_empty() {
            continue;
        }
        // Only a cut at the very end can be finished by the next write.
        let at_end = bad.as_ptr() as usize + bad.len() == data.as_ptr() as usize + data.len();
        if at_end && wanted(bad[0]) > bad.len() {
            return bad;
        }
        emit(REPLACEMENT);
    }
    &[]
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
        if !STDOUT_AT_LINE_START.load(Ordering::SeqCst) {
            // The cell's last line had no newline (`print!` and a flush): evcxr reads the
            // marker only as a line of its own, and would wait for it for ever.
            libc::syscall(libc::SYS_write, 1, b"\n".as_ptr(), 1);
        }
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

    /// What a run of writes to one stream puts on the pipe, and what stays held at the end.
    fn stream(writes: &[&[u8]]) -> (Vec<u8>, u32) {
        let (mut pipe, mut held) = (Vec::new(), 0);
        for data in writes {
            held = utf8_write(data, held, &mut |piece, _| pipe.extend_from_slice(piece));
        }
        (pipe, held)
    }

    fn text(writes: &[&[u8]]) -> String {
        let (pipe, _) = stream(writes);
        String::from_utf8(pipe).expect("the pipe carries UTF-8")
    }

    #[test]
    fn bytes_that_cannot_be_utf8_become_replacement_characters() {
        assert_eq!(text(&[b"ab\xffcd\xc3(\n"]), "ab\u{FFFD}cd\u{FFFD}(\n");
        assert_eq!(text(&[b"\x80\x80"]), "\u{FFFD}\u{FFFD}");
        // Overlong and out-of-range starts are not held as if they could be finished.
        assert_eq!(text(&[b"\xe0\x80\x80", b"z"]), "\u{FFFD}\u{FFFD}\u{FFFD}z");
        assert_eq!(text(&[b"\xf4\x90", b"z"]), "\u{FFFD}\u{FFFD}z");
        assert_eq!(text(&[b"\xe0", b"\x80\x80z"]), "\u{FFFD}\u{FFFD}\u{FFFD}z");
    }

    #[test]
    fn a_character_cut_between_writes_passes_whole() {
        let euro = "\u{20AC}".as_bytes();
        assert_eq!(text(&[&[b"x", &euro[..1]].concat(), &[&euro[1..], b"y"].concat()]), "x\u{20AC}y");
        // In three pieces, and a four-byte one cut after its first byte.
        assert_eq!(text(&[&euro[..1], &euro[1..2], &euro[2..], b"\n"]), "\u{20AC}\n");
        let crab = "\u{1F980}".as_bytes();
        assert_eq!(text(&[&crab[..1], &crab[1..]]), "\u{1F980}");
    }

    #[test]
    fn a_cut_character_that_is_never_finished_is_replaced_not_sent() {
        let euro = "\u{20AC}".as_bytes();
        // Nothing of it reaches the pipe while it may still be finished ...
        let (pipe, held) = stream(&[b"a", &euro[..1]]);
        assert_eq!((pipe, held != 0), (b"a".to_vec(), true));
        // ... and the next write that does not finish it gets U+FFFD first, alone.
        let mut pieces = Vec::new();
        utf8_write(b"EVCXR_EXECUTION_COMPLETE\n", held, &mut |piece, alone| pieces.push((piece.to_vec(), alone)));
        assert_eq!(pieces, vec![("\u{FFFD}".as_bytes().to_vec(), true), (b"EVCXR_EXECUTION_COMPLETE\n".to_vec(), false)]);
        assert_eq!(text(&[&euro[..2], b"b\n"]), "\u{FFFD}b\n");
    }
}
