//! Where the relay command's options come from: a flag beats an environment
//! variable, which beats the TOML config file, which beats the default.
//!
//! One naming rule covers every option in every layer, so an option added to
//! [`RelayArgs`](crate::cli::RelayArgs) (or to one of its subcommands) is
//! settable in all three with no further code: `--max-mailbox-envelopes` is
//! `FUIN_RELAY_MAX_MAILBOX_ENVELOPES` in the environment ([`env_name`]) and
//! `max_mailbox_envelopes` in the file ([`file_key`]). A file value is handed
//! to clap as the flag it names, so it meets the same parser, range check,
//! conflicts and requirements as the flag would; a value clap refuses is
//! reported with the file and the key (or the variable) it came from.
//!
//! Secrets: an option marked `hide_env_values` (a password) is refused on
//! the command line, where every user of the machine can read it in the
//! process list; so is a PostgreSQL connection string that carries a
//! password. A config file that holds either must be readable by its owner
//! only (mode 0600 or stricter). No config file may be writable by others
//! than its owner, since it decides what the relay trusts.
//!
//! `spec/relay-operations.md` §9.1 describes the layers for operators.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use zeroize::Zeroizing;

/// What every environment variable of the relay command starts with.
pub const ENV_PREFIX: &str = "FUIN_RELAY_";

/// The option naming the config file (`--config`, `FUIN_RELAY_CONFIG`).
const CONFIG_ID: &str = "config";

/// The PostgreSQL connection string's option, checked for a password.
const POSTGRES_ID: &str = "postgres";

/// A config file larger than this is refused (it is a few kilobytes).
const MAX_CONFIG_LEN: u64 = 1024 * 1024;

/// The environment variable of the option with the long name `long`:
/// `max-mailbox-envelopes` → `FUIN_RELAY_MAX_MAILBOX_ENVELOPES`.
pub fn env_name(long: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        long.to_ascii_uppercase().replace('-', "_")
    )
}

/// The config file key of the option with the long name `long`:
/// `max-mailbox-envelopes` → `max_mailbox_envelopes`.
pub fn file_key(long: &str) -> String {
    long.replace('-', "_")
}

/// A secret given as text (a password): wiped on drop, never shown by
/// `Debug`.
#[derive(Clone)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// The secret.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

/// The value parser of a secret option.
pub fn parse_secret(text: &str) -> Result<SecretText, String> {
    if text.is_empty() {
        return Err("it is empty".to_owned());
    }
    Ok(SecretText(Zeroizing::new(text.to_owned())))
}

/// Whether a PostgreSQL connection string (libpq `key=value` form or URL)
/// carries a password.
pub fn conninfo_has_password(conninfo: &str) -> bool {
    conninfo
        .parse::<tokio_postgres::Config>()
        .is_ok_and(|config| config.get_password().is_some())
}

/// Parses the process's arguments into `C` with the relay command's layers
/// (see the module docs), exiting with clap's usage message on an error, as
/// [`clap::Parser::parse`] does. `relay_path` names the subcommands that
/// lead from `C` to the relay command: none for `fuin-relay`, `["relay"]`
/// for `fuin`.
pub fn parse<C: clap::Parser>(relay_path: &[&str]) -> C {
    try_parse_from(std::env::args_os(), relay_path).unwrap_or_else(|err| err.exit())
}

/// [`parse`], from `argv` (its first item is the program name), returning
/// the error instead of exiting.
pub fn try_parse_from<C: clap::Parser>(
    argv: impl IntoIterator<Item = impl Into<OsString>>,
    relay_path: &[&str],
) -> Result<C, clap::Error> {
    let mut cmd = with_env_names(C::command(), relay_path);
    let mut matches = layered_matches(&mut cmd, argv, relay_path)?;
    C::from_arg_matches_mut(&mut matches).map_err(|err| err.format(&mut cmd))
}

/// Gives every option of the relay command at `relay_path` in `cmd`, and of
/// its subcommands, its environment variable ([`env_name`]), unless it has
/// one already. `--help` then shows each name.
pub fn with_env_names(cmd: Command, relay_path: &[&str]) -> Command {
    match relay_path.split_first() {
        Some((first, rest)) => cmd.mut_subcommand(first, |sub| with_env_names(sub, rest)),
        None => add_env_names(cmd),
    }
}

