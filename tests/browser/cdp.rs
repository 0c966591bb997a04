//! A small Chrome DevTools Protocol (CDP) client for browser tests of
//! self-contained HTML reports.
//!
//! # How it talks to the browser
//!
//! Chromium is started with `--remote-debugging-pipe`. In that mode it reads
//! CDP commands from file descriptor 3 and writes responses and events to file
//! descriptor 4; every message is one JSON object followed by a NUL byte.
//!
//! Why a pipe and not the usual websocket (`--remote-debugging-port`)?
//! * no extra dependency: a websocket needs an HTTP upgrade, framing and
//!   masking, i.e. a crate; a pipe needs `read`/`write` and `serde_json`;
//! * no port: nothing to pick, nothing to collide with when tests run in
//!   parallel, nothing another local user could connect to;
//! * the lifetime is tied to ours: when this process dies the pipe closes
//!   and Chromium shuts itself down.
//!
//! # Shape
//!
//! [`Browser`] owns the child process, a writer (fd 3) and a reader thread
//! (fd 4). The reader splits the stream on NUL, files responses by `id`,
//! queues events and, as events arrive, keeps the console errors of each
//! page. Every wait is bounded by a timeout ([`DEFAULT_TIMEOUT`]) and a
//! timeout error names the method it waited for.
//!
//! [`Page`] is one tab, attached with `flatten: true`, so its commands travel
//! on the same pipe with a `sessionId` field.
//!
//! ```ignore
//! use cdp::{Browser, Error};
//! let browser = match Browser::launch() {
//!     Ok(b) => b,
//!     Err(e @ Error::NotFound { .. }) => { eprintln!("skipping: {e}"); return; }
//!     Err(e) => panic!("{e}"),
//! };
//! let page = browser.new_page().unwrap();
//! let ms = page.navigate("file:///tmp/report.html").unwrap();
//! assert!(page.console_errors().is_empty(), "{:?}", page.console_errors());
//! # let _ = ms;
//! ```

// A test harness outside every simulation: its timeouts and temp-folder names use the
// real clock, which is what they are about.
#![allow(clippy::disallowed_types, clippy::disallowed_methods, dead_code)]

use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long any single wait (a response, an event) may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many events are kept; older ones are dropped first. Console errors
/// are extracted as events arrive, so dropping events never loses them.
const MAX_EVENTS: usize = 10_000;

/// The fixed flags. `--disable-background-networking`,
/// `--disable-component-update` and `--disable-sync` matter on machines
/// without network: without them Chromium keeps trying to reach Google
/// services. `--disable-dev-shm-usage` avoids crashes when `/dev/shm` is
/// small (containers).
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
];

