import RampartNetlink
import NIOConcurrencyHelpers

/// Between the NFLOG reader thread and the engine: the packets not yet attributed, bounded, and
/// the count of those that never will be. Losses are counted here, where every packet's sequence
/// number passes: a gap is packets the kernel could not deliver (its socket buffer was full), and a
/// full queue drops a batch rather than grow (the engine is behind). Either way the count goes
/// into the interval's `lost`, so a flood costs bounded memory and the totals stay exact.
final class DropQueue: Sendable {
    struct State {
        var packets: [NflogPacket] = []
        var lost = 0
        var overrun = false
        var lastSequence: UInt32?
    }

    let capacity: Int
    private let state = NIOLockedValueBox(State())

    init(capacity: Int) { self.capacity = capacity }

    /// One datagram's packets; true when the queue was empty, so the consumer must be woken.
    func push(_ batch: [NflogPacket]) -> Bool {
        state.withLockedValue { s in
            let wasIdle = s.packets.isEmpty && s.lost == 0 && !s.overrun
            for p in batch {
                guard let sequence = p.sequence else { continue }
                if let last = s.lastSequence, sequence &- last > 1, sequence &- last < 1 << 31 { s.lost += Int(sequence &- last &- 1) }
                s.lastSequence = sequence
            }
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
            s.overrun = true
            return wasIdle
        }
    }

    /// Everything queued, and the losses since the last take.
    func take() -> (packets: [NflogPacket], lost: Int, overrun: Bool) {
        state.withLockedValue { s in
            let taken = (s.packets, s.lost, s.overrun)
            s = State(lastSequence: s.lastSequence)
            return taken
        }
    }
}
