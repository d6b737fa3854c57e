import CRampartSystem
import Glibc

/// The signals rampartd takes with sigwait on its main thread (reload, stop): blocked in every
/// other thread, and only those.
public func daemonSignalSet() -> sigset_t {
    var set = sigset_t()
    sigemptyset(&set)
    for sig in [SIGHUP, SIGTERM, SIGINT] { sigaddset(&set, sig) }
    return set
}

/// Starts a named, detached thread running `body`: the one place rampart makes a thread (the
/// engine's executor, the blocking watcher loops). Its signal mask is `daemonSignalSet`, whatever
/// the creating thread had (a libdispatch worker blocks everything). Returns false when no
/// thread could be made.
@discardableResult
public func startThread(name: String, _ body: @escaping () -> Void) -> Bool {
    final class Box {
        let name: String
        let body: () -> Void
        init(_ name: String, _ body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(name, body))
    let created = pthread_create(
        &thread, nil,
        { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            _ = box.name.withCString { rampart_name_thread($0) }
            var mask = daemonSignalSet()
            pthread_sigmask(SIG_SETMASK, &mask, nil)
            box.body()
            return nil
        }, box.toOpaque())
    guard created == 0 else {
        box.release()
        return false
    }
    pthread_detach(thread)
    return true
}
