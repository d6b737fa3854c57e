/// The kernel's IPsec (xfrm) counters of this network namespace, `/proc/net/xfrm_stat`: packets
/// without an SA, failing authentication or decryption, replays… (Documentation/networking/xfrm_proc.rst).
public struct XfrmStats: Codable, Sendable, Equatable {
    public struct Counter: Codable, Sendable, Equatable {
        public var name: String
        public var value: UInt64
    }

    public var counters: [Counter]

    public init(counters: [Counter]) { self.counters = counters }

    /// `XfrmInError  0` lines; anything else is skipped.
    public static func parse(_ text: String) -> XfrmStats {
        var out: [Counter] = []
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count == 2, words[0].hasPrefix("Xfrm"), let v = UInt64(words[1]) else { continue }
            out.append(Counter(name: String(words[0]), value: v))
        }
        return XfrmStats(counters: out)
    }

    public subscript(name: String) -> UInt64? { counters.first { $0.name == name }?.value }

    /// What Windows' `show stats type=ipsec` called them, for the counters that have a meaning there.
    public static let labels: [(String, String)] = [
        ("XfrmInNoStates", "Packets not matched to an SA (no state)"),
        ("XfrmInStateProtoError", "Packets not authenticated or not decrypted"),
        ("XfrmInStateSeqError", "Packets replayed (sequence error)"),
        ("XfrmInStateExpired", "Packets for an expired SA"),
        ("XfrmInStateInvalid", "Packets for an invalid SA"),
        ("XfrmInTmplMismatch", "Packets not protected as the policy demands"),
        ("XfrmInNoPols", "Packets with no policy"),
        ("XfrmInPolBlock", "Packets blocked by policy, inbound"),
        ("XfrmOutNoStates", "Packets with no SA yet, outbound (an SA being negotiated)"),
        ("XfrmOutPolBlock", "Packets blocked by policy, outbound"),
        ("XfrmOutStateSeqError", "Packets over the sequence number limit, outbound"),
        ("XfrmAcquireError", "Acquires that failed")
    ]
}

/// The IP Security Monitor's IPsec views, from charon (SAs, its own statistics), the kernel
/// (xfrm counters) and, through rampartd, the events it counted. Rendered by `rampart monitor`,
/// `netsh ipsec dynamic show mmsas|qmsas|stats` and `rampart sas`.
public struct IPsecView: Codable, Sendable, Equatable {
    public struct Count: Codable, Sendable, Equatable {
        public var name: String
        public var value: Int

        public init(name: String, value: Int) {
            self.name = name
            self.value = value
        }
    }

    /// The names of rampart's connections and the only ones it loads, unloads or shows: `rampart-…`.
    public static let connectionPrefix = "rampart-"

    /// charon-systemd's VICI socket on Debian (strongswan.conf `charon.plugins.vici.socket`).
    public static let defaultSocket = "/run/charon.vici"

    public var listing: SAListing?
    /// Why `listing` is missing: charon unreachable, refused, timed out.
    public var charonError: String?
    /// charon's own `stats`: IKE_SAs total and half-open; since when it runs.
    public var charon: [Count]
    public var charonSince: String?
    /// rampartd's counts of charon's events since it started; nil when not asked through rampartd.
    public var daemon: [Count]?
    public var lastFailure: String?
    public var xfrm: XfrmStats?

    public init(
        listing: SAListing?, charonError: String?, charon: [Count], daemon: [Count]?, lastFailure: String?,
        xfrm: XfrmStats?,
        charonSince: String? = nil
    ) {
        self.charonSince = charonSince
        self.listing = listing
        self.charonError = charonError
        self.charon = charon
        self.daemon = daemon
        self.lastFailure = lastFailure
        self.xfrm = xfrm
    }

    /// Only rampart's connections (`rampart-…`).
    public func own() -> IPsecView {
        var v = self
        v.listing?.ike.removeAll { !$0.connection.hasPrefix(IPsecView.connectionPrefix) }
        v.listing?.children.removeAll { !$0.connection.hasPrefix(IPsecView.connectionPrefix) }
        return v
    }

    /// SAs whose local end is `source` and whose peer is `destination` (nil: any).
    public func selecting(source: String?, destination: String?) -> IPsecView {
        var v = self
        func same(_ a: String, _ b: String?) -> Bool {
            guard let b else { return true }
            return a == b || a.split(separator: "[").first.map(String.init) == b
        }
        v.listing?.ike.removeAll { !same($0.local, source) || !same($0.peer, destination) }
        let kept = Set(v.listing?.ike.map(\.connection) ?? [])
        v.listing?.children.removeAll { !kept.contains($0.connection) }
        return v
    }
}