fn add_env_names(cmd: Command) -> Command {
    cmd.mut_args(|arg| {
        if arg.get_env().is_some() || !is_option(&arg) {
            return arg;
        }
        match arg.get_long().map(env_name) {
            Some(name) => arg.env(name),
            None => arg,
        }
    })
    .mut_subcommands(add_env_names)
}

/// Whether `arg` is an option an operator sets (not `--help`, `--version`).
fn is_option(arg: &Arg) -> bool {
    arg.get_long().is_some()
        && !matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        )
}

/// Parses `argv` with `cmd` (already given its environment names by
/// [`with_env_names`]), adding what the config file sets and the
/// command line and the environment do not, and refusing secrets given on
/// the command line.
pub fn layered_matches(
    cmd: &mut Command,
    argv: impl IntoIterator<Item = impl Into<OsString>>,
    relay_path: &[&str],
) -> Result<ArgMatches, clap::Error> {
    let mut argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    // A first pass that forgives everything (a storage option only in the
    // file, a value only the file fixes) finds the config file and what the
    // command line and the environment already set.
    let first = cmd
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(argv.iter());
    let mut from_file = Injected::default();
    if let Ok(first) = &first
        && let Some(chain) = relay_chain(cmd, first, relay_path)
        && let Some(path) = config_path(&chain)
    {
        from_file = ConfigFile::load(&path, &chain)?.inject(&chain, &mut argv);
    }
    let matches = cmd
        .try_get_matches_from_mut(argv.iter())
        .map_err(|err| explain(cmd, err, &from_file, &argv))?;
    let refusal = relay_chain(cmd, &matches, relay_path)
        .and_then(|chain| secret_on_command_line(&chain, &from_file));
    if let Some(refusal) = refusal {
        return Err(cmd.error(ErrorKind::ArgumentConflict, refusal));
    }
    Ok(matches)
}

/// The relay command and the subcommands given under it, each with its
/// matches, outermost first; `None` if the relay command was not given.
fn relay_chain<'a>(
    cmd: &'a Command,
    matches: &'a ArgMatches,
    relay_path: &[&str],
) -> Option<Vec<(&'a Command, &'a ArgMatches)>> {
    let (mut cmd, mut matches) = (cmd, matches);
    for name in relay_path {
        matches = matches.subcommand_matches(name)?;
        cmd = cmd.find_subcommand(name)?;
    }
    let mut chain = vec![(cmd, matches)];
    while let Some((name, sub_matches)) = matches.subcommand() {
        let Some(sub) = cmd.find_subcommand(name) else {
            break;
        };
        chain.push((sub, sub_matches));
        (cmd, matches) = (sub, sub_matches);
    }
    Some(chain)
}

/// The config file named on the command line or in the environment.
fn config_path(chain: &[(&Command, &ArgMatches)]) -> Option<PathBuf> {
    chain.iter().rev().find_map(|(cmd, matches)| {
        let arg = cmd.get_arguments().find(|arg| arg.get_id() == CONFIG_ID)?;
        let id = arg.get_id().as_str();
        matches.ids().any(|present| present == id).then_some(())?;
        let mut values = matches.try_get_raw(id).ok()??;
        values.next().map(PathBuf::from)
    })
}

/// Where an option's value came from, if not from the command line.
#[derive(Default)]
struct Injected {
    /// The config file, if one was read.
    file: Option<PathBuf>,
    /// The long names of the options the file set (that nothing else did).
    longs: BTreeSet<String>,
}

/// A parsed config file.
struct ConfigFile {
    path: PathBuf,
    /// Each key with its values, as flags would give them.
    values: BTreeMap<String, Vec<FileValue>>,
}

/// One value of a key, as clap will read it.
enum FileValue {
    /// `--long=TEXT`.
    Text(String),
    /// `--long` alone (a `true` flag).
    Flag,
}

