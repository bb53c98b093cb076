//! Waiting for another process by asking again, not by blocking.
//!
//! A blocked `F_SETLKW` or `flock` is restarted after our `SA_RESTART`
//! signal handlers, and the process we wait for (another build, an orphaned
//! `.do`) does not get our signal: an interrupt could not stop such a wait.
//! So a waiter asks without blocking, and between two asks sleeps a
//! [`Backoff`] pause: short at first (most waits are), doubling to a bound
//! (a long wait costs at most one pause after the other side lets go).

use std::time::Duration;

/// The first pause.
const FIRST: Duration = Duration::from_micros(500);

/// The longest pause.
const MOST: Duration = Duration::from_millis(10);

/// Pauses between two asks: 0.5 ms, doubling to 10 ms.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// Sleep the next pause.
    pub fn pause(&mut self) {
        std::thread::sleep(self.next);
        self.next = (self.next * 2).min(MOST);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_bound() {
        let mut b = Backoff::default();
        let mut seen = vec![b.next];
        for _ in 0..6 {
            b.pause();
            seen.push(b.next);
        }
        assert_eq!(&seen[..3], [FIRST, FIRST * 2, FIRST * 4]);
        assert_eq!(seen[5..], [MOST, MOST]);
    }
}
