//! Ctrl-C for commands that talk to a database. The first Ctrl-C asks the work to stop at the
//! next safe point and cancels the statement in flight (a cancel request, as psql sends), so a
//! backfill stops between batches and a rehearsal still drops its scratch database. A second
//! Ctrl-C exits at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use postgres::{CancelToken, NoTls};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static TOKENS: Mutex<Vec<CancelToken>> = Mutex::new(Vec::new());

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
            let tokens = TOKENS.lock().map(|t| t.clone()).unwrap_or_default();
            for token in tokens {
                let _ = token.cancel_query(NoTls);
            }
        });
    });
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Registers a connection whose running statement Ctrl-C should cancel.
pub fn watch(client: &postgres::Client) {
    if let Ok(mut tokens) = TOKENS.lock() {
        tokens.push(client.cancel_token());
    }
}