/// Everything that can go wrong. Each variant says what was being done so
/// a failing test reads as a sentence.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No browser executable; `tried` lists every place looked at. Tests
    /// match on this variant to skip instead of fail.
    NotFound { tried: Vec<String> },
    /// The browser could not be started or did not answer its first command.
    Launch(String),
    /// A local I/O failure (pipe, file, temp dir).
    Io(String),
    /// No answer to `method` within `after`.
    Timeout { method: String, after: Duration },
    /// Chromium answered `method` with a CDP error.
    Protocol {
        method: String,
        code: i64,
        message: String,
    },
    /// The pipe closed (browser exited) while waiting for `method`.
    Closed { method: String, reason: String },
    /// `Page.navigate` reported an error such as `net::ERR_FILE_NOT_FOUND`.
    Navigate { url: String, error: String },
    /// The evaluated JavaScript threw (or its promise rejected).
    Js(String),
    /// [`Page::key`] does not know this key name.
    UnknownKey(String),
    /// Invalid base64 input.
    Base64(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { tried } => write!(
                f,
                "no Chromium found (tried: {}); install it (`apt-get install chromium`) \
                 or set CHROMIUM=/path/to/chromium",
                tried.join(", ")
            ),
            Error::Launch(m) => write!(f, "could not start Chromium: {m}"),
            Error::Io(m) => write!(f, "I/O error: {m}"),
            Error::Timeout { method, after } => {
                write!(f, "timed out after {after:?} waiting for {method}")
            }
            Error::Protocol {
                method,
                code,
                message,
            } => {
                write!(f, "{method} failed: CDP error {code}: {message}")
            }
            Error::Closed { method, reason } => {
                write!(
                    f,
                    "browser connection closed while waiting for {method}: {reason}"
                )
            }
            Error::Navigate { url, error } => write!(f, "navigation to {url} failed: {error}"),
            Error::Js(m) => write!(f, "JavaScript exception: {m}"),
            Error::UnknownKey(k) => write!(f, "unknown key name {k:?} for Page::key"),
            Error::Base64(m) => write!(f, "invalid base64: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand used throughout.
pub type Result<T> = std::result::Result<T, Error>;

fn os_err(what: &str) -> Error {
    Error::Io(format!("{what}: {}", std::io::Error::last_os_error()))
}

// ---------------------------------------------------------------------------
// Finding the browser
// ---------------------------------------------------------------------------

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds the browser: `$CHROMIUM` if set (and then only that: a wrong
/// explicit setting should fail loudly, not fall back), else
/// `/usr/bin/chromium`, `/usr/bin/chromium-browser`, then `chromium` on
/// `PATH`. The error lists everything tried.
pub fn find_chromium() -> Result<PathBuf> {
    if let Some(env) = std::env::var_os("CHROMIUM") {
        let p = PathBuf::from(&env);
        if is_executable(&p) {
            return Ok(p);
        }
        let tried = vec![format!("CHROMIUM={} (not an executable file)", p.display())];
        return Err(Error::NotFound { tried });
    }
    let mut tried = vec!["$CHROMIUM (unset)".to_string()];
    for fixed in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if is_executable(Path::new(fixed)) {
            return Ok(PathBuf::from(fixed));
        }
        tried.push(fixed.to_string());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join("chromium");
        if is_executable(&p) {
            return Ok(p);
        }
    }
    tried.push("`chromium` on PATH".to_string());
    Err(Error::NotFound { tried })
}

// ---------------------------------------------------------------------------
// Shared state between callers and the reader thread
// ---------------------------------------------------------------------------

/// One CDP event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Position in the stream of all events (starts at 0, never reused).
    pub seq: u64,
    /// The page session it belongs to; `None` for browser-level events.
    pub session_id: Option<String>,
    /// E.g. `Page.loadEventFired`.
    pub method: String,
    /// The event's `params` object.
    pub params: Value,
}

#[derive(Default)]
struct State {
    /// Responses not yet collected, by command id.
    responses: BTreeMap<u64, Value>,
    /// The most recent events (at most [`MAX_EVENTS`]).
    events: VecDeque<Event>,
    /// The `seq` the next event gets.
    next_seq: u64,
    /// Console errors by session id, in arrival order.
    errors: BTreeMap<String, Vec<String>>,
    /// Set once the reader stops: why.
    closed: Option<String>,
}

/// State plus the condition variable the reader signals on every message.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

impl Shared {
    /// Locks the state. A poisoned lock only means another thread panicked
    /// while holding it; the data is still consistent enough for tests.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `ready` returns `Some`, the pipe closes, or `timeout`
    /// passes. `what` names the awaited method for the error message.
    fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if let Some(v) = ready(&mut st) {
                return Ok(v);
            }
            if let Some(reason) = &st.closed {
                let (method, reason) = (what.to_string(), reason.clone());
                return Err(Error::Closed { method, reason });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    method: what.to_string(),
                    after: timeout,
                });
            }
            st = match self.cond.wait_timeout(st, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Files one message from the browser: a response (has `id`) or an
    /// event (has `method`).
    fn dispatch(&self, raw: &[u8]) {
        let msg: Value = match serde_json::from_slice(raw) {
            Ok(v) => v,
            Err(e) => {
                eprintln!(
                    "cdp: ignoring unparsable message ({e}): {}",
                    String::from_utf8_lossy(raw)
                );
                return;
            }
        };
        let mut st = self.lock();
        if let Some(id) = msg.get("id").and_then(Value::as_u64) {
            st.responses.insert(id, msg);
        } else if let Some(method) = msg.get("method").and_then(Value::as_str) {
            let session_id = msg
                .get("sessionId")
                .and_then(Value::as_str)
                .map(str::to_string);
            let params = msg.get("params").cloned().unwrap_or(Value::Null);
            if let (Some(sid), Some(text)) = (&session_id, console_error(method, &params)) {
                st.errors.entry(sid.clone()).or_default().push(text);
            }
            let seq = st.next_seq;
            st.next_seq += 1;
            st.events.push_back(Event {
                seq,
                session_id,
                method: method.to_string(),
                params,
            });
            if st.events.len() > MAX_EVENTS {
                st.events.pop_front();
            }
        }
        drop(st);
        self.cond.notify_all();
    }

    fn close(&self, reason: String) {
        self.lock().closed = Some(reason);
        self.cond.notify_all();
    }
}

