//! MySQL/MariaDB: the walks that run on the server (a batched data change's stored procedure, the
//! procedures of backfill stage files) pause for replica lag too. A primary does not know its
//! replicas' lag, and while the stage file's `CALL` runs, `apply`'s own session is busy; so the
//! signal is a server-wide named lock, [`THROTTLE_LOCK`]. Before each batch the walk looks at who
//! holds it (templates/mysql/pause.sql, one `IS_USED_LOCK` a batch) and waits while another
//! session does. While `apply` runs a stage file with such a walk and `--max-replica-lag` with
//! `--replica-url` is set, a [`LagWatch`] (a thread with its own session to the primary and the
//! replicas' sessions of `throttle.rs`) looks at the replicas about twice a second and holds the
//! lock while any lags above the limit (or is not replicating), releasing it once all are
//! within it. Server-wide on purpose: replication lag is the whole server's, so every walk of
//! every plan on the server waits. Nobody holds it under `mariadb <` alone, and a person may hold
//! it (`SELECT GET_LOCK('safeshift_throttle', 0)`) to pause the walks by hand, like gh-ost's
//! throttle flag.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mysql::Conn;
use mysql::prelude::Queryable;

use super::run::{Observer, RunError, RunOptions};
use super::throttle::Replicas;
use crate::db::mysql::{self as my, quote_literal};
use crate::rehearse::values::Probe;

/// The named lock whose holder pauses every walk on the server (at most 64 characters, as
/// MySQL's lock names are). A session may look at another with `@safeshift_throttle_lock`.
pub const THROTTLE_LOCK: &str = "safeshift_throttle";

/// The label of the look before each batch of a walk on the server (templates/mysql/pause.sql),
/// in files planned before it looked at the lock too.
const WALK_LOOKS: &str = "safeshift_pause: BEGIN";

/// How often the watcher looks at the replicas.
const POLL: Duration = Duration::from_millis(500);
/// How often a long hold says it still lasts.
const TELL_EVERY: Duration = Duration::from_secs(10);

/// What the watcher saw, for the observer (which lives on the thread that runs the file).
enum Said {
    /// It holds the lock, and why ([`Observer::throttled`]).
    Holding(String),
    /// It released the lock after holding it this long ([`Observer::paused`]).
    Released(Duration, String),
    /// Anything else worth a line ([`Observer::walk_said`]).
    Note(String),
}

/// Holds [`THROTTLE_LOCK`] while a replica lags, for as long as it lives; see the module.
pub struct LagWatch {
    said: Receiver<Said>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// The watcher's state: its session to the primary, the replicas, and since when and why a
/// replica lags (while it does, the watcher holds the lock, or tries to).
struct Watcher {
    url: String,
    primary: Option<Conn>,
    replicas: Replicas,
    lagging: Option<(Instant, String)>,
    told: Instant,
    /// The connection that held the lock when this one wanted it (said once per holder).
    other: Option<u64>,
    /// Taking the lock failed at the last look (said once until it works again).
    failing: bool,
    said: Sender<Said>,
}

impl LagWatch {
    /// Starts watching when `text` (a stage file) runs a walk that looks at the lock and the run
    /// bounds replica lag on named replicas; `None` otherwise. The first look is made before this
    /// returns, so a walk never starts a batch while a replica is already known to lag. A replica
    /// or primary that cannot be reached is an error, as for `apply`'s own walks.
    pub fn start(text: &str, opts: &RunOptions) -> Result<Option<LagWatch>, RunError> {
        let Some(url) = opts.throttle.primary_url.clone() else {
            return Ok(None);
        };
        if opts.throttle.replica_urls.is_empty() || !text.contains(&quote_literal(THROTTLE_LOCK)) {
            return Ok(None);
        }
        let Some(replicas) = Replicas::connect(opts)? else {
            return Ok(None);
        };
        let primary = session(&url).map_err(|message| RunError::Failed {
            pos: None,
            statement: format!("a session to hold the lock {THROTTLE_LOCK}"),
            message,
            code: None,
        })?;
        let (said_tx, said) = mpsc::channel();
        let (stop, stopped) = mpsc::channel();
        let mut watcher = Watcher {
            url,
            primary: Some(primary),
            replicas,
            lagging: None,
            told: Instant::now(),
            other: None,
            failing: false,
            said: said_tx,
        };
        watcher.look();
        let thread = std::thread::Builder::new()
            .name("safeshift-replica-lag".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(POLL) {
                    watcher.look();
                }
                watcher.finish();
            })
            .map_err(|e| RunError::Failed {
                pos: None,
                statement: String::new(),
                message: format!("cannot start the replica-lag watcher: {e}"),
                code: None,
            })?;
        Ok(Some(LagWatch {
            said,
            stop: Some(stop),
            thread: Some(thread),
        }))
    }

