import NIOCore
import NIOPosix

/// Sleeping on an event loop's timer. `Task.sleep` goes through the runtime's delayed-enqueue
/// path, which the executor take-over does not cover: it wakes libdispatch, whose worker pool
/// then keeps a periodic monitor timer. NIO's scheduled tasks use the event loop's own epoll
/// timeout, which is gone once the task has run.
enum LoopSleep {
    static func sleep(for delay: Duration) async throws {
        let nanoseconds = Int64(delay.components.seconds) * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        let scheduled = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(max(0, nanoseconds)))
        {}
        try await withTaskCancellationHandler {
            do {
                try await scheduled.futureResult.get()
            } catch {
                throw CancellationError()
            }
        } onCancel: {
            scheduled.cancel()
        }
    }

    static func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await sleep(for: ContinuousClock.now.duration(to: deadline))
    }
}
