import Glibc

/// One thread that writes files for the engine (the drop log, the metrics textfile), so a slow
/// disk or a file that cannot be written never stops it. Jobs wait in a queue bounded by bytes; a
/// job that does not fit is refused and the caller says so. Jobs run in the order given; the
/// thread exists only while there is work (an idle daemon has none).
public final class BackgroundWriter: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var jobs: [(bytes: Int, run: @Sendable () -> Void)] = []
    private var queued = 0
    private var running = false
    private var threadAlive = false
    private let name: String
    public let limit: Int

    /// `limit`: the bytes that may wait at once.
    public init(name: String, limit: Int) {
        self.limit = limit
        self.name = name
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    /// Queues `job`, which writes about `bytes`; false when the queue has no room for it.
    public func submit(bytes: Int, _ job: @escaping @Sendable () -> Void) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard queued + bytes <= limit || (jobs.isEmpty && !running) else { return false }
        jobs.append((bytes, job))
        queued += bytes
        if !threadAlive {
            threadAlive = startThread(name: name) { [self] in loop() }
            // No thread to be had: the job runs here rather than never.
            if !threadAlive {
                jobs.removeLast()
                queued -= bytes
                job()
            }
        }
        pthread_cond_broadcast(&condition)
        return true
    }

    /// Whether every job queued so far has run.
    public var idle: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return jobs.isEmpty && !running
    }

    /// Blocks until every job queued so far has run (tests, and the daemon's stop).
    public func drain() {
        pthread_mutex_lock(&mutex)
        while !jobs.isEmpty || running { pthread_cond_wait(&condition, &mutex) }
        pthread_mutex_unlock(&mutex)
    }

    private func loop() {
        while true {
            pthread_mutex_lock(&mutex)
            guard !jobs.isEmpty else {
                threadAlive = false
                pthread_mutex_unlock(&mutex)
                return
            }
            let job = jobs.removeFirst()
            running = true
            pthread_mutex_unlock(&mutex)
            job.run()
            pthread_mutex_lock(&mutex)
            running = false
            queued -= job.bytes
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
        }
    }
}
