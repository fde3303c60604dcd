//! The binary: parse arguments, call the library, decide the exit code. Nothing else.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use safeshift::cli::{Cli, Command, PlanArgs};
use safeshift::dialect::Postgres;
use safeshift::error::Error;
use safeshift::name::QName;
use safeshift::ops::{BackfillOption, Options};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => plan(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

fn read_input(path: &Path) -> Result<(String, String), Error> {
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
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::Usage(format!(
            "{name}: not valid UTF-8 (byte {}); safeshift reads SQL text files",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok((name, text))
}

fn parse_backfill(text: &str) -> Result<BackfillOption, Error> {
    let usage = || {
        Error::Usage(format!(
            "--backfill {text}: expected TABLE.COLUMN=EXPR, for example users.email_lower=lower(email)"
        ))
    };
    let (target, expr) = text.split_once('=').ok_or_else(usage)?;
    let (table, column) = target.trim().rsplit_once('.').ok_or_else(usage)?;
    if table.is_empty() || column.is_empty() || expr.trim().is_empty() {
        return Err(usage());
    }
    let ident = |s: &str| safeshift::name::ident_value(&sqlparser::ast::Ident::new(s));
    let table = match table.split_once('.') {
        Some((schema, name)) => QName {
            schema: Some(ident(schema)),
            name: ident(name),
        },
        None => QName::new(ident(table)),
    };
    Ok(BackfillOption {
        table,
        column: ident(column),
        expr: expr.trim().to_string(),
    })
}

fn plan(args: PlanArgs) -> Result<(), Error> {
    let pg = Postgres::parse_version(&args.server_version).map_err(Error::Usage)?;
    let backfills = args
        .backfill
        .iter()
        .map(|b| parse_backfill(b))
        .collect::<Result<Vec<_>, _>>()?;
    let (change_name, change_sql) = read_input(&args.change)?;
    let schema = args.schema.as_deref().map(read_input).transpose()?;
    let input = safeshift::PlanInput {
        change_name: &change_name,
        change_sql: &change_sql,
        schema: schema.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
        pg,
        options: Options {
            backfills,
            dual_write: args.dual_write,
            batch_size: args.batch_size,
        },
    };
    let plan = safeshift::plan(&input)?;
    safeshift::render::write_plan_dir(&plan, &args.out, args.force)?;
    print!("{}", safeshift::render::summary(&plan, Some(&args.out)));
    Ok(())
}
