import Glibc
import NIOConcurrencyHelpers
import RampartNetlink

/// Between the NFLOG reader thread and the engine: the packets not yet attributed, bounded, and
/// the count of those that never will be. Losses are counted here, where every packet's sequence
/// number passes: a gap is packets the kernel could not deliver (its socket buffer was full), and a
/// full queue drops a batch rather than grow (the engine is behind). Either way the count goes
/// into the interval's `lost`, so a flood costs bounded memory.
///
/// A gap shows only when a later packet arrives: what the kernel could not deliver after the last
/// packet that came is counted by reconciling with the kernel's counters (`PolicyEngine
/// .reconcileDrops`), which needs `accounted` (every rampart packet seen or counted lost, since the
/// start) and a way to know that nothing is on its way (`quiet`).
final class DropQueue: Sendable {
    struct State {
        var packets: [NflogPacket] = []
        var lost = 0
        var overrun = false
        var lastSequence: UInt32?
        var accounted = 0
        /// Datagrams and overruns since the start: unchanged between two looks means nothing came.
        var events = 0
        var receiving = false
    }

    let capacity: Int
    /// The NFLOG subscription, to look (never read) whether anything waits in it.
    let socket: (any NotificationTransport)?
    private let state = NIOLockedValueBox(State())

    init(capacity: Int, socket: (any NotificationTransport)? = nil) {
        self.capacity = capacity
        self.socket = socket
    }

    /// One datagram's packets; true when the queue was empty, so the consumer must be woken.
    func push(_ batch: [NflogPacket]) -> Bool {
        state.withLockedValue { s in
            let wasIdle = s.packets.isEmpty && s.lost == 0 && !s.overrun
            s.events += 1
            var gaps = 0
            for p in batch {
                if p.prefix.hasPrefix("rampart ") { s.accounted += 1 }
                guard let sequence = p.sequence else { continue }
                if let last = s.lastSequence, sequence &- last > 1, sequence &- last < 1 << 31 {
                    gaps += Int(sequence &- last &- 1)
                }
                s.lastSequence = sequence
            }
            s.lost += gaps
            s.accounted += gaps
            if s.packets.count + batch.count > capacity {
                s.lost += batch.count
            } else {
                s.packets += batch
            }
            return wasIdle && (!s.packets.isEmpty || s.lost > 0)
        }
    }

    /// The kernel said ENOBUFS: the next sequence number says how many; the interval must start.
    func overrun() -> Bool {
        state.withLockedValue { s in
            let wasIdle = s.packets.isEmpty && s.lost == 0 && !s.overrun
            s.events += 1
            s.overrun = true
            return wasIdle
        }
    }

    /// The reader is about to receive (true) or has handled what it received (false).
    func receiving(_ busy: Bool) {
        state.withLockedValue { $0.receiving = busy }
    }

    /// Everything queued, and the losses since the last take.
    func take() -> (packets: [NflogPacket], lost: Int, overrun: Bool) {
        state.withLockedValue { s in
            let taken = (s.packets, s.lost, s.overrun)
            s.packets = []
            s.lost = 0
            s.overrun = false
            return taken
        }
    }

    /// Every rampart packet that came or was counted lost since the start.
    var accounted: Int { state.withLockedValue { $0.accounted } }

    /// Whether packets or losses wait for the engine to take them.
    var holding: Bool { state.withLockedValue { !$0.packets.isEmpty || $0.lost > 0 || $0.overrun } }

    /// The event count when the reader is idle with nothing waiting in the socket, else nil. Under
    /// the lock: a reader between its receive and its push is `receiving`, and one that has not
    /// yet received leaves the socket readable.
    func quiet() -> Int? {
        state.withLockedValue { s in
            guard !s.receiving else { return nil }
            if socket?.isReadable == true { return nil }
            return s.events
        }
    }
}