impl ConfigFile {
    /// Reads and checks the file: its mode, its syntax, and that every key
    /// is an option of the relay command or one of its subcommands.
    fn load(path: &Path, chain: &[(&Command, &ArgMatches)]) -> Result<Self, clap::Error> {
        let shown = path.display();
        let fail = |why: String| clap::Error::raw(ErrorKind::Io, format!("{shown}: {why}\n"));
        let mut file =
            std::fs::File::open(path).map_err(|err| fail(format!("cannot open it: {err}")))?;
        let metadata = file
            .metadata()
            .map_err(|err| fail(format!("cannot read it: {err}")))?;
        if !metadata.is_file() {
            return Err(fail("it is not a regular file".into()));
        }
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(fail(format!(
                "its mode is {mode:04o}: others than its owner may change it (chmod go-w)"
            )));
        }
        let mut text = Zeroizing::new(String::new());
        file.by_ref()
            .take(MAX_CONFIG_LEN + 1)
            .read_to_string(&mut text)
            .map_err(|err| fail(format!("cannot read it: {err}")))?;
        if text.len() as u64 > MAX_CONFIG_LEN {
            return Err(fail(format!("it is longer than {MAX_CONFIG_LEN} bytes")));
        }
        let table: toml::Table = text.parse().map_err(|err: toml::de::Error| {
            // The message without the quoted source line, which may hold a
            // secret.
            let line = err
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            match line {
                Some(line) => fail(format!("line {line}: not valid TOML: {}", err.message())),
                None => fail(format!("not valid TOML: {}", err.message())),
            }
        })?;

        let (relay, _) = chain[0];
        let mut values = BTreeMap::new();
        let mut secrets = Vec::new();
        for (key, value) in &table {
            let known = |message: &str| fail(format!("key {key}: {message}"));
            if key.contains('-') {
                return Err(known(&format!(
                    "unknown key (keys use _ where options use -: {})",
                    key.replace('-', "_")
                )));
            }
            let Some(arg) = find_option(relay, key) else {
                return Err(known("unknown key: no option of the relay has this name"));
            };
            if arg.get_id() == CONFIG_ID {
                return Err(known("a config file cannot name another one"));
            }
            let parsed = file_values(arg, value).map_err(|why| known(&why))?;
            let secret = arg.is_hide_env_values_set()
                || (arg.get_id() == POSTGRES_ID
                    && parsed.iter().any(|value| match value {
                        FileValue::Text(text) => conninfo_has_password(text),
                        FileValue::Flag => false,
                    }));
            if secret {
                secrets.push(key.clone());
            }
            values.insert(key.clone(), parsed);
        }
        if let Some(first) = secrets.first()
            && mode & 0o077 != 0
        {
            return Err(fail(format!(
                "it holds a secret ({first}) but its mode is {mode:04o}: others than its owner \
                 may read it (chmod 600, or give the secret in {} instead)",
                env_name(&first.replace('_', "-"))
            )));
        }
        Ok(Self {
            path: path.to_owned(),
            values,
        })
    }

    /// Appends to `argv`, as flags of the innermost command given, each
    /// value of the file that the command line and the environment do not
    /// set. A key of another subcommand (or of the server, when a
    /// subcommand runs) is left out.
    fn inject(self, chain: &[(&Command, &ArgMatches)], argv: &mut Vec<OsString>) -> Injected {
        let (target, matches) = chain[chain.len() - 1];
        let mut longs = BTreeSet::new();
        for (key, values) in self.values {
            let Some(arg) = target.get_arguments().find(|arg| {
                is_option(arg) && arg.get_long().map(file_key).as_deref() == Some(&key)
            }) else {
                continue;
            };
            let id = arg.get_id().as_str();
            let already = matches.ids().any(|present| present == id)
                && matches!(
                    matches.value_source(id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                );
            if already {
                continue;
            }
            let Some(long) = arg.get_long() else {
                continue;
            };
            for value in values {
                argv.push(match value {
                    FileValue::Text(text) => OsString::from(format!("--{long}={text}")),
                    FileValue::Flag => OsString::from(format!("--{long}")),
                });
            }
            longs.insert(long.to_owned());
        }
        Injected {
            file: Some(self.path),
            longs,
        }
    }
}

