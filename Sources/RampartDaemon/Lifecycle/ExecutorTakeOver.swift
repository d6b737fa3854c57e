import CRampartSystem
import NIOCore
import NIOPosix

/// Swift concurrency's global executor moved onto NIO's event loops, so that no libdispatch worker
/// pool (with its 1-second monitor timer) exists: an idle rampartd makes no wakeups.
///
/// NIO's `unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor` finds the
/// runtime's hook with dlsym, which works when the runtime is a shared library. The installed
/// rampartd links the runtime statically, which hides the symbol; then the hook is set here
/// through a direct reference (CRampartSystem), to the same effect: every global job is
/// enqueued on an event loop of `MultiThreadedEventLoopGroup.singleton`.
enum ExecutorTakeOver {
    enum Result: String {
        case nio = "NIO's take-over (dlsym)"
        case direct = "the runtime hook, set directly (static runtime)"
        case none = "libdispatch (the hook was taken)"
    }

    /// The hook's type, as the runtime calls it: the job, and the default implementation.
    typealias Original = @convention(thin) (UnownedJob) -> Void
    typealias Hook = @convention(thin) (UnownedJob, Original) -> Void

    /// Call once, on the main thread, before any task runs.
    static func install() -> Result {
        if NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() { return .nio }
        guard let slot = rampart_swift_enqueue_global_hook(), slot.pointee == nil else { return .none }
        withUnsafeTemporaryAllocation(of: Hook.self, capacity: 1) { hook in
            hook.baseAddress!.initialize(to: { job, _ in
                MultiThreadedEventLoopGroup.singleton.any().enqueue(ExecutorJob(job))
            })
            // A thin function is one code pointer: that is what the runtime's slot holds.
            hook.baseAddress!.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: 1) {
                slot.pointee = $0.pointee
            }
        }
        return .direct
    }
}
