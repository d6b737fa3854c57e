import Foundation
import RampartMigration
import RampartTestKit
import Testing

/// The five `ipsecData` layouts of [MS-GPIPSEC] §2.2.1: a filter list assembled byte by byte from
/// the specification's table decodes to its fields; every class encodes and decodes to itself;
/// no truncation, wrong GUID or oversized count crashes or reads past the end.
@Suite struct BlobTests {
    /// §2.2.1.5.1, by hand: the class GUID (Data1–3 little-endian), Data-Length, two legacy
    /// filters — "any → me TCP 80, mirrored" and "198.51.100.0/24 → DNS server UDP 53".
    static let filterBytes: [UInt8] =
        [0xB5, 0x20, 0xDC, 0x80, 0xC8, 0x2E, 0xD1, 0x11, 0xA8, 0x9E, 0x00, 0xA0, 0x24, 0x8D, 0x30, 0x21]
        + [0x84, 0, 0, 0] + [2, 0, 0, 0]
        // filter 1: no DNS names, description "Web" (UTF-16, NUL-terminated)
        + [0, 0, 0, 0, 0, 0, 0, 0] + [8, 0, 0, 0, 0x57, 0, 0x65, 0, 0x62, 0, 0, 0]
        + [0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB]
        + [1, 0, 0, 0]  // mirrored
        + [0, 0, 0, 0, 0, 0, 0, 0]  // source any
        + [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]  // destination 0 / 255.255.255.255: me
        + [0, 0, 0, 0] + [6, 0, 0, 0] + [0, 0] + [80, 0] + [0, 0] + [0, 0]
        // filter 2: description empty
        + [0, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 0, 0]
        + [0xAA, 0xAA, 0xAA, 0xAA, 0xBB, 0xBB, 0xCC, 0xCC, 0xDD, 0xDD, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE]
        + [0, 0, 0, 0]
        + [198, 51, 100, 0, 255, 255, 255, 0]
        + [0, 0, 0, 0, 0, 0, 0, 0]
        + [0, 0, 0, 0] + [17, 0, 0, 0] + [0, 0] + [53, 0] + [0] + [0x81] + [0, 0]

    @Test func aFilterListAssembledFromTheSpecificationDecodes() throws {
        let data = try FilterData.decode(Self.filterBytes)
        #expect(data.legacy.count == 2 && data.v2 == nil && data.leftover == 0)
        let web = data.legacy[0]
        #expect(web.description == "Web" && web.id == "{11111111-2222-3333-4455-66778899AABB}")
        #expect(web.mirrored == 1 && web.source == 0 && web.sourceMask == 0)
        #expect(web.destination == 0 && web.destinationMask == 0xFFFF_FFFF, "me")
        #expect(web.proto == 6 && web.sourcePort == 0 && web.destinationPort == 80 && web.special == 0)
        let dns = data.legacy[1]
        #expect(dns.source == 0xC633_6400 && dns.sourceMask == 0xFFFF_FF00 && dns.proto == 17)
        #expect(dns.destinationPort == 53 && dns.special == 0x81 && dns.id == "{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}")
        #expect(data.encode().dropFirst(20) == Self.filterBytes.dropFirst(20), "the writer lays it out the same way")
    }

