//! Real-time scheduling for the threads the live sound depends on: the audio thread, and the threads that stream
//! stems to it, so that a busy machine (a software renderer on every core, a browser beside the stage) starves
//! neither. Where the system does not allow it (no privilege, no such call) a thread stays as it is.

/// The live audio thread's place in the real-time range: above every ordinary thread, below the system's own
/// (the kernel's threaded interrupts sit at 50), as JACK and PipeWire place theirs.
pub const AUDIO_THREAD: u8 = 10;
/// The stem streams' place: above every ordinary thread, so drawing cannot starve them, and below the audio
/// thread, which must never wait for them. Round-robin among themselves, so no stem's decoder holds a core
/// while another's ring runs dry.
pub const STREAM_THREADS: u8 = 5;

/// How a thread is scheduled among its peers at the same real-time priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Runs until it blocks (the audio thread: one callback at a time, never long).
    FirstInFirstOut,
    /// Takes turns with its peers (the stream threads).
    RoundRobin,
}

/// Asks for real-time scheduling at `priority` for the calling thread; whether it was granted. One system call.
pub fn promote_current_thread(priority: u8, sharing: Sharing) -> bool {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            RealtimeThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
        };
        use thread_priority::{ThreadPriority, ThreadPriorityValue};
        let policy = ThreadSchedulePolicy::Realtime(match sharing {
            Sharing::FirstInFirstOut => RealtimeThreadSchedulePolicy::Fifo,
            Sharing::RoundRobin => RealtimeThreadSchedulePolicy::RoundRobin,
        });
        let Ok(value) = ThreadPriorityValue::try_from(priority) else { return false };
        set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Crossplatform(value), policy).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (priority, sharing);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_is_promoted_where_the_system_allows_it_and_left_alone_otherwise() {
        let granted = std::thread::spawn(|| {
            let granted = promote_current_thread(STREAM_THREADS, Sharing::RoundRobin);
            let policy = thread_priority::unix::thread_schedule_policy().ok();
            (granted, policy)
        })
        .join()
        .unwrap();
        use thread_priority::unix::{RealtimeThreadSchedulePolicy, ThreadSchedulePolicy};
        match granted {
            (true, policy) => {
                assert_eq!(policy, Some(ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::RoundRobin)))
            }
            (false, policy) => assert!(!matches!(policy, Some(ThreadSchedulePolicy::Realtime(_)))),
        }
    }
}