/// The reader thread: splits fd 4 on NUL bytes until EOF (browser gone).
fn reader_loop(pipe: File, shared: Arc<Shared>) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    let reason = loop {
        buf.clear();
        match reader.read_until(0, &mut buf) {
            Ok(0) => break "pipe closed (browser exited)".to_string(),
            Ok(_) if buf.last() == Some(&0) => {
                buf.pop();
                shared.dispatch(&buf);
            }
            Ok(n) => break format!("pipe closed in the middle of a {n}-byte message"),
            Err(e) => break format!("read error: {e}"),
        }
    };
    shared.close(reason);
}

// ---------------------------------------------------------------------------
// Console errors
// ---------------------------------------------------------------------------

/// Text of a `Runtime.ExceptionDetails`: "Uncaught Error: msg" plus the
/// stack the description carries; a thrown primitive (`throw "oops"`) has
/// no description, so its value and "(url:line:col)" are used instead.
fn exception_text(details: &Value) -> String {
    let text = details
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or("exception");
    let description = details
        .pointer("/exception/description")
        .and_then(Value::as_str);
    let mut out = match (description, details.pointer("/exception/value")) {
        (Some(d), _) => format!("{text} {d}"),
        (None, Some(Value::String(v))) => format!("{text} {v}"),
        (None, Some(v)) => format!("{text} {v}"),
        (None, None) => text.to_string(),
    };
    // The description of an Error already ends with its stack ("at url:l:c").
    if let (None, Some(url)) = (description, details.get("url").and_then(Value::as_str)) {
        let line = details
            .get("lineNumber")
            .and_then(Value::as_i64)
            .unwrap_or(-1)
            + 1;
        let col = details
            .get("columnNumber")
            .and_then(Value::as_i64)
            .unwrap_or(-1)
            + 1;
        out.push_str(&format!(" ({url}:{line}:{col})"));
    }
    out
}

/// Renders console arguments like the DevTools console does, roughly:
/// strings as-is, other primitives as JSON, objects by their description.
fn args_text(args: &Value) -> String {
    let Some(args) = args.as_array() else {
        return String::new();
    };
    let parts: Vec<String> = args
        .iter()
        .map(|a| {
            match (
                a.get("value"),
                a.get("description"),
                a.get("unserializableValue"),
            ) {
                (Some(Value::String(s)), _, _) => s.clone(),
                (Some(v), _, _) => v.to_string(),
                (None, Some(Value::String(d)), _) => d.clone(),
                (None, _, Some(Value::String(u))) => u.clone(),
                _ => a
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
            }
        })
        .collect();
    parts.join(" ")
}

/// The one thing deliberately not reported: a failed `favicon.ico` fetch.
/// Browsers request `/favicon.ico` on their own, so a report page without
/// one would otherwise show a "404" error it did not cause.
fn is_favicon_noise(entry: &Value) -> bool {
    let url = entry.get("url").and_then(Value::as_str).unwrap_or("");
    entry.get("source").and_then(Value::as_str) == Some("network") && url.ends_with("/favicon.ico")
}

