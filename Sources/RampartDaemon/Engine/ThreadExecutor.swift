import Glibc
import RampartSystem

/// A serial executor on one dedicated thread: the policy engine's jobs — netlink commits, store
/// reads and writes, lease scans — run here, never on NIO's event loops, so a long transaction
/// cannot stall the control socket. The thread sleeps on a condition variable when idle (no
/// timer, no wakeups).
public final class ThreadExecutor: SerialExecutor, @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var jobs: [UnownedJob] = []

    public init(name: String) {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        let started = startThread(name: name) { [self] in loop() }
        precondition(started, "cannot start the \(name) thread")
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        pthread_mutex_lock(&mutex)
        jobs.append(unowned)
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Runs for the life of the process (the engine lives as long).
    private func loop() -> Never {
        while true {
            pthread_mutex_lock(&mutex)
            while jobs.isEmpty { pthread_cond_wait(&condition, &mutex) }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            pthread_mutex_unlock(&mutex)
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
        }
    }
}
