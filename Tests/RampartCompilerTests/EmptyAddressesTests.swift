import Testing

@testable import RampartCompiler
@testable import RampartPolicy

@Suite struct EmptyAddressesTests {
    @Test func serverTypesAndNamesWithoutAddressesAreSaidOncePerFilter() throws {
        let store = try storeFrom(
            """
            pushd ipsec static
            add filteraction name=Permit action=permit
            add filter filterlist=Out srcaddr=me dstaddr=DNS protocol=udp dstport=53 mirrored=yes
            add filter filterlist=Out srcaddr=me dstaddr=DNS protocol=tcp dstport=53 mirrored=yes
            add filter filterlist=Out srcaddr=me dstaddr=update.example.com protocol=tcp dstport=443
            add filter filterlist=Out srcaddr=me dstaddr=GATEWAY protocol=icmp
            add policy name=P assign=yes
            add rule name=out policy=P filterlist=Out filteraction=Permit
            popd

            """)
        let filters = EffectiveFilters.collect(store)
        var addresses = DynamicAddresses()
        addresses.gateway = [IPAddress("192.0.2.1")!]
        let ids = filters.filter { !$0.isMirror }.map(\.id)
        #expect(
            EmptyAddresses.warnings(filters, addresses: addresses) == [
                "DNS has no addresses here: the 2 filters that name it (\(ids[0]), \(ids[1])) match nothing; without rampartd, give the addresses with --addresses FILE (rampartd keeps these sets live from resolv.conf, leases, routes and DNS)",
                "update.example.com has no addresses here: the filter that names it (\(ids[2])) matches nothing; without rampartd, give the addresses with --addresses FILE (rampartd keeps these sets live from resolv.conf, leases, routes and DNS)"
            ])
        addresses.dns = [IPAddress("192.0.2.53")!]
        addresses.names["update.example.com"] = [IPAddress("203.0.113.10")!]
        #expect(EmptyAddresses.warnings(filters, addresses: addresses) == [])
    }
}