/// Turns an event into a console-error line, or `None` if it is not one.
/// Counted: uncaught exceptions and unhandled rejections
/// (`Runtime.exceptionThrown`), `console.error` and failed `console.assert`
/// (`Runtime.consoleAPICalled`), and browser-side errors such as failed
/// resource loads or CSP violations (`Log.entryAdded` at level "error").
fn console_error(method: &str, params: &Value) -> Option<String> {
    match method {
        "Runtime.exceptionThrown" => Some(format!(
            "exception: {}",
            exception_text(params.get("exceptionDetails")?)
        )),
        "Runtime.consoleAPICalled" => {
            let kind = params.get("type")?.as_str()?;
            let args = args_text(params.get("args")?);
            (kind == "error" || kind == "assert").then(|| format!("console.{kind}: {args}"))
        }
        "Log.entryAdded" => {
            let entry = params.get("entry")?;
            if entry.get("level")?.as_str()? != "error" || is_favicon_noise(entry) {
                return None;
            }
            let source = entry.get("source").and_then(Value::as_str).unwrap_or("?");
            let text = entry.get("text").and_then(Value::as_str).unwrap_or("");
            let url = entry.get("url").and_then(Value::as_str).unwrap_or("");
            let at = if url.is_empty() {
                String::new()
            } else {
                format!(" ({url})")
            };
            Some(format!("log.{source}: {text}{at}"))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The connection: writer half plus shared state
// ---------------------------------------------------------------------------

struct Conn {
    /// Our end of Chromium's fd 3.
    writer: Mutex<File>,
    next_id: AtomicU64,
    shared: Arc<Shared>,
}

impl Conn {
    /// Sends one command and waits for its response's `result`.
    fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(sid) = session {
            msg["sessionId"] = Value::String(sid.to_string());
        }
        let mut bytes =
            serde_json::to_vec(&msg).map_err(|e| Error::Io(format!("encode {method}: {e}")))?;
        bytes.push(0);
        {
            let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = w.write_all(&bytes).and_then(|_| w.flush()) {
                let reason = format!("write failed: {e}");
                return Err(Error::Closed {
                    method: method.to_string(),
                    reason,
                });
            }
        }
        let resp = self
            .shared
            .wait_for(method, timeout, |st| st.responses.remove(&id))?;
        if let Some(err) = resp.get("error") {
            let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
            let mut message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(data) = err.get("data").and_then(Value::as_str) {
                message = format!("{message} ({data})");
            }
            return Err(Error::Protocol {
                method: method.to_string(),
                code,
                message,
            });
        }
        Ok(resp.get("result").cloned().unwrap_or(Value::Null))
    }
}

// ---------------------------------------------------------------------------
// Launching
// ---------------------------------------------------------------------------

/// Knobs for [`Browser::launch_with`]; `Default` is what [`Browser::launch`] uses.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// Browser executable; `None` means [`find_chromium`].
    pub executable: Option<PathBuf>,
    /// Default timeout of every wait, inherited by pages.
    pub timeout: Duration,
    /// `--window-size`, also the initial viewport of new pages.
    pub window_size: (u32, u32),
    /// Extra command-line flags appended after the fixed ones.
    pub extra_args: Vec<String>,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions {
            executable: None,
            timeout: DEFAULT_TIMEOUT,
            window_size: (1400, 900),
            extra_args: Vec::new(),
        }
    }
}

/// A fresh, unique directory under the system temp dir (no `tempfile`
/// crate): pid + time + counter, and `create_dir` refuses existing ones.
fn fresh_temp_dir() -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cdp-{}-{nanos}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::Io(format!("create {}: {e}", dir.display()))),
        }
    }
    Err(Error::Io("could not create a unique temp dir".into()))
}

/// A pipe whose ends are close-on-exec and numbered 10 or above.
///
/// Close-on-exec (set atomically by `pipe2`, so no other thread's
/// fork can catch them without it) keeps these ends out of every other
/// process we or a parallel test spawn: if a stray copy of the write end of
/// Chromium's output lived on, we would never see EOF when Chromium exits.
/// Numbering them >= 10 guarantees they are not 3 or 4 themselves, so the
/// `dup2` onto 3 and 4 in the child cannot clobber one with the other.
fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(os_err("pipe2"));
    }
    // SAFETY: pipe2 succeeded, so both are fresh fds owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((move_high(r)?, move_high(w)?))
}

/// Duplicates `fd` to the lowest free number >= 10 (close-on-exec) and
/// closes the original.
fn move_high(fd: OwnedFd) -> Result<OwnedFd> {
    // SAFETY: `fd` is open; F_DUPFD_CLOEXEC returns a new fd or -1.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if new < 0 {
        return Err(os_err("fcntl(F_DUPFD_CLOEXEC)"));
    }
    // SAFETY: fcntl just created `new`; we are its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Spawns Chromium with our pipes as its fd 3 (commands in) and fd 4
/// (messages out); returns the child and our two ends (write, read).
fn spawn_with_pipes(mut cmd: Command) -> Result<(Child, File, File)> {
    let (cmd_read, cmd_write) = cloexec_pipe()?;
    let (out_read, out_write) = cloexec_pipe()?;
    let (child_in, child_out) = (cmd_read.as_raw_fd(), out_write.as_raw_fd());
    // SAFETY: the closure runs in the forked child before exec and only
    // calls dup2, which is async-signal-safe. dup2 clears close-on-exec on
    // the new numbers 3 and 4; the originals (>= 10) still close at exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(child_in, 3) < 0 || libc::dup2(child_out, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::Launch(format!("spawn: {e}")))?;
    // Close the child's ends here; otherwise our own copy of the write end
    // of fd 4 would keep the reader from ever seeing EOF.
    drop(cmd_read);
    drop(out_write);
    Ok((child, File::from(cmd_write), File::from(out_read)))
}

/// The last ~2 KB of Chromium's stderr, to explain a failed start.
fn log_tail(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let start = s.len().saturating_sub(2000);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].trim().to_string()
}