/// The option of `cmd` or of one of its subcommands (at any depth) whose
/// config file key is `key`.
fn find_option<'a>(cmd: &'a Command, key: &str) -> Option<&'a Arg> {
    cmd.get_arguments()
        .find(|arg| is_option(arg) && arg.get_long().map(file_key).as_deref() == Some(key))
        .or_else(|| cmd.get_subcommands().find_map(|sub| find_option(sub, key)))
}

/// A TOML value as the values clap will read for `arg`.
fn file_values(arg: &Arg, value: &toml::Value) -> Result<Vec<FileValue>, String> {
    let repeatable = matches!(arg.get_action(), ArgAction::Append);
    match arg.get_action() {
        ArgAction::SetTrue | ArgAction::SetFalse => {
            let toml::Value::Boolean(set) = value else {
                return Err("expected true or false".into());
            };
            // Only a value that differs from leaving the flag out is a flag.
            let flag = matches!(arg.get_action(), ArgAction::SetTrue) == *set;
            return Ok(if flag { vec![FileValue::Flag] } else { vec![] });
        }
        ArgAction::Count => {
            let count = value
                .as_integer()
                .and_then(|count| usize::try_from(count).ok())
                .filter(|count| *count <= 16)
                .ok_or("expected a count from 0 to 16")?;
            return Ok((0..count).map(|_| FileValue::Flag).collect());
        }
        _ => {}
    }
    match value {
        toml::Value::Array(items) if repeatable => items
            .iter()
            .map(|item| scalar(item).map(FileValue::Text))
            .collect(),
        toml::Value::Array(_) => Err("expected one value, not a list".into()),
        other => Ok(vec![FileValue::Text(scalar(other)?)]),
    }
}

/// A string, number or boolean as the text a flag would carry.
fn scalar(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(number) => Ok(number.to_string()),
        toml::Value::Float(number) => Ok(number.to_string()),
        toml::Value::Boolean(flag) => Ok(flag.to_string()),
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => {
            Err("expected a string, a number or a boolean".into())
        }
    }
}

/// Says where a value clap refused came from: the config file's key, or
/// the environment variable, rather than a flag the operator never typed.
fn explain(
    cmd: &mut Command,
    err: clap::Error,
    injected: &Injected,
    argv: &[OsString],
) -> clap::Error {
    // The options the error names: the one at fault, and the one it
    // conflicts with.
    let mut named = Vec::new();
    for kind in [ContextKind::InvalidArg, ContextKind::PriorArg] {
        match err.get(kind) {
            Some(ContextValue::String(shown)) => named.push(shown.clone()),
            Some(ContextValue::Strings(shown)) => named.extend(shown.iter().cloned()),
            _ => {}
        }
    }
    // `--max-mailbox-envelopes <N>` → `max-mailbox-envelopes`.
    let origins: Vec<(String, String)> = named
        .iter()
        .filter_map(|shown| {
            let long = shown.strip_prefix("--")?.split([' ', '=']).next()?;
            Some((long.to_owned(), origin(long, injected, argv)?))
        })
        .collect();
    let reason = reason(&err);
    match (err.kind(), origins.first()) {
        (_, None) => err,
        (ErrorKind::ValueValidation | ErrorKind::InvalidValue, Some((_, origin))) => {
            cmd.error(err.kind(), format!("{origin}: invalid value: {reason}"))
        }
        (kind, Some(_)) => {
            let notes: Vec<String> = origins
                .iter()
                .map(|(long, origin)| format!("--{long} is set by {origin}"))
                .collect();
            cmd.error(kind, format!("{reason} ({})", notes.join("; ")))
        }
    }
}

/// Where the option `long` got its value, if not from a flag the operator
/// typed: the config file's key, or its environment variable.
fn origin(long: &str, injected: &Injected, argv: &[OsString]) -> Option<String> {
    if injected.longs.contains(long) {
        let file = injected.file.as_ref()?;
        return Some(format!("{}: key {}", file.display(), file_key(long)));
    }
    let typed = argv.iter().any(|given| {
        let given = given.to_string_lossy();
        given == format!("--{long}") || given.starts_with(&format!("--{long}="))
    });
    let name = env_name(long);
    (!typed && std::env::var_os(&name).is_some()).then(|| format!("environment variable {name}"))
}

