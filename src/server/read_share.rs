//! The store's readers shared fairly between users: one bulk read (a catch-up page,
//! a History reply) at a time per user, across all of their sessions. Each read is a
//! bounded page; with one in flight per user, a user with many sessions asking in a
//! loop holds one place in the queue for the store (SQLite's one reader; one of
//! PostgreSQL's pooled connections), like everybody else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Whose turn it is to read, per user.
#[derive(Debug, Default)]
pub(crate) struct ReadShare {
    users: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One user's turn to read; the next read of that user waits until it is dropped.
#[derive(Debug)]
pub(crate) struct ReadTurn<'a> {
    share: &'a ReadShare,
    user: String,
    turn: Option<OwnedSemaphorePermit>,
}

impl ReadShare {
    /// Waits for `user`'s turn (their previous read done).
    pub(crate) async fn turn(&self, user: &str) -> ReadTurn<'_> {
        let semaphore = self
            .lock()
            .entry(user.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone();
        let turn = semaphore.acquire_owned().await.ok();
        ReadTurn {
            share: self,
            user: user.to_owned(),
            turn,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Users with a read in flight or waiting.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for ReadTurn<'_> {
    fn drop(&mut self) {
        let mut users = self.share.lock();
        drop(self.turn.take());
        // Forgotten when nobody else holds or waits for it (clones are made under the
        // lock, so the count cannot grow meanwhile).
        if users
            .get(&self.user)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            users.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_read_per_user_at_a_time_and_others_are_not_held() {
        let share = ReadShare::default();
        let first = share.turn("alice").await;
        // alice's second read waits for her first; bob's does not.
        let second = share.turn("alice");
        tokio::pin!(second);
        assert!(
            futures_poll(&mut second).is_none(),
            "alice read twice at once"
        );
        let bob = share.turn("bob");
        tokio::pin!(bob);
        assert!(futures_poll(&mut bob).is_some(), "bob waited for alice");
        drop(first);
        let second = second.await;
        drop(second);
        assert_eq!(share.len(), 0, "nothing kept for users who are done");
    }

    /// Polls `f` once.
    fn futures_poll<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(f).poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}