/// A running headless Chromium. Dropping it closes the browser, kills its
/// whole process group and deletes the temporary profile.
pub struct Browser {
    conn: Arc<Conn>,
    child: Child,
    dir: PathBuf,
    reader: Option<JoinHandle<()>>,
    timeout: Duration,
    version: String,
}

impl Browser {
    /// Finds and starts Chromium with default options.
    pub fn launch() -> Result<Browser> {
        Browser::launch_with(LaunchOptions::default())
    }

    /// Starts Chromium, then checks the pipe works with `Browser.getVersion`.
    /// On failure the error carries the tail of Chromium's stderr.
    pub fn launch_with(opts: LaunchOptions) -> Result<Browser> {
        let exe = match opts.executable.clone() {
            Some(p) => p,
            None => find_chromium()?,
        };
        let dir = fresh_temp_dir()?;
        let log_path = dir.join("chromium.stderr.log");
        let log = File::create(&log_path).map_err(|e| Error::Io(format!("create log: {e}")))?;
        let mut cmd = Command::new(&exe);
        cmd.args(FLAGS)
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg(format!(
                "--window-size={},{}",
                opts.window_size.0, opts.window_size.1
            ))
            .args(&opts.extra_args)
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            // Own process group: Drop can then kill the renderer, GPU and
            // zygote helpers too, not only the main process.
            .process_group(0);
        let (child, writer, reader_file) = match spawn_with_pipes(cmd) {
            Ok(parts) => parts,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let shared = Arc::new(Shared::default());
        let for_thread = Arc::clone(&shared);
        let reader = std::thread::Builder::new()
            .name("cdp-reader".into())
            .spawn(move || reader_loop(reader_file, for_thread))
            .map_err(|e| Error::Io(format!("spawn reader thread: {e}")));
        let conn = Arc::new(Conn {
            writer: Mutex::new(writer),
            next_id: AtomicU64::new(1),
            shared,
        });
        let mut browser = Browser {
            conn,
            child,
            dir,
            reader: None,
            timeout: opts.timeout,
            version: String::new(),
        };
        browser.reader = Some(reader?);
        let v = browser.call("Browser.getVersion", json!({})).map_err(|e| {
            Error::Launch(format!(
                "{} ({e}); stderr: {}",
                exe.display(),
                log_tail(&log_path)
            ))
        })?;
        browser.version = v
            .get("product")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        Ok(browser)
    }

    /// E.g. "HeadlessChrome/120.0.6099.224".
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The temporary directory holding the profile and `chromium.stderr.log`.
    pub fn temp_dir(&self) -> &Path {
        &self.dir
    }

    /// A browser-level command (no session), e.g. `Target.getTargets`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.conn.call(None, method, params, self.timeout)
    }

    /// Opens a new tab on `about:blank`, attaches to it (flattened session)
    /// and enables the Page, Runtime and Log domains, so that load events
    /// and console errors are collected from the start.
    pub fn new_page(&self) -> Result<Page<'_>> {
        let t = self.call("Target.createTarget", json!({ "url": "about:blank" }))?;
        let target_id = str_field(&t, "targetId", "Target.createTarget")?;
        let a = self.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        )?;
        let session_id = str_field(&a, "sessionId", "Target.attachToTarget")?;
        let page = Page {
            browser: self,
            target_id,
            session_id,
            timeout: self.timeout,
        };
        page.enable()?;
        Ok(page)
    }

    /// Polls (without reaping) until the main process has exited.
    fn wait_exit_unreaped(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            // SAFETY: zeroed siginfo_t is a valid out-parameter; WNOWAIT
            // leaves the child waitable, so its pid (= our process group
            // id) cannot be reused before we kill the group below.
            let exited = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
                libc::waitid(libc::P_PID, self.child.id(), &mut info, flags) == 0
                    && info.si_pid() != 0
            };
            if exited {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

fn str_field(v: &Value, key: &str, method: &str) -> Result<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Protocol {
            method: method.to_string(),
            code: 0,
            message: format!("response has no string `{key}`: {v}"),
        })
}

