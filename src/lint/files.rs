//! Which files to lint, in which order, and which part of each.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Expands the command line's paths: a file as given, a directory as every `*.sql` below it in
/// the order migration tools run them (numeric prefixes compared as numbers, so `2_` comes
/// before `10_`). Down migrations (`down.sql`, `*.down.sql`) are skipped inside directories:
/// they run only on rollback. `-` stands for standard input.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let borrowed: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let dirs = on_every_core(&borrowed, || (), |_, p| p.as_os_str() != "-" && p.is_dir());
    for (path, is_dir) in paths.iter().zip(dirs) {
        if !is_dir {
            out.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in walkdir::WalkDir::new(path).follow_links(true) {
            let entry = entry.map_err(|e| Error::Read {
                path: e.path().unwrap_or(path).to_path_buf(),
                source: e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("filesystem loop")),
            })?;
            let p = entry.path();
            if entry.file_type().is_file() && is_up_migration(p) {
                found.push(p.to_path_buf());
            }
        }
        found.sort_by(|a, b| migration_order(a, b));
        out.extend(found);
    }
    Ok(out)
}

fn is_up_migration(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".sql") && lower != "down.sql" && !lower.ends_with(".down.sql")
}

/// Compares paths component by component, digits as numbers: `V2__a.sql` < `V10__b.sql`.
pub fn migration_order(a: &Path, b: &Path) -> Ordering {
    let mut left = a.components();
    let mut right = b.components();
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = natural(
                    &x.as_os_str().to_string_lossy(),
                    &y.as_os_str().to_string_lossy(),
                );
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

fn natural(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        match (x.chars().next(), y.chars().next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let (n, rest_x) = split_digits(x);
                let (m, rest_y) = split_digits(y);
                // Compare as numbers without parsing (no overflow): length first, then digits.
                let (n, m) = (n.trim_start_matches('0'), m.trim_start_matches('0'));
                let order = n.len().cmp(&m.len()).then_with(|| n.cmp(m));
                if order != Ordering::Equal {
                    return order;
                }
                (x, y) = (rest_x, rest_y);
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(&d);
                }
                (x, y) = (&x[c.len_utf8()..], &y[d.len_utf8()..]);
            }
        }
    }
}

fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// Checks that a migration file can be read and is UTF-8, without keeping it: lint reads it
/// again, in chunks, when its turn comes. Returns its name as shown in findings and its size.
pub fn check(path: &Path) -> Result<(String, u64), Error> {
    check_with(path, &mut Vec::new())
}

/// Paths handled on one thread before the others join in: spawning threads costs more than
/// a few `stat`s or small reads.
const ALONE: usize = 16;

