//! A whole run: checks the options, measures the baseline, starts the relays,
//! enrols the devices, runs the senders and recipients, and tallies the
//! ledger into the report.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

use crate::baseline::{BaselineResult, baseline, record_len};
use crate::body::HEADER_LEN;
use crate::client::{Device, enrol, http_client};
use crate::commits::Commits;
use crate::ledger::Ledger;
use crate::recipients::recipient_task;
use crate::relays::{Backend, start_relays};
use crate::report::{Report, loadavg, percentiles};
use crate::senders::sender_task;
use crate::{Args, random};

/// The most relay nodes a run uses.
const MAX_NODES: usize = 4;
/// How long the final drain may take once the load has stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Runs the load `args` describe and tallies what it found.
pub(crate) async fn run(args: Args) -> Result<Report, String> {
    if args.senders == 0 || args.messages == 0 {
        return Err("--senders and --messages must be at least 1".to_owned());
    }
    if args.relays.len() > MAX_NODES || args.nodes == 0 || args.nodes > MAX_NODES {
        return Err(format!(
            "--nodes must be 1..={MAX_NODES}, and at most {MAX_NODES} --relay"
        ));
    }
    if args.nodes > 1 && args.postgres.is_none() {
        return Err("--nodes above 1 needs --postgres (nodes share a database)".to_owned());
    }
    if args.size < HEADER_LEN || args.size > fuin_wire::limits::MAX_SEALED_BODY_LEN {
        return Err(format!(
            "--size must be {HEADER_LEN}..={}",
            fuin_wire::limits::MAX_SEALED_BODY_LEN
        ));
    }
    let senders_n = args.senders;
    let per_sender = args.messages.div_ceil(senders_n);
    if u32::try_from(per_sender).is_err() || u32::try_from(senders_n).is_err() {
        return Err("too many messages or senders".to_owned());
    }
    let loadavg_before = loadavg();
    let mut builder = tempfile::Builder::new();
    builder.prefix("fuin-relay-load-");
    let dir = match &args.dir {
        Some(parent) => builder.tempdir_in(parent),
        None => builder.tempdir(),
    }
    .map_err(|err| format!("temporary directory: {err}"))?;
    let run: u64 = u64::from_le_bytes(random());
    let sender_users: Vec<String> = (0..senders_n)
        .map(|i| format!("load-{run:016x}-s{i}"))
        .collect();
    let recipient_users: Vec<String> = (0..senders_n)
        .map(|i| format!("load-{run:016x}-r{i}"))
        .collect();

    let (mut baseline_per_message, mut baseline_batched) = (None, None);
    if args.baseline {
        let record_len = record_len(&sender_users[0], &recipient_users[0], args.size)?;
        let limit = Duration::from_secs(args.baseline_secs);
        for batch in [1, senders_n] {
            let path = dir.path().join(format!("baseline-{batch}.db"));
            let (users, rows, window) = (recipient_users.clone(), args.messages, senders_n);
            let result = tokio::task::spawn_blocking(move || {
                baseline(&path, rows, record_len, &users, window, batch, limit)
            })
            .await
            .map_err(|err| format!("baseline: {err}"))??;
            if batch == 1 {
                baseline_per_message = Some(result);
            } else {
                baseline_batched = Some(result);
            }
            // Leave the disk as the relay finds it: only its own files.
            for suffix in ["", "-wal", "-shm"] {
                let _ =
                    std::fs::remove_file(dir.path().join(format!("baseline-{batch}.db{suffix}")));
            }
        }
    }

    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_secs);
    let db_path = dir.path().join("relay.db");
    let (relays, in_process) = if !args.relays.is_empty() {
        (args.relays.clone(), Vec::new())
    } else if let Some(conninfo) = &args.postgres {
        start_relays(Backend::Postgres(conninfo), args.nodes).await?
    } else {
        start_relays(Backend::Sqlite(&db_path), 1).await?
    };
    let relays = Arc::new(relays);
    let client = http_client();

    // Register and log in every device, all at once.
    let mut enrolling = tokio::task::JoinSet::new();
    for (i, user) in sender_users.iter().chain(&recipient_users).enumerate() {
        let (client, relay, user) = (client.clone(), relays[0].clone(), user.clone());
        enrolling.spawn(async move { (i, enrol(&client, &relay, user).await) });
    }
    let mut devices: Vec<Option<Device>> = (0..2 * senders_n).map(|_| None).collect();
    while let Some(joined) = enrolling.join_next().await {
        let (i, device) = joined.map_err(|err| format!("setup: {err}"))?;
        devices[i] = Some(device.map_err(|err| format!("setup: {err}"))?);
    }
    let mut devices: Vec<Device> = devices.into_iter().flatten().collect();
    if devices.len() != 2 * senders_n {
        return Err("setup: a device is missing".to_owned());
    }
    let recipients_devices = devices.split_off(senders_n);
    let senders_devices = devices;
    let setup_seconds = started.elapsed().as_secs_f64();
    // The relays in process record their commits in this process's metrics.
    let store_backend = if args.postgres.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let commits_before = Commits::now(store_backend);
    let sender_addresses: Arc<Vec<_>> =
        Arc::new(senders_devices.iter().map(|d| d.address.clone()).collect());
    let recipient_addresses: Arc<Vec<_>> = Arc::new(
        recipients_devices
            .iter()
            .map(|d| d.address.clone())
            .collect(),
    );

    let progress = ProgressBar::new(args.messages as u64);
    progress.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} delivered ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let slots = senders_n * per_sender;
    let ledger = Arc::new(Ledger {
        run,
        epoch: Instant::now(),
        senders: senders_n,
        size: args.size,
        per_sender,
        acknowledged: (0..slots).map(|_| AtomicBool::new(false)).collect(),
        delivered: (0..slots).map(|_| AtomicU32::new(0)).collect(),
        misdelivered: AtomicU64::new(0),
        corrupted: AtomicU64::new(0),
        reordered: AtomicU64::new(0),
        rate_limited: AtomicU64::new(0),
        send_failures: AtomicU64::new(0),
        other_failures: AtomicU64::new(0),
        in_flight_at_stop: AtomicU64::new(0),
        last_ack_ns: AtomicU64::new(0),
        last_delivery_ns: AtomicU64::new(0),
        errors: std::sync::Mutex::new(Vec::new()),
        progress: progress.clone(),
    });

    let (stop, stop_rx) = watch::channel(false);
    let hard_stop = deadline + DRAIN_LIMIT;
    let mut receiving = Vec::with_capacity(senders_n);
    for (i, me) in recipients_devices.into_iter().enumerate() {
        receiving.push(tokio::spawn(recipient_task(
            ledger.clone(),
            client.clone(),
            relays[i % relays.len()].clone(),
            me,
            i as u32,
            sender_addresses.clone(),
            args.wait_ms,
            stop_rx.clone(),
            hard_stop,
        )));
    }
    let mut sending = Vec::with_capacity(senders_n);
    for (i, me) in senders_devices.into_iter().enumerate() {
        let count = args.messages / senders_n + usize::from(i < args.messages % senders_n);
        sending.push(tokio::spawn(sender_task(
            ledger.clone(),
            client.clone(),
            relays.clone(),
            me,
            i as u32,
            count,
            recipient_addresses.clone(),
            deadline,
        )));
    }
    let mut send_latencies = Vec::with_capacity(args.messages);
    for handle in sending {
        let outcome = handle
            .await
            .map_err(|err| format!("a sender failed: {err}"))?;
        send_latencies.extend(outcome.latencies_us);
    }
    // Wait until everything the relay acknowledged has been fetched.
    loop {
        let pending = ledger
            .acknowledged
            .iter()
            .zip(&ledger.delivered)
            .filter(|(acked, delivered)| {
                acked.load(Ordering::Acquire) && delivered.load(Ordering::Acquire) == 0
            })
            .count();
        if pending == 0 || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let timed_out = tokio::time::Instant::now() >= deadline;
    let _ = stop.send(true);
    let mut delivery_latencies = Vec::with_capacity(args.messages);
    let mut drained = true;
    for handle in receiving {
        let outcome = handle
            .await
            .map_err(|err| format!("a recipient failed: {err}"))?;
        delivery_latencies.extend(outcome.latencies_us);
        drained &= outcome.drained;
    }
    progress.finish_and_clear();
    drop(client);
    for relay in in_process {
        let _ = relay.stop.send(());
        match tokio::time::timeout(Duration::from_secs(10), relay.server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => ledger.error(format!("relay: {err}")),
            Ok(Err(err)) => ledger.error(format!("relay: {err}")),
            Err(_) => ledger.error("relay: did not stop within 10 s".to_owned()),
        }
    }

    let (mut sent, mut delivered, mut lost, mut duplicated) = (0, 0, 0, 0);
    for (acked, times) in ledger.acknowledged.iter().zip(&ledger.delivered) {
        let acked = acked.load(Ordering::Acquire);
        let times = u64::from(times.load(Ordering::Acquire));
        sent += u64::from(acked);
        delivered += u64::from(times > 0);
        duplicated += times.saturating_sub(1);
        if acked && times == 0 {
            lost += 1;
        }
    }
    let commits = args
        .relays
        .is_empty()
        .then(|| Commits::now(store_backend).since(commits_before));
    let seconds = |ns: u64| ns as f64 / 1e9;
    let send_seconds = seconds(ledger.last_ack_ns.load(Ordering::Relaxed));
    let delivery_seconds = seconds(ledger.last_delivery_ns.load(Ordering::Relaxed));
    let per_second = |count: u64, secs: f64| if secs > 0.0 { count as f64 / secs } else { 0.0 };
    let durable_sends_per_second = per_second(sent, send_seconds);
    let misdelivered = ledger.misdelivered.load(Ordering::Relaxed);
    let corrupted = ledger.corrupted.load(Ordering::Relaxed);
    let send_failures = ledger.send_failures.load(Ordering::Relaxed);
    let other_failures = ledger.other_failures.load(Ordering::Relaxed);
    let in_flight_at_stop = ledger.in_flight_at_stop.load(Ordering::Relaxed);
    let ok = lost == 0
        && duplicated == 0
        && misdelivered == 0
        && corrupted == 0
        && send_failures == 0
        && other_failures == 0
        && in_flight_at_stop == 0
        && !timed_out
        && drained
        && sent == args.messages as u64
        && delivered == sent;
    let ratio = |base: &Option<BaselineResult>| {
        base.as_ref()
            .map(|base| durable_sends_per_second / base.rows_per_second)
    };
    let errors = ledger
        .errors
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(Report {
        relays: relays.to_vec(),
        in_process: args.relays.is_empty(),
        backend: match (&args.postgres, args.relays.is_empty()) {
            (_, false) => "external",
            (Some(_), true) => "postgres",
            (None, true) => "sqlite",
        },
        wait_ms: args.wait_ms,
        senders: senders_n,
        recipients: senders_n,
        messages: args.messages,
        size: args.size,
        timeout_secs: args.timeout_secs,
        setup_seconds,
        sent,
        delivered,
        lost,
        duplicated,
        misdelivered,
        corrupted,
        reordered: ledger.reordered.load(Ordering::Relaxed),
        send_failures,
        other_failures,
        rate_limited: ledger.rate_limited.load(Ordering::Relaxed),
        in_flight_at_stop,
        timed_out,
        drained,
        durable_sends_per_second,
        send_seconds,
        deliveries_per_second: per_second(delivered, delivery_seconds),
        send_latency: percentiles(send_latencies),
        delivery_latency: percentiles(delivery_latencies),
        ratio_to_per_message: ratio(&baseline_per_message),
        ratio_to_batched: ratio(&baseline_batched),
        baseline_per_message,
        baseline_batched,
        commits,
        loadavg_before,
        loadavg_after: loadavg(),
        errors,
        ok,
    })
}