impl Drop for Browser {
    /// Asks Chromium to close, gives it a few seconds, then SIGKILLs the
    /// whole process group (helpers included), reaps the child, joins the
    /// reader if the pipe closed, and removes the temporary profile.
    fn drop(&mut self) {
        let open = self.conn.shared.lock().closed.is_none();
        if open {
            let _ = self
                .conn
                .call(None, "Browser.close", json!({}), Duration::from_secs(3));
        }
        self.wait_exit_unreaped(Duration::from_secs(5));
        if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: plain syscall; the group is ours (process_group(0)).
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
        let closed = self
            .conn
            .shared
            .wait_for("pipe close", Duration::from_secs(2), |st| st.closed.clone());
        if let (Ok(_), Some(h)) = (closed, self.reader.take()) {
            let _ = h.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------

/// One tab. Borrowing the [`Browser`] makes "page outlives browser" a
/// compile error. Dropping a page closes its tab.
pub struct Page<'b> {
    browser: &'b Browser,
    target_id: String,
    session_id: String,
    timeout: Duration,
}

impl<'b> Page<'b> {
    /// The flattened CDP session id of this tab.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Changes the timeout of this page's waits (default: the browser's).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Any CDP command on this tab's session; returns the `result` object.
    pub fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.browser
            .conn
            .call(Some(&self.session_id), method, params, self.timeout)
    }

    /// Enables Page (load events), Runtime (console API calls, exceptions)
    /// and Log (network/security errors). Idempotent; `new_page` calls it.
    pub fn enable(&self) -> Result<()> {
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            self.call(domain, json!({}))?;
        }
        Ok(())
    }

    /// The `seq` the next event will get: take it *before* triggering
    /// something, then [`Page::wait_event_since`] cannot miss the event.
    pub fn event_mark(&self) -> u64 {
        self.browser.conn.shared.lock().next_seq
    }

    /// Waits for an event of this tab named `method` with `seq >= mark`;
    /// returns its params.
    pub fn wait_event_since(&self, method: &str, mark: u64) -> Result<Value> {
        let sid = self.session_id.as_str();
        self.browser
            .conn
            .shared
            .wait_for(method, self.timeout, |st| {
                st.events
                    .iter()
                    .find(|e| {
                        e.seq >= mark && e.method == method && e.session_id.as_deref() == Some(sid)
                    })
                    .map(|e| e.params.clone())
            })
    }

    /// All retained events of this tab, oldest first (for debugging).
    pub fn events(&self) -> Vec<Event> {
        let st = self.browser.conn.shared.lock();
        st.events
            .iter()
            .filter(|e| e.session_id.as_deref() == Some(self.session_id.as_str()))
            .cloned()
            .collect()
    }

    /// Navigates and waits for `Page.loadEventFired`; returns the page's own
    /// load time in ms (`loadEventEnd - navigationStart`).
    ///
    /// A change of only the `#fragment` of the current URL is a
    /// same-document navigation: no new load happens and no load event
    /// fires (CDP then omits `loaderId`), so this returns at once with the
    /// existing document's load time. `hashchange` is dispatched
    /// asynchronously, so to observe its effects, poll with [`Page::eval`].
    pub fn navigate(&self, url: &str) -> Result<f64> {
        let mark = self.event_mark();
        let r = self.call("Page.navigate", json!({ "url": url }))?;
        if let Some(err) = r.get("errorText").and_then(Value::as_str) {
            return Err(Error::Navigate {
                url: url.to_string(),
                error: err.to_string(),
            });
        }
        if r.get("loaderId").is_some() {
            self.wait_event_since("Page.loadEventFired", mark)?;
        }
        self.load_time_ms()
    }

    /// `performance.timing.loadEventEnd - navigationStart`, polling until
    /// `loadEventEnd` is set (it is 0 while load handlers still run, which
    /// is exactly when `Page.loadEventFired` arrives).
    pub fn load_time_ms(&self) -> Result<f64> {
        let js = "new Promise(done => { const poll = () => { const t = performance.timing; \
                  if (t.loadEventEnd > 0) done(t.loadEventEnd - t.navigationStart); \
                  else setTimeout(poll, 5); }; poll(); })";
        let v = self.eval(js)?;
        v.as_f64()
            .ok_or_else(|| Error::Js(format!("load time is not a number: {v}")))
    }

    /// Evaluates `js` in the page (promises are awaited) and returns the
    /// result as JSON (`undefined` becomes `null`; DOM nodes become `{}`).
    /// A thrown exception or rejected promise becomes [`Error::Js`].
    pub fn eval(&self, js: &str) -> Result<Value> {
        let params = json!({ "expression": js, "returnByValue": true, "awaitPromise": true });
        let r = self.call("Runtime.evaluate", params)?;
        if let Some(details) = r.get("exceptionDetails") {
            return Err(Error::Js(exception_text(details)));
        }
        Ok(r.pointer("/result/value").cloned().unwrap_or(Value::Null))
    }