/// The heart of a clap error, without its `error:` prefix and usage lines.
fn reason(err: &clap::Error) -> String {
    if let Some(source) = std::error::Error::source(err) {
        return source.to_string();
    }
    if let Some(ContextValue::Strings(valid)) = err.get(ContextKind::ValidValue) {
        return format!("expected one of {}", valid.join(", "));
    }
    let rendered = err.render().to_string();
    rendered
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned()
}

/// Why a secret given as a flag is refused, if one is (the file's values
/// are flags too, by now, and are let through: the file's mode was checked).
fn secret_on_command_line(
    chain: &[(&Command, &ArgMatches)],
    injected: &Injected,
) -> Option<String> {
    for (sub, matches) in chain {
        for arg in sub.get_arguments().filter(|arg| is_option(arg)) {
            let id = arg.get_id().as_str();
            let Some(long) = arg.get_long() else {
                continue;
            };
            let typed = matches.ids().any(|present| present == id)
                && matches.value_source(id) == Some(ValueSource::CommandLine)
                && !injected.longs.contains(long);
            if !typed {
                continue;
            }
            let with_file = sub
                .get_arguments()
                .any(|other| other.get_long() == Some(&format!("{long}-file")));
            let instead = if with_file {
                format!("--{long}-file (mode 0600) or {}", env_name(long))
            } else {
                env_name(long)
            };
            if arg.is_hide_env_values_set() {
                return Some(format!(
                    "--{long} is a secret and is not taken from the command line, where \
                     other users can read it: give it in {instead}, or in the config file \
                     (mode 0600)"
                ));
            }
            if id == POSTGRES_ID
                && matches
                    .try_get_raw(id)
                    .ok()
                    .flatten()
                    .is_some_and(|mut values| {
                        values.any(|value| value.to_str().is_some_and(conninfo_has_password))
                    })
            {
                return Some(format!(
                    "--{long}: the connection string holds a password, which is not taken \
                     from the command line, where other users can read it: give the \
                     password in --postgres-password-file (mode 0600), \
                     FUIN_RELAY_POSTGRES_PASSWORD or PGPASSWORD, or the whole string in \
                     {}",
                    env_name(long)
                ));
            }
        }
    }
    None
}

/// Reads a secret from a file that only its owner may use (mode 0600 or
/// stricter), without a final line break.
pub fn read_secret_file(path: &Path) -> Result<SecretText, String> {
    let shown = path.display();
    let mut file =
        std::fs::File::open(path).map_err(|err| format!("cannot open {shown}: {err}"))?;
    let mode = file
        .metadata()
        .map_err(|err| format!("cannot read {shown}: {err}"))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{shown}: its mode is {mode:04o}: others than its owner may use it (chmod 600)"
        ));
    }
    let mut text = Zeroizing::new(String::new());
    file.by_ref()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|err| format!("cannot read {shown} as text: {err}"))?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    Ok(SecretText(Zeroizing::new(secret.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_not_shown_by_debug() {
        let secret = parse_secret("hunter2").unwrap_or_else(|_| SecretText(Zeroizing::default()));
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn names_follow_the_long_option() {
        assert_eq!(
            env_name("max-mailbox-envelopes"),
            "FUIN_RELAY_MAX_MAILBOX_ENVELOPES"
        );
        assert_eq!(file_key("max-mailbox-envelopes"), "max_mailbox_envelopes");
    }

    #[test]
    fn a_password_in_a_connection_string_is_found_in_both_forms() {
        assert!(conninfo_has_password("host=h user=u password=p dbname=d"));
        assert!(conninfo_has_password("postgresql://u:p@h/d"));
        assert!(!conninfo_has_password("host=h user=u dbname=d"));
        assert!(!conninfo_has_password("postgresql://u@h/d"));
    }
}
