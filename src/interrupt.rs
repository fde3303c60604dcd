//! Ctrl-C for commands that talk to a database. The first Ctrl-C asks the work to stop at the
//! next safe point and cancels the statement in flight (a cancel request, as psql sends, or
//! `KILL QUERY` on MySQL/MariaDB, as the `mariadb` client does), so a backfill stops between
//! batches and a rehearsal still drops its scratch database. A second Ctrl-C exits at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use postgres::NoTls;

static REQUESTED: AtomicBool = AtomicBool::new(false);

type Cancel = Box<dyn Fn() + Send>;
/// What to do on Ctrl-C to stop each watched connection's running statement.
static CANCELS: Mutex<Vec<Cancel>> = Mutex::new(Vec::new());

/// Installs the handler once per process; later calls do nothing.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("\nsafeshift: interrupted again; exiting now");
                std::process::exit(130);
            }
            eprintln!("\nsafeshift: interrupting (Ctrl-C again to exit at once)…");
            if let Ok(cancels) = CANCELS.lock() {
                for cancel in cancels.iter() {
                    cancel();
                }
            }
        });
    });
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

fn register(cancel: Cancel) {
    if let Ok(mut cancels) = CANCELS.lock() {
        cancels.push(cancel);
    }
}

/// Registers a connection whose running statement Ctrl-C should cancel.
pub fn watch(client: &postgres::Client) {
    let token = client.cancel_token();
    register(Box::new(move || {
        let _ = token.cancel_query(NoTls);
    }));
}

/// Registers a MySQL/MariaDB connection (by its id) whose running statement Ctrl-C should stop
/// with `KILL QUERY` from a second connection to `url`.
pub fn watch_mysql(url: &str, connection_id: u32) {
    let url = url.to_string();
    register(Box::new(move || {
        if let Ok(mut conn) = crate::db::mysql::connect(&url) {
            use mysql::prelude::Queryable;
            let _ = conn.query_drop(format!("KILL QUERY {connection_id}"));
        }
    }));
}