    /// Console errors of this tab so far, in order: uncaught exceptions and
    /// unhandled rejections, `console.error`, failed `console.assert`, and
    /// `Log` entries at level "error". Only favicon.ico load failures are
    /// left out (browsers request that file on their own).
    pub fn console_errors(&self) -> Vec<String> {
        let st = self.browser.conn.shared.lock();
        st.errors.get(&self.session_id).cloned().unwrap_or_default()
    }

    /// Forgets the console errors collected so far.
    pub fn clear_console_errors(&self) {
        self.browser
            .conn
            .shared
            .lock()
            .errors
            .remove(&self.session_id);
    }

    /// Presses and releases one key as a real keyboard would (trusted
    /// `keydown`, `keypress` for printable keys, `keyup`). `key` is a DOM
    /// `KeyboardEvent.key` value: a letter, digit, "+", "-", "=", " ",
    /// "?", "/", ".", ",", or "Enter", "Escape", "Tab", "Backspace",
    /// "Delete", "Home", "End", "PageUp", "PageDown", "ArrowLeft" etc.
    pub fn key(&self, key: &str) -> Result<()> {
        let k = key_info(key).ok_or_else(|| Error::UnknownKey(key.to_string()))?;
        let modifiers = if k.shift { 8 } else { 0 };
        let mut down = json!({
            "type": if k.text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": key, "code": k.code, "modifiers": modifiers,
            "windowsVirtualKeyCode": k.vk, "nativeVirtualKeyCode": k.vk,
        });
        if let Some(text) = k.text {
            down["text"] = json!(text);
            down["unmodifiedText"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", down)?;
        let up = json!({
            "type": "keyUp", "key": key, "code": k.code, "modifiers": modifiers,
            "windowsVirtualKeyCode": k.vk, "nativeVirtualKeyCode": k.vk,
        });
        self.call("Input.dispatchKeyEvent", up)?;
        Ok(())
    }

    /// Sets the viewport (CSS pixels, scale 1, desktop).
    pub fn set_viewport(&self, width: u32, height: u32) -> Result<()> {
        let p =
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false });
        self.call("Emulation.setDeviceMetricsOverride", p)?;
        Ok(())
    }

    /// Captures the viewport as PNG and writes it to `path`; returns the
    /// number of bytes written.
    pub fn screenshot_png(&self, path: impl AsRef<Path>) -> Result<usize> {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }))?;
        let data = str_field(&r, "data", "Page.captureScreenshot")?;
        let png = base64_decode(&data)?;
        let path = path.as_ref();
        std::fs::write(path, &png)
            .map_err(|e| Error::Io(format!("write {}: {e}", path.display())))?;
        Ok(png.len())
    }
}

impl Drop for Page<'_> {
    /// Closes the tab (best effort: errors are moot once the browser is gone).
    fn drop(&mut self) {
        let params = json!({ "targetId": self.target_id });
        let _ = self
            .browser
            .conn
            .call(None, "Target.closeTarget", params, Duration::from_secs(5));
        self.clear_console_errors();
    }
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// What `Input.dispatchKeyEvent` needs besides the `key` value, for a US
/// keyboard layout: the physical `code`, the Windows virtual key code
/// (Chromium derives `keyCode`/`which` from it), the text a keypress
/// inserts, and whether Shift is held (e.g. "+" is Shift + "=").
struct KeyInfo {
    code: String,
    vk: u32,
    text: Option<String>,
    shift: bool,
}