/// `each` over `paths` on every core, each thread with its own `state`; results in the order
/// of `paths`. For the per-file work done before linting starts (telling directories from
/// files, checking every file reads as UTF-8), which on a long history ran alone before the
/// first statement was parsed.
fn on_every_core<S, T: Send>(
    paths: &[&Path],
    state: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, &Path) -> T + Sync,
) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || paths.len() <= ALONE {
        let mut state = state();
        return paths.iter().map(|p| each(&mut state, p)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<T>> = std::iter::repeat_with(|| None).take(paths.len()).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(paths.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut state = state();
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(path) = paths.get(i) else {
                            return done;
                        };
                        done.push((i, each(&mut state, path)));
                    }
                })
            })
            .collect();
        for worker in workers {
            match worker.join() {
                Ok(done) => {
                    for (i, result) in done {
                        results[i] = Some(result);
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    // Every index below the length was taken by a thread, which returned its result.
    results
        .into_iter()
        .zip(paths)
        .map(|(result, path)| result.unwrap_or_else(|| each(&mut state(), path)))
        .collect()
}

/// [`check`] for each of `paths`, on every core, in the order of `paths`.
pub fn check_all(paths: &[&Path]) -> Vec<Result<(String, u64), Error>> {
    on_every_core(paths, Vec::new, |buf, path| check_with(path, buf))
}

/// [`check`] with a buffer of the caller's, kept from file to file. No `stat` first: a
/// directory is told by the error reading it gives (on a long history the `stat` of every file
/// cost as much as reading it).
fn check_with(path: &Path, buf: &mut Vec<u8>) -> Result<(String, u64), Error> {
    use std::io::Read;
    let name = path.display().to_string();
    let read_error = |source: std::io::Error| {
        if path.is_dir() {
            return Error::Usage(format!(
                "{}: is a directory; expected a .sql file",
                path.display()
            ));
        }
        Error::Read {
            path: path.into(),
            source,
        }
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    buf.resize(64 * 1024, 0);
    // Bytes of an unfinished character carried into the next chunk.
    let mut carry = 0;
    let mut offset = 0u64;
    loop {
        let n = match file.read(&mut buf[carry..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        let end = carry + n;
        let (valid, bad) = match std::str::from_utf8(&buf[..end]) {
            Ok(text) => (text.len(), false),
            // An incomplete character at the end of a chunk is completed by the next one.
            Err(e) if e.error_len().is_none() && n > 0 => (e.valid_up_to(), false),
            Err(e) => (e.valid_up_to(), true),
        };
        offset += valid as u64;
        if bad {
            let (line, column) = position_of_byte(path, offset).map_err(read_error)?;
            return Err(Error::Usage(format!(
                "{name}:{line}:{column}: not valid UTF-8 (byte {offset}); safeshift reads SQL text files"
            )));
        }
        if n == 0 {
            return Ok((name, offset));
        }
        buf.copy_within(valid..end, 0);
        carry = end - valid;
    }
}

/// Line and column (in characters) of byte `offset` of a file whose bytes before it are UTF-8.
fn position_of_byte(path: &Path, offset: u64) -> std::io::Result<(u64, u64)> {
    use std::io::Read;
    let mut before = Vec::new();
    std::fs::File::open(path)?
        .take(offset)
        .read_to_end(&mut before)?;
    let text = String::from_utf8_lossy(&before);
    let line = text.matches('\n').count() as u64 + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    Ok((line, column))
}

/// Reads a migration file as text (`-` is standard input).
pub fn read(path: &Path) -> Result<(String, String), Error> {
    use std::io::Read;
    let (name, bytes) = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|source| Error::Read {
                path: "<stdin>".into(),
                source,
            })?;
        ("<stdin>".to_string(), bytes)
    } else {
        if path.is_dir() {
            return Err(Error::Usage(format!(
                "{}: is a directory; expected a .sql file",
                path.display()
            )));
        }
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.into(),
            source,
        })?;
        (path.display().to_string(), bytes)
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&e.as_bytes()[..at]);
            let line = valid.matches('\n').count() + 1;
            let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            return Err(Error::Usage(format!(
                "{name}:{line}:{column}: not valid UTF-8 (byte {at}); safeshift reads SQL text files"
            )));
        }
    };
    Ok((name, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_prefixes_sort_as_numbers() {
        let mut names = vec![
            "10_add_index.sql",
            "2_add_column.sql",
            "1_init.sql",
            "V3__x.sql",
            "V20__y.sql",
            "V100__z.sql",
            "003_c.sql",
            "001_a.sql",
        ];
        names.sort_by(|a, b| migration_order(Path::new(a), Path::new(b)));
        assert_eq!(
            names,
            [
                "001_a.sql",
                "1_init.sql",
                "2_add_column.sql",
                "003_c.sql",
                "10_add_index.sql",
                "V3__x.sql",
                "V20__y.sql",
                "V100__z.sql"
            ]
        );
    }

    #[test]
    fn timestamps_and_directories_sort_by_component() {
        let mut paths = vec![
            "m/20240102000000_b/up.sql",
            "m/20240101000000_a/up.sql",
            "m/9_x/up.sql",
        ];
        paths.sort_by(|a, b| migration_order(Path::new(a), Path::new(b)));
        assert_eq!(
            paths,
            [
                "m/9_x/up.sql",
                "m/20240101000000_a/up.sql",
                "m/20240102000000_b/up.sql"
            ]
        );
    }

    #[test]
    fn down_migrations_are_skipped_in_directories() {
        assert!(is_up_migration(Path::new("1_a.up.sql")));
        assert!(is_up_migration(Path::new("V1__a.sql")));
        assert!(!is_up_migration(Path::new("1_a.down.sql")));
        assert!(!is_up_migration(Path::new("stage-1/down.sql")));
        assert!(!is_up_migration(Path::new("notes.md")));
    }
}