    /// Tells the observer what the watcher saw since it was last asked.
    pub fn tell(&self, observer: &mut dyn Observer) {
        for said in self.said.try_iter() {
            match said {
                Said::Holding(why) => observer.throttled(&why),
                Said::Released(took, why) => observer.paused(took, &why),
                Said::Note(line) => observer.walk_said(&line),
            }
        }
    }

    /// Stops watching (the stage file finished, failed or was interrupted): the lock is released
    /// and the observer told the rest.
    pub fn stop(mut self, observer: &mut dyn Observer) {
        self.end();
        self.tell(observer);
    }

    fn end(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LagWatch {
    fn drop(&mut self) {
        self.end();
    }
}

/// A session to the primary that outlives any stage (a session the server ended would drop
/// the lock unseen).
fn session(url: &str) -> Result<Conn, String> {
    let mut conn = my::connect(url).map_err(|e| e.to_string())?;
    super::mysql::keep_session_open(&mut conn).map_err(|e| e.to_string())?;
    Ok(conn)
}

impl Watcher {
    fn say(&self, said: Said) {
        let _ = self.said.send(said);
    }

    /// One look at the replicas: holds the lock while any lags, releases it when none does.
    fn look(&mut self) {
        let behind = self.replicas.behind();
        if behind.is_empty() {
            if let Some((since, why)) = self.lagging.take() {
                // Said before the release, so the line comes before the walk's "resumed".
                self.say(Said::Released(
                    since.elapsed(),
                    format!(
                        "{why}; every replica is within --max-replica-lag again, and this apply released the lock {THROTTLE_LOCK}"
                    ),
                ));
                self.release();
            }
            self.other = None;
            return;
        }
        let why = behind.join("; ");
        match &mut self.lagging {
            Some((since, last)) => {
                *last = why.clone();
                if self.told.elapsed() >= TELL_EVERY {
                    self.told = Instant::now();
                    let line = format!("{why} (held {:.0}s so far)", since.elapsed().as_secs_f64());
                    self.say(Said::Holding(line));
                }
            }
            None => {
                // Said before the lock is taken, so the line comes before the walk's "paused".
                self.say(Said::Holding(format!(
                    "{why}: this apply holds the lock {THROTTLE_LOCK}, so the walks on the server pause before their next batch"
                )));
                self.told = Instant::now();
                self.lagging = Some((Instant::now(), why));
            }
        }
        match self.hold() {
            Ok(None) => {
                self.other = None;
                self.failing = false;
            }
            Ok(Some(holder)) => {
                self.failing = false;
                if self.other != Some(holder) {
                    self.other = Some(holder);
                    self.say(Said::Note(format!(
                        "connection {holder} holds the lock {THROTTLE_LOCK} already: the walks on the server pause for it as well"
                    )));
                }
            }
            Err(e) => {
                if !self.failing {
                    self.say(Said::Note(format!(
                        "cannot hold the lock {THROTTLE_LOCK} (trying again at every look): {e}"
                    )));
                }
                self.failing = true;
                // Lost or failing: a new session at the next look. Whatever the old one held,
                // the server released when it ended.
                self.primary = None;
            }
        }
    }

    /// Makes sure this session holds the lock: `None` when it does, the holder's connection id
    /// when another session does.
    fn hold(&mut self) -> Result<Option<u64>, String> {
        if self.primary.is_none() {
            self.primary = Some(session(&self.url)?);
        }
        let Some(conn) = self.primary.as_mut() else {
            return Err("no session".into());
        };
        let name = quote_literal(THROTTLE_LOCK);
        // Taken only when nobody holds it: GET_LOCK again on the holding session would count a
        // second hold (MySQL 5.7+, MariaDB), which one RELEASE_LOCK would not end. Twice at
        // most: another session may take it between the look and the GET_LOCK.
        for _ in 0..2 {
            let row: Option<(Option<u64>, u64)> = conn
                .query_first(format!("SELECT IS_USED_LOCK({name}), CONNECTION_ID()"))
                .map_err(|e| my::describe(&e))?;
            let Some((holder, me)) = row else {
                return Err("IS_USED_LOCK answered nothing".into());
            };
            match holder {
                Some(id) if id == me => return Ok(None),
                Some(id) => return Ok(Some(id)),
                None => {}
            }
            let got: Option<Option<i64>> = conn
                .query_first(format!("SELECT GET_LOCK({name}, 0)"))
                .map_err(|e| my::describe(&e))?;
            if got.flatten() == Some(1) {
                return Ok(None);
            }
        }
        Err("the lock changed hands while it was being taken".into())
    }

    fn release(&mut self) {
        if let Some(conn) = self.primary.as_mut()
            && let Err(e) =
                conn.query_drop(format!("DO RELEASE_LOCK({})", quote_literal(THROTTLE_LOCK)))
        {
            // The session is unusable: ending it releases whatever it held.
            self.primary = None;
            self.say(Said::Note(format!(
                "releasing the lock {THROTTLE_LOCK} failed ({}); its session is closed, which releases it",
                my::describe(&e)
            )));
        }
    }

    /// The file ended: the lock is released if held.
    fn finish(&mut self) {
        if let Some((since, why)) = self.lagging.take() {
            self.release();
            self.say(Said::Note(format!(
                "the stage file ended; released the lock {THROTTLE_LOCK}, held {:.1}s for: {why}",
                since.elapsed().as_secs_f64()
            )));
        }
        self.primary = None;
    }
}

/// Runs `run` (a stage file) with a [`LagWatch`] when [`LagWatch::start`] says one is needed;
/// the watcher's lines reach `observer` between the file's statements and before each line
/// of its walk (the thread that runs the file is busy in the statement otherwise, and the
/// watcher's moves come just before the walk's own pause and resume lines). The watcher stops,
/// and the lock is released, however the file ends.
pub fn watching(
    text: &str,
    opts: &RunOptions,
    observer: &mut dyn Observer,
    run: impl FnOnce(&mut dyn Observer) -> Result<(), RunError>,
) -> Result<(), RunError> {
    let Some(watch) = LagWatch::start(text, opts)? else {
        if opts.max_replica_lag.is_some()
            && !opts.throttle.replica_urls.is_empty()
            && text.contains(WALK_LOOKS)
            && !text.contains(&quote_literal(THROTTLE_LOCK))
        {
            observer.walk_said(&format!(
                "note: this file's walk was planned before it looked at the lock {THROTTLE_LOCK}: it does not pause for --max-replica-lag (plan it again to have it pause)"
            ));
        }
        return run(observer);
    };
    let result = run(&mut Told {
        inner: &mut *observer,
        watch: &watch,
    });
    watch.stop(observer);
    result
}

/// An observer that first passes on what the watcher saw.
struct Told<'a> {
    inner: &'a mut dyn Observer,
    watch: &'a LagWatch,
}

impl Observer for Told<'_> {
    fn wrap_statements(&self) -> bool {
        self.inner.wrap_statements()
    }
    fn before(&mut self, session: &mut dyn Probe) -> Result<(), crate::db::DbError> {
        self.inner.before(session)
    }
    fn after(
        &mut self,
        session: &mut dyn Probe,
        statement: &str,
    ) -> Result<(), crate::db::DbError> {
        self.inner.after(session, statement)
    }
    fn retrying(&mut self, what: &str, attempt: u32, of: u32, delay: Duration, why: &str) {
        self.watch.tell(self.inner);
        self.inner.retrying(what, attempt, of, delay, why)
    }
    fn took_effect(&mut self, number: usize) {
        self.inner.took_effect(number)
    }
    fn committed(&mut self, through: usize) {
        self.inner.committed(through)
    }
    fn resuming(&mut self, after: usize) {
        self.inner.resuming(after)
    }
    fn ran(&mut self, statement: &str, took: Duration, affected_rows: u64) {
        self.watch.tell(self.inner);
        self.inner.ran(statement, took, affected_rows)
    }
    fn backfill_start(&mut self, label: &str, rows: Option<u64>, resume: Option<&str>) {
        self.inner.backfill_start(label, rows, resume)
    }
    fn backfill_batch(&mut self, walked: u64, updated: u64, last_key: &str) {
        self.inner.backfill_batch(walked, updated, last_key)
    }
    fn batch_size(&mut self, size: u64, took: Duration) {
        self.inner.batch_size(size, took)
    }
    fn throttled(&mut self, why: &str) {
        self.inner.throttled(why)
    }
    fn paused(&mut self, took: Duration, why: &str) {
        self.inner.paused(took, why)
    }
    fn keep_going(&mut self) -> Result<(), String> {
        self.watch.tell(self.inner);
        self.inner.keep_going()
    }
    fn backfill_end(&mut self, walked: u64, updated: u64) {
        self.inner.backfill_end(walked, updated)
    }
    fn walk_said(&mut self, line: &str) {
        self.watch.tell(self.inner);
        self.inner.walk_said(line)
    }
}