fn key_info(key: &str) -> Option<KeyInfo> {
    let named = |code: &str, vk: u32, text: Option<&str>| KeyInfo {
        code: code.to_string(),
        vk,
        text: text.map(str::to_string),
        shift: false,
    };
    let punct = |code: &str, vk: u32, shift: bool| KeyInfo {
        code: code.to_string(),
        vk,
        text: Some(key.to_string()),
        shift,
    };
    let mut chars = key.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if c.is_ascii_alphabetic() {
            let up = c.to_ascii_uppercase();
            let (code, vk) = (format!("Key{up}"), up as u32);
            return Some(KeyInfo {
                code,
                vk,
                text: Some(key.to_string()),
                shift: c.is_ascii_uppercase(),
            });
        }
        if c.is_ascii_digit() {
            return Some(KeyInfo {
                code: format!("Digit{c}"),
                vk: c as u32,
                text: Some(key.to_string()),
                shift: false,
            });
        }
    }
    Some(match key {
        "+" => punct("Equal", 187, true),
        "=" => punct("Equal", 187, false),
        "-" => punct("Minus", 189, false),
        "_" => punct("Minus", 189, true),
        "?" => punct("Slash", 191, true),
        "/" => punct("Slash", 191, false),
        "." => punct("Period", 190, false),
        "," => punct("Comma", 188, false),
        " " => punct("Space", 32, false),
        "Enter" => named("Enter", 13, Some("\r")),
        "Escape" => named("Escape", 27, None),
        "Tab" => named("Tab", 9, None),
        "Backspace" => named("Backspace", 8, None),
        "Delete" => named("Delete", 46, None),
        "Home" => named("Home", 36, None),
        "End" => named("End", 35, None),
        "PageUp" => named("PageUp", 33, None),
        "PageDown" => named("PageDown", 34, None),
        "ArrowLeft" => named("ArrowLeft", 37, None),
        "ArrowUp" => named("ArrowUp", 38, None),
        "ArrowRight" => named("ArrowRight", 39, None),
        "ArrowDown" => named("ArrowDown", 40, None),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Base64
// ---------------------------------------------------------------------------

fn b64_value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes standard base64 (RFC 4648 alphabet, `=` padding optional),
/// which is how CDP ships binary data such as screenshots. Each symbol
/// carries 6 bits; bits are shifted into an accumulator and a byte is
/// emitted whenever 8 are available. Rejects foreign characters, data after
/// padding, and a dangling single symbol (6 bits cannot make a byte).
pub fn base64_decode(s: &str) -> Result<Vec<u8>> {
    let input = s.trim_end_matches('=');
    let padding = s.len() - input.len();
    if padding > 2 || (padding > 0 && s.len() % 4 != 0) {
        return Err(Error::Base64(format!(
            "bad padding ({padding} '=' for length {})",
            s.len()
        )));
    }
    if input.len() % 4 == 1 {
        return Err(Error::Base64("dangling final symbol".into()));
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for (i, c) in input.bytes().enumerate() {
        let v =
            b64_value(c).ok_or_else(|| Error::Base64(format!("byte {c:#04x} at offset {i}")))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference encoder, test-only, to round-trip the decoder.
    fn encode(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn base64_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ];
        for (enc, dec) in cases {
            assert_eq!(base64_decode(enc).unwrap(), dec.as_bytes(), "{enc}");
        }
    }

    #[test]
    fn base64_unpadded_and_all_bytes() {
        assert_eq!(base64_decode("Zg").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8").unwrap(), b"fo");
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..all.len() {
            assert_eq!(base64_decode(&encode(&all[..len])).unwrap(), &all[..len]);
        }
        assert_eq!(base64_decode("iVBORw0KGgo=").unwrap(), b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn base64_rejects_garbage() {
        for bad in [
            "Z", "Zm9vY", "Zm9v!", "Zg=a", "Zg===", "Z===", "Zm8=Zm8=", "Zm 9v", "Zg=",
        ] {
            assert!(base64_decode(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn console_error_classification() {
        let p = json!({"type": "error", "args": [{"type": "string", "value": "boom"}, {"type": "number", "value": 3}]});
        assert_eq!(
            console_error("Runtime.consoleAPICalled", &p).as_deref(),
            Some("console.error: boom 3")
        );
        let p = json!({"type": "log", "args": [{"type": "string", "value": "hi"}]});
        assert_eq!(console_error("Runtime.consoleAPICalled", &p), None);
        let fav = json!({"entry": {"level": "error", "source": "network", "text": "404", "url": "file:///x/favicon.ico"}});
        assert_eq!(console_error("Log.entryAdded", &fav), None);
        let net = json!({"entry": {"level": "error", "source": "network", "text": "404", "url": "file:///x/a.js"}});
        assert_eq!(
            console_error("Log.entryAdded", &net).as_deref(),
            Some("log.network: 404 (file:///x/a.js)")
        );
    }

    #[test]
    fn keys_map_to_codes() {
        let plus = key_info("+").unwrap();
        assert_eq!(
            (plus.code.as_str(), plus.vk, plus.shift),
            ("Equal", 187, true)
        );
        assert_eq!(key_info("n").unwrap().code, "KeyN");
        assert_eq!(key_info("0").unwrap().vk, 48);
        assert!(key_info("F13").is_none());
    }

    #[test]
    fn not_found_error_names_what_was_tried() {
        let e = Error::NotFound {
            tried: vec!["/usr/bin/chromium".into()],
        };
        assert!(e.to_string().contains("/usr/bin/chromium"));
    }
}