    static let v6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]

    static var samples: (FilterData, NFAData, NegotiationData, ISAKMPData, PolicyData) {
        var filters = try! FilterData.decode(filterBytes)
        filters.v2 = [
            .init(
                description: "range", id: "{01234567-89AB-CDEF-0123-456789ABCDEF}", mirrored: 1,
                source: .init(
                    type: 2, version: 1, address: [192, 0, 2, 10] + .init(repeating: 0, count: 12),
                    secondary: [192, 0, 2, 20] + .init(repeating: 0, count: 12)),
                destination: .init(type: 4, version: 2, address: v6, secondary: [64] + .init(repeating: 0, count: 15)),
                sourcePort: .init(type: 2, port: 1024, end: 65535), destinationPort: .init(type: 1, port: 443),
                proto: 6,
                flags: 8)
        ]
        var nfa = NFAData(
            auths: [
                .init(type: 5, value: ""), .init(type: 1, value: "Open-Sesame"),
                .init(type: 3, value: "CN=Contoso Root")
            ],
            interfaceType: 0xFFFF_FFFE, tunnelAddress: 0xCB00_7101, isTunnel: 1, isActive: 1, tunnelEndpointName: "gw")
        nfa.alternateAuths = nfa.auths
        nfa.alternateFlags = [0, 0, 3]
        nfa.ipv6Tunnel = v6
        let negotiation = NegotiationData(offers: [
            .init(
                lifetimeSeconds: 3600, lifetimeKB: 100_000, pfsRequired: 1,
                algorithms: [.init(identifier: 3, integrity: 2, offerType: 2)]),
            .init(
                lifetimeSeconds: 900, lifetimeKB: 0, pfsRequired: 0,
                algorithms: [
                    .init(identifier: 2, integrity: 0, offerType: 1), .init(identifier: 2, integrity: 1, offerType: 2)
                ])
        ])
        let isakmp = ISAKMPData(
            instance: "{12A63239-DFB6-4F7A-9E84-FEA90E81202A}", masterPFSRequired: 1, options: 3, newDH: [4, 2, 0, 0],
            qmLimit: 5, mmLifetime: 28_800,
            methods: [
                .init(encryption: 2, hash: 2, oakleyGroup: 0x1000_0001, lifetimeSeconds: 28_800),
                .init(encryption: 1, hash: 1, randomFunction: 1, oakleyGroup: 2)
            ])
        return (filters, nfa, negotiation, isakmp, PolicyData(pollingInterval: 10_800))
    }

    @Test func everyClassEncodesAndDecodesToItself() throws {
        let (filters, nfa, negotiation, isakmp, policy) = Self.samples
        #expect(try FilterData.decode(filters.encode()) == filters)
        #expect(try NFAData.decode(nfa.encode()) == nfa)
        #expect(try NegotiationData.decode(negotiation.encode()) == negotiation)
        #expect(try ISAKMPData.decode(isakmp.encode()) == isakmp)
        #expect(try PolicyData.decode(policy.encode()) == policy)
        #expect(policy.encode().count == 25, "the specification's example policy blob is 25 bytes")
        // A Windows Server 2003 NFA has no tail: it decodes without one.
        var plain = nfa
        (plain.alternateAuths, plain.alternateFlags, plain.ipv6Tunnel) = (nil, nil, nil)
        #expect(try NFAData.decode(plain.encode()) == plain)
    }

    @Test func truncatedWrongOrOversizedBlobsAreErrorsNeverCrashes() throws {
        let (filters, nfa, negotiation, isakmp, policy) = Self.samples
        let blobs: [([UInt8], ([UInt8]) throws -> Void)] = [
            (filters.encode(), { _ = try FilterData.decode($0) }), (nfa.encode(), { _ = try NFAData.decode($0) }),
            (negotiation.encode(), { _ = try NegotiationData.decode($0) }),
            (isakmp.encode(), { _ = try ISAKMPData.decode($0) }), (policy.encode(), { _ = try PolicyData.decode($0) })
        ]
        for (bytes, decode) in blobs {
            for n in 0..<bytes.count - 1 {
                // Every proper prefix that cuts a field is an error; one that ends between a
                // structure and its trailing zero byte is the whole structure.
                do { try decode(Array(bytes.prefix(n))) } catch {}
            }
        }
        #expect(throws: BlobError.self) { try PolicyData.decode(filters.encode()) }
        var huge = filters.encode()
        huge[20...23] = [0xFF, 0xFF, 0xFF, 0x7F]
        #expect {
            try FilterData.decode(huge)
        } throws: { ($0 as? BlobError)?.message.contains("more than the blob can hold") == true }
        var extra = policy.encode()
        extra += [7, 7]
        #expect(try PolicyData.decode(extra).leftover == 3, "non-zero bytes after the structure are reported")
    }

    /// The fuzz seeds (fuzz/corpus/ipsecdata) were written by a separate Python encoder of the
    /// same tables: the decoder reads what it wrote.
    @Test func theSeedsOfASecondEncoderDecode() throws {
        func seed(_ name: String) throws -> [UInt8] {
            Array(
                try Data(
                    contentsOf: Fixtures.repositoryRoot.appendingPathComponent("fuzz/corpus/ipsecdata/\(name).bin")))
        }
        #expect(try PolicyData.decode(seed("policy")).pollingInterval == 10_800)
        let isakmp = try ISAKMPData.decode(seed("isakmp"))
        #expect(isakmp.instance == "{12A63239-DFB6-4F7A-9E84-FEA90E81202A}" && isakmp.newDH == [4, 0, 0, 0])
        #expect(
            isakmp.mmLifetime == 28_800
                && isakmp.methods == [.init(encryption: 2, hash: 2, oakleyGroup: 2, lifetimeSeconds: 28_800)])
        let negotiation = try NegotiationData.decode(seed("negotiation"))
        #expect(
            negotiation.offers == [
                .init(
                    lifetimeSeconds: 3600, lifetimeKB: 100_000, pfsRequired: 0,
                    algorithms: [.init(identifier: 3, integrity: 2, offerType: 2)])
            ])
        let nfa = try NFAData.decode(seed("nfa"))
        #expect(
            nfa.auths == [.init(type: 5, value: ""), .init(type: 1, value: "key")] && nfa.interfaceType == 0xFFFF_FFFE)
        #expect(
            nfa.tunnelAddress == 0xCB00_7101 && nfa.isTunnel == 1 && nfa.isActive == 1 && nfa.tunnelEndpointName == "gw"
        )
        #expect(nfa.ipv6Tunnel == Self.v6 && nfa.alternateAuths == nil && nfa.leftover == 0)
        let filter = try FilterData.decode(seed("filter"))
        #expect(filter.legacy.count == 1 && filter.legacy[0].special == 0x81 && filter.legacy[0].destinationPort == 80)
        let range = try #require(filter.v2?.first)
        #expect(
            range.source.type == 2 && range.source.address.prefix(4) == [192, 0, 2, 10]
                && range.source.secondary.prefix(4) == [192, 0, 2, 20])
        #expect(
            range.destination.type == 4 && range.destination.version == 2 && range.destination.secondary.first == 64)
        #expect(
            range.sourcePort == .init(type: 2, port: 1024, end: 65535)
                && range.destinationPort == .init(type: 1, port: 443))
        #expect(range.proto == 6 && range.flags == 8 && filter.leftover == 0)
    }
}
