import Glibc

/// What `NftablesClient` needs from a netlink socket, and nothing more: the seam between the
/// client (batches, error mapping, dumps) and the kernel. `NetlinkSocket` is the real one; tests
/// use a recording transport that answers as nf_tables would.
public protocol NetlinkTransport: AnyObject {
    /// The port id the kernel knows us by: notifications that carry it are our own changes.
    var portID: UInt32 { get }
    /// Sends one datagram (one or more netlink messages) in one sendmsg.
    func send(_ bytes: [UInt8]) throws(NetlinkError)
    /// One datagram; nil when nothing is queued and `wait` is false.
    func receive(wait: Bool) throws(NetlinkError) -> [UInt8]?
    /// Room for a batch of `bytes` with `messages` replies.
    func sizeBuffers(bytes: Int, messages: Int)
}

/// Message numbers: unique per client, rising by one per message, so a reply maps back to the
/// message that caused it with a subtraction. No socket is needed to number a batch.
public final class SequenceNumbers {
    private var last: UInt32

    /// By default from the clock, so a restarted process does not reuse the last one's numbers.
    public init(startingAfter last: UInt32 = UInt32(truncatingIfNeeded: time(nil))) {
        self.last = last
    }

    public func next() -> UInt32 {
        last &+= 1
        return last
    }
}
