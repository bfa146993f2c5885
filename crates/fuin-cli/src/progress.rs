//! The progress bar of `send-file` and `fetch`: on stderr, only for
//! transfers of [`SHOWN_FROM`] bytes or more and only when stderr is a
//! terminal, so that piped output, scripts and the tests see nothing of it
//! and stdout is never touched.

use std::io::IsTerminal;

use fuin_client::{Transfer, TransferPhase, TransferProgress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Transfers smaller than this finish too fast to need a bar.
pub const SHOWN_FROM: u64 = 4 * 1024 * 1024;

/// A transfer for `size` bytes, with the bar that shows it (hidden when not
/// shown). Call [`ProgressBar::finish_and_clear`] on the bar when done.
pub fn transfer_bar(size: u64) -> (Transfer, ProgressBar) {
    let shown = size >= SHOWN_FROM && std::io::stderr().is_terminal();
    if !shown {
        return (Transfer::default(), ProgressBar::hidden());
    }
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg:>11} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .map(|style| style.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    let shown_bar = bar.clone();
    let transfer = Transfer::new().with_progress(move |progress: TransferProgress| {
        show(&shown_bar, progress);
    });
    (transfer, bar)
}

fn show(bar: &ProgressBar, progress: TransferProgress) {
    let name = match progress.phase {
        TransferPhase::Sealing => "sealing",
        TransferPhase::Uploading => "uploading",
        TransferPhase::Downloading => "downloading",
        // Opening runs with the download; the download's count is shown.
        TransferPhase::Opening => return,
        TransferPhase::Writing => "writing",
    };
    if progress.done == 0 {
        bar.set_message(name);
        bar.reset_elapsed();
        if let Some(total) = progress.total {
            bar.set_length(total);
        }
    }
    bar.set_position(progress.done);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_transfers_and_non_terminals_get_a_hidden_bar() {
        let (_, bar) = transfer_bar(SHOWN_FROM - 1);
        assert!(bar.is_hidden());
        // Under `cargo test` stderr is captured, not a terminal.
        if !std::io::stderr().is_terminal() {
            let (_, bar) = transfer_bar(SHOWN_FROM * 10);
            assert!(bar.is_hidden());
        }
    }

    #[test]
    fn a_phase_restarts_the_bar_with_its_total() {
        let bar = ProgressBar::hidden();
        show(
            &bar,
            TransferProgress {
                phase: TransferPhase::Sealing,
                done: 0,
                total: Some(100),
            },
        );
        show(
            &bar,
            TransferProgress {
                phase: TransferPhase::Sealing,
                done: 100,
                total: Some(100),
            },
        );
        show(
            &bar,
            TransferProgress {
                phase: TransferPhase::Uploading,
                done: 0,
                total: Some(180),
            },
        );
        assert_eq!((bar.position(), bar.length()), (0, Some(180)));
        show(
            &bar,
            TransferProgress {
                phase: TransferPhase::Opening,
                done: 50,
                total: Some(150),
            },
        );
        assert_eq!((bar.position(), bar.length()), (0, Some(180)));
        assert_eq!(bar.message(), "uploading");
    }
}
