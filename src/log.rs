//! Where log lines go, and how their time is written.
//!
//! A busy server logs one line per request. Handing each line to a writer thread
//! wakes that thread once per line, and writing each line costs a system call; on
//! a small machine that kernel work competes with the requests themselves. Here a
//! request appends its line to a shared buffer, and a background thread writes
//! whatever has gathered every [`FLUSH_INTERVAL`], in one write. No line is dropped:
//! a buffer that reaches [`OVERFLOW`] is written at once by the thread that filled
//! it, and [`FlushGuard`] writes the rest when the program ends.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};

/// How long the background thread lets lines gather before writing them.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// Bytes of waiting lines at which the thread adding a line writes them itself.
pub const OVERFLOW: usize = 256 * 1024;

/// Capacity a buffer keeps between writes; a burst may grow it, and it is given
/// back afterwards so that an idle server holds little.
const KEPT_CAPACITY: usize = 64 * 1024;

/// Lines waiting to be written.
#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when lines arrive in an empty buffer, and at close.
    arrived: Condvar,
    /// The destination and a spare buffer; held while writing, so that batches
    /// reach the destination in the order they were taken.
    out: Mutex<Output>,
}

struct Output {
    destination: Box<dyn Write + Send>,
    spare: Vec<u8>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding a log lock leaves plain bytes behind; keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Writes every waiting line to the destination.
    fn write_out(&self) {
        let mut out = lock(&self.out);
        let Output { destination, spare } = &mut *out;
        std::mem::swap(&mut lock(&self.pending).lines, spare);
        if spare.is_empty() {
            return;
        }
        // Nowhere to report a failing log destination; the lines are dropped.
        let _ = destination
            .write_all(spare)
            .and_then(|()| destination.flush());
        spare.clear();
        spare.shrink_to(KEPT_CAPACITY);
    }
}

/// The [`MakeWriter`] the subscriber formats lines into.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BatchedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedWriter").finish_non_exhaustive()
    }
}

/// Ends the background thread and writes what is left, when dropped.
#[must_use = "dropping the guard stops the log writer"]
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FlushGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlushGuard").finish_non_exhaustive()
    }
}

