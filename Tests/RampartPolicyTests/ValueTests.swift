import Testing
@testable import RampartPolicy

@Suite struct ValueTests {
    @Test(arguments: [("yes", true), ("Y", true), ("NO", false), ("n", false)])
    func yesNo(text: String, value: Bool) throws {
        #expect(try Values.yesNo(text).get() == value)
    }

    @Test func yesNoRejectsOtherWords() {
        #expect(throws: ValueError("'maybe' is not yes or no")) { try Values.yesNo("maybe").get() }
    }

    @Test(arguments: [
        ("255.255.255.0", 24), ("24", 24), ("255.255.255.255", 32), ("0.0.0.0", 0), ("32", 32), ("255.255.128.0", 17)
    ])
    func masks(text: String, prefix: Int) throws {
        #expect(try Values.mask(text, maxBits: 32).get() == prefix)
    }

    @Test func badMasks() {
        #expect(throws: ValueError("mask '255.0.255.0' is not contiguous")) {
            try Values.mask("255.0.255.0", maxBits: 32).get()
        }
        #expect(throws: ValueError("mask prefix length 33 is out of range 0-32")) {
            try Values.mask("33", maxBits: 32).get()
        }
    }

    @Test func protocols() throws {
        #expect(try Values.proto("tcp").get() == .tcp)
        #expect(try Values.proto("UDP").get() == .udp)
        #expect(try Values.proto("ANY").get() == .any)
        #expect(try Values.proto("icmp").get() == .icmp)
        #expect(try Values.proto("47").get() == .number(47))
        #expect(try Values.proto("0").get() == .any)
        #expect(try Values.proto("RAW").get() == .number(255))
        #expect(throws: ValueError("'tcpp' is not a protocol (ANY, ICMP, TCP, UDP, RAW or a number 0-255)")) {
            try Values.proto("tcpp").get()
        }
    }

    @Test func addresses() throws {
        #expect(try Values.address("me").get().0 == .me)
        #expect(try Values.address("Any").get().0 == .any)
        #expect(try Values.address("dns").get().0 == .server(.dns))
        #expect(try Values.address("GATEWAY").get().0 == .server(.gateway))
        #expect(try Values.address("192.0.2.1").get().0 == .subnet(IPAddress("192.0.2.1")!, prefix: 32))
        #expect(try Values.address("192.0.2.0/24").get().0 == .subnet(IPAddress("192.0.2.0")!, prefix: 24))
        #expect(try Values.address("2001:db8::1").get().0 == .subnet(IPAddress("2001:db8::1")!, prefix: 128))
        #expect(
            try Values.address("192.0.2.10-192.0.2.20").get().0
                == .range(IPAddress("192.0.2.10")!, IPAddress("192.0.2.20")!))
        #expect(
            try Values.address("2001:db8::1-2001:db8::ff").get().0
                == .range(IPAddress("2001:db8::1")!, IPAddress("2001:db8::ff")!))
        #expect(try Values.address("Update.Example.com").get().0 == .dnsName("update.example.com", prefix: nil))
        #expect(try Values.address("localhost").get().0 == .dnsName("localhost", prefix: nil))
        #expect(throws: (any Error).self) { try Values.address("192.0.2.300").get() }
        #expect(throws: (any Error).self) { try Values.address("192.0.2.9-192.0.2.1").get() }
        #expect(throws: (any Error).self) { try Values.address("192.0.2.1-2001:db8::1").get() }
        #expect(throws: (any Error).self) { try Values.address("bad host!").get() }
    }

    @Test func quickModeOffers() throws {
        let offers = try Values.quickModeOffers(
            "AH[MD5]:204800k/300s ESP[DES,SHA1]:30000k/480s ESP[3DES,SHA1]:3600s AH[SHA1]+ESP[3DES,None] ESP[None,MD5]:100000k"
        ).get()
        #expect(
            offers.map(\.description) == [
                "AH[MD5]:204800k/300s", "ESP[DES,SHA1]:30000k/480s", "ESP[3DES,SHA1]:3600s", "AH[SHA1]+ESP[3DES,None]",
                "ESP[None,MD5]:100000k"
            ])
        #expect(offers[2].lifetimeSeconds == 3600 && offers[2].lifetimeKilobytes == nil)
        #expect(throws: (any Error).self) { try Values.quickModeOffers("ESP[None,None]").get() }
        #expect(throws: (any Error).self) { try Values.quickModeOffers("ESP[RC4,SHA1]").get() }
        #expect(throws: (any Error).self) { try Values.quickModeOffers("ESP[3DES,SHA1]:12x").get() }
    }

    @Test func mainModeOffers() throws {
        #expect(
            try Values.mainModeOffers("3DES-SHA1-2 DES-MD5-1").get().map(\.description) == ["3DES-SHA1-2", "DES-MD5-1"])
        #expect(throws: (any Error).self) { try Values.mainModeOffers("3DES-SHA1").get() }
    }

    @Test func bootExemptions() throws {
        let e = try Values.bootExemptions("tcp:0:3389:inbound, udp:68:67:outbound icmp:0:0:inbound").get()
        #expect(e.map(\.description) == ["tcp:0:3389:inbound", "udp:68:67:outbound", "icmp:0:0:inbound"])
        #expect(try Values.bootExemptions("none").get().isEmpty)
        #expect(throws: (any Error).self) { try Values.bootExemptions("tcp:0:3389").get() }
        #expect(throws: (any Error).self) { try Values.bootExemptions("tcp:0:3389:sideways").get() }
        #expect(throws: (any Error).self) { try Values.bootExemptions("icmp:1:2:inbound").get() }
    }
}

@Suite struct IPAddressTests {
    @Test(arguments: [
        "192.0.2.1", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::", "::1", "2001:db8:0:1:1:1:1:1", "fe80::1:2",
        "2001:db8::", "1::"
    ])
    func roundTrip(text: String) {
        #expect(IPAddress(text)?.description == text)
    }

    @Test func canonicalIPv6() {
        #expect(IPAddress("2001:0DB8:0000:0000:0000:0000:0000:0001")?.description == "2001:db8::1")
        #expect(IPAddress("2001:db8:0:0:1:0:0:1")?.description == "2001:db8::1:0:0:1")
        #expect(IPAddress("::ffff:192.0.2.1")?.description == "::ffff:192.0.2.1")
    }

    @Test(arguments: ["1.2.3", "1.2.3.4.5", "256.1.1.1", "01234.1.1.1", "2001:db8:::1", "1:2:3:4:5:6:7:8:9", "g::1", ""]
    )
    func rejects(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func rangesAndPrefixes() {
        let r = AddressRange(prefix: IPAddress("192.0.2.77")!, length: 24)
        #expect(r.description == "192.0.2.0/24")
        #expect(
            AddressRange(first: IPAddress("192.0.2.5")!, last: IPAddress("192.0.2.9")!).description
                == "192.0.2.5-192.0.2.9")
        let merged = AddressRange.normalize([
            AddressRange(prefix: IPAddress("192.0.2.0")!, length: 25),
            AddressRange(prefix: IPAddress("192.0.2.128")!, length: 25),
            AddressRange(prefix: IPAddress("192.0.2.7")!, length: 32),
            AddressRange(prefix: IPAddress("2001:db8::")!, length: 64)
        ])
        #expect(merged.map(\.description) == ["192.0.2.0/24", "2001:db8::/64"])
    }
}
