import RampartSystem

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

    /// nil when the kernel has no xfrm statistics (CONFIG_XFRM_STATISTICS off).
    public static func read(path: String = "/proc/net/xfrm_stat") -> XfrmStats? {
        guard case .success(let bytes) = SourceFile.read(path, limit: 64 * 1024), !bytes.isEmpty else { return nil }
        return parse(String(decoding: bytes, as: UTF8.self))
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
        ("XfrmAcquireError", "Acquires that failed"),
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

    public init(listing: SAListing?, charonError: String?, charon: [Count], daemon: [Count]?, lastFailure: String?, xfrm: XfrmStats?,
                charonSince: String? = nil) {
        self.charonSince = charonSince
        self.listing = listing
        self.charonError = charonError
        self.charon = charon
        self.daemon = daemon
        self.lastFailure = lastFailure
        self.xfrm = xfrm
    }

    /// Asks charon at `socket` (list-sas and stats, each bounded by `timeoutMilliseconds`) and reads
    /// this namespace's xfrm counters.
    public static func gather(socket: String, daemon: [Count]? = nil, lastFailure: String? = nil, timeoutMilliseconds: Int32 = 2_000) -> IPsecView {
        var listing: SAListing?
        var error: String?
        var charon: [Count] = []
        var since: String?
        do {
            let client = try ViciClient(path: socket, timeoutMilliseconds: timeoutMilliseconds)
            listing = SAListing(items: try client.call("list-sas", streaming: "list-sa").items)
            let stats = try client.call("stats").response
            since = stats.section("uptime")?.string("since")
            if let ike = stats.section("ikesas") {
                if let t = ike.string("total").flatMap({ Int($0) }) { charon.append(Count(name: "IKE_SAs", value: t)) }
                if let h = ike.string("half-open").flatMap({ Int($0) }) { charon.append(Count(name: "IKE_SAs half-open", value: h)) }
            }
        } catch let e {
            error = e.description
        }
        return IPsecView(listing: listing, charonError: error, charon: charon, daemon: daemon, lastFailure: lastFailure, xfrm: XfrmStats.read(),
                         charonSince: since)
    }

    /// Only rampart's connections (`rampart-…`).
    public func own() -> IPsecView {
        var v = self
        v.listing?.ike.removeAll { !$0.connection.hasPrefix(IPsecSync.prefix) }
        v.listing?.children.removeAll { !$0.connection.hasPrefix(IPsecSync.prefix) }
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