/// A writer for log lines bound for `destination`, and the guard that flushes it.
///
/// # Errors
/// When the background thread cannot be started.
pub fn batched(
    destination: impl Write + Send + 'static,
    interval: Duration,
) -> io::Result<(BatchedWriter, FlushGuard)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        arrived: Condvar::new(),
        out: Mutex::new(Output {
            destination: Box::new(destination),
            spare: Vec::new(),
        }),
    });
    let background = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("vault-kms-log".to_owned())
        .spawn(move || flush_periodically(&background, interval))?;
    Ok((
        BatchedWriter {
            shared: Arc::clone(&shared),
        },
        FlushGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn flush_periodically(shared: &Shared, interval: Duration) {
    loop {
        let closed = {
            let mut pending = lock(&shared.pending);
            while pending.lines.is_empty() && !pending.closed {
                pending = shared
                    .arrived
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            // Let more lines gather for one interval; closing cuts the wait short.
            let deadline = Instant::now() + interval;
            while !pending.closed {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                pending = shared
                    .arrived
                    .wait_timeout(pending, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            pending.closed
        };
        shared.write_out();
        if closed {
            return;
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        lock(&self.shared.pending).closed = true;
        self.shared.arrived.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Lines logged after the thread's last write.
        self.shared.write_out();
    }
}

/// One formatted line on its way into the shared buffer.
#[derive(Debug)]
pub struct LineWriter<'a> {
    writer: &'a BatchedWriter,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let shared = &self.writer.shared;
        let mut pending = lock(&shared.pending);
        let was_empty = pending.lines.is_empty();
        pending.lines.extend_from_slice(line);
        let full = pending.lines.len() >= OVERFLOW;
        drop(pending);
        if full {
            shared.write_out();
        } else if was_empty {
            shared.arrived.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { writer: self }
    }
}

/// Fields as `name=value` pairs separated by spaces, the message first as it is:
/// the layout of tracing's default text format without its styling. Strings are
/// quoted, and escaped as Rust's `Debug` does only when they hold a quote, a
/// backslash or a control character; numbers are written without `fmt` machinery.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> std::fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: std::fmt::Result,
}

impl PlainVisitor<'_> {
    /// Writes the separator and `name=` (nothing for the message), then `value`.
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> std::fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if !self.first {
                self.writer.write_char(' ')?;
            }
            self.first = false;
            if field.name() != "message" {
                self.writer.write_str(field.name())?;
                self.writer.write_char('=')?;
            }
            value(&mut self.writer)
        })();
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let plain = !value
            .bytes()
            .any(|b| b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f);
        self.field(field, |w| {
            if plain {
                w.write_char('"')?;
                w.write_str(value)?;
                w.write_char('"')
            } else {
                write!(w, "{value:?}")
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, |w| write!(w, "{value:?}"));
    }
}

/// The time of a line in UTC, as `2026-01-31T23:59:59.123456Z` (RFC 3339 with
/// microseconds). The text up to the second is kept per thread and reused while the
/// second lasts, so most lines only write their microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct UtcMicros;

std::thread_local! {
    static SECOND: std::cell::RefCell<(u64, String)> = const {
        std::cell::RefCell::new((u64::MAX, String::new()))
    };
}

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = now.as_secs();
        SECOND.with(|cached| {
            let mut cached = cached.borrow_mut();
            if cached.0 != seconds {
                cached.1 = second_text(seconds);
                cached.0 = seconds;
            }
            w.write_str(&cached.1)
        })?;
        let mut fraction = *b".000000Z";
        let mut micros = now.subsec_micros();
        for digit in fraction[1..7].iter_mut().rev() {
            // `micros % 10` is below 10, so the cast keeps every bit.
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        // Only ASCII digits and punctuation went in.
        w.write_str(std::str::from_utf8(&fraction).map_err(|_| std::fmt::Error)?)
    }
}

/// `YYYY-MM-DDTHH:MM:SS` for a count of seconds since the Unix epoch.
fn second_text(seconds: u64) -> String {
    let Ok(at) = i64::try_from(seconds)
        .map_err(|_| ())
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).map_err(|_| ()))
    else {
        return String::from("9999-12-31T23:59:59");
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A destination the test can read, counting the writes it receives.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut sink = lock(&self.0);
            sink.0.extend_from_slice(buf);
            sink.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn write_line(writer: &BatchedWriter, line: &str) {
        writer.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn lines_arrive_in_order_in_few_writes_and_all_are_written_at_the_end() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone(), Duration::from_millis(50)).unwrap();
        let lines: Vec<String> = (0..1000).map(|i| format!("line {i}\n")).collect();
        for line in &lines {
            write_line(&writer, line);
        }
        drop(guard);
        let (written, writes) = lock(&sink.0).clone();
        assert_eq!(String::from_utf8(written).unwrap(), lines.concat());
        assert!(writes < 10, "{writes} writes for 1000 lines");
    }

    #[test]
    fn a_line_reaches_the_destination_within_the_interval_without_a_flush() {
        let sink = Sink::default();
        let (writer, _guard) = batched(sink.clone(), Duration::from_millis(5)).unwrap();
        write_line(&writer, "started\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while lock(&sink.0).0.is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line never came");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(lock(&sink.0).0, b"started\n");
    }

    #[test]
    fn a_full_buffer_is_written_by_the_thread_that_filled_it_in_order() {
        let sink = Sink::default();
        // An interval long enough that only overflow and the guard write.
        let (writer, guard) = batched(sink.clone(), Duration::from_secs(3600)).unwrap();
        let line = "x".repeat(1023) + "\n";
        for _ in 0..(3 * OVERFLOW / line.len()) {
            write_line(&writer, &line);
        }
        assert!(lock(&sink.0).1 >= 2, "overflow did not write");
        write_line(&writer, "last\n");
        drop(guard);
        let written = String::from_utf8(lock(&sink.0).0.clone()).unwrap();
        assert!(written.ends_with("last\n"));
        assert_eq!(written.len(), 3 * OVERFLOW / line.len() * line.len() + 5);
    }

    #[test]
    fn fields_are_written_as_the_default_text_format_writes_them_without_styling() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone(), Duration::from_millis(1)).unwrap();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .fmt_fields(PlainFields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                method = %"POST",
                route = "transit/encrypt/:name",
                status = 200u16,
                delta = -3i64,
                odd = "a \"quoted\"\tvalue",
                "request"
            );
        });
        drop(guard);
        let line = String::from_utf8(lock(&sink.0).0.clone()).unwrap();
        assert_eq!(
            line,
            " INFO request method=POST route=\"transit/encrypt/:name\" status=200 delta=-3 \
             odd=\"a \\\"quoted\\\"\\tvalue\"\n"
        );
    }

    #[test]
    fn times_are_rfc3339_with_microseconds_in_utc() {
        assert_eq!(second_text(0), "1970-01-01T00:00:00");
        assert_eq!(second_text(1_796_400_000), "2026-12-04T16:00:00");
        let mut text = String::new();
        UtcMicros.format_time(&mut Writer::new(&mut text)).unwrap();
        let parsed =
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .unwrap();
        let now = time::OffsetDateTime::now_utc();
        assert!((now - parsed).abs() < time::Duration::seconds(5), "{text}");
        assert_eq!(text.len(), "2026-12-04T16:00:00.000000Z".len(), "{text}");
    }
}
