//! [`JournalWriter`]: group commit for appends submitted from plain threads.

use crate::{AppendOutcome, Journal, JournalEntry, JournalError};
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// Receives the outcome of one submission: one [`AppendOutcome`] per entry, in order.
type Done = Box<dyn FnOnce(Result<Vec<AppendOutcome>, JournalError>) + Send>;

/// Bounds one commit's statement size; a longer queue is committed in several rounds.
const MAX_SUBMISSIONS_PER_COMMIT: usize = 4096;

struct Submission {
    entries: Vec<JournalEntry>,
    reply: Reply,
}

/// Calls its callback exactly once: with the result, or with `Unavailable` if it is dropped unsent (the runtime
/// shut down with the submission queued or its commit in flight).
struct Reply(Option<Done>);

impl Reply {
    fn send(mut self, result: Result<Vec<AppendOutcome>, JournalError>) {
        if let Some(done) = self.0.take() {
            // A panicking callback is a bug of its submitter; it must not stop the writer for everyone else.
            if catch_unwind(AssertUnwindSafe(move || done(result))).is_err() {
                tracing::error!("a journal submission's callback panicked");
            }
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            Reply(Some(done)).send(Err(JournalError::Unavailable("the journal writer has stopped".to_owned())));
        }
    }
}

/// A background task that commits every submission that arrived while the previous commit ran, in one
/// [`Journal::append`]. Clones share the task, which ends when the last clone is dropped.
///
/// Callbacks run on the runtime's worker: they must be quick and must not block (send on a channel, say).
#[derive(Clone, Debug)]
pub struct JournalWriter {
    sender: mpsc::UnboundedSender<Submission>,
}

impl JournalWriter {
    pub fn spawn(journal: Journal, handle: &Handle) -> JournalWriter {
        let (sender, receiver) = mpsc::unbounded_channel();
        handle.spawn(run(journal, receiver));
        JournalWriter { sender }
    }

    /// Queues entries for the next commit; never blocks, callable from any thread. `done` gets exactly one call:
    /// the outcomes, or the error that failed the commit (nothing of the submission was written, except that
    /// `Unavailable` leaves the outcome unknown: see the crate's invariants).
    pub fn submit(
        &self,
        entries: Vec<JournalEntry>,
        done: Box<dyn FnOnce(Result<Vec<AppendOutcome>, JournalError>) + Send>,
    ) {
        // If the writer has stopped, the returned submission's reply reports that as it is dropped.
        let _ = self.sender.send(Submission { entries, reply: Reply(Some(done)) });
    }
}

async fn run(journal: Journal, mut receiver: mpsc::UnboundedReceiver<Submission>) {
    let mut queued = Vec::new();
    while receiver.recv_many(&mut queued, MAX_SUBMISSIONS_PER_COMMIT).await > 0 {
        commit(&journal, std::mem::take(&mut queued)).await;
    }
}

async fn commit(journal: &Journal, submissions: Vec<Submission>) {
    let mut entries = Vec::new();
    let mut parts: Vec<(Range<usize>, Reply)> = Vec::with_capacity(submissions.len());
    for submission in submissions {
        let start = entries.len();
        entries.extend(submission.entries);
        parts.push((start..entries.len(), submission.reply));
    }
    match journal.append(&entries).await {
        Ok(outcomes) => {
            tracing::debug!(submissions = parts.len(), entries = entries.len(), "journal group committed");
            for (range, reply) in parts {
                reply.send(Ok(outcomes[range].to_vec()));
            }
        }
        // One bad submission (a taken position, an unknown simulator) must not fail the others: retry each alone.
        // A connection failure would fail them all the same, so it is reported at once.
        Err(error) if parts.len() > 1 && !matches!(error, JournalError::Unavailable(_)) => {
            tracing::warn!(%error, submissions = parts.len(), "journal group commit failed; committing one by one");
            for (range, reply) in parts {
                reply.send(journal.append(&entries[range]).await);
            }
        }
        Err(error) => {
            tracing::warn!(%error, submissions = parts.len(), "journal group commit failed");
            for (_, reply) in parts {
                reply.send(Err(error.clone()));
            }
        }
    }
}
