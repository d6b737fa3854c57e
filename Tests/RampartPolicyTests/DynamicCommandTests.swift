import Testing
@testable import RampartPolicy

@Suite struct DynamicCommandTests {
    @Test func setConfigPositionalAndTaggedForms() throws {
        let i = try run(
            """
            pushd ipsec dynamic
            set config ipsecdiagnostics 7
            set config property=ipsecloginterval value=60
            set config ipsecexempt value=0
            set config bootmode block
            set config ikelogging 1
            set config strongcrlcheck 2
            set config bootexemptions tcp:0:3389:inbound udp:0:53:outbound
            """)
        let c = i.store.config
        #expect(c.ipsecDiagnostics == 7 && c.ipsecLogInterval == 60 && c.ipsecExempt == 0 && c.bootMode == .block)
        #expect(c.ikeLogging == 1 && c.strongCRLCheck == 2)
        #expect(c.bootExemptions.map(\.description) == ["tcp:0:3389:inbound", "udp:0:53:outbound"])
        let j = try run("dynamic set config bootexemptions none", store: i.store)
        #expect(j.store.config.bootExemptions.isEmpty)
    }

    @Test func defaultsFollowTheProjectDecisions() {
        let c = DynamicConfig()
        #expect(c.ipsecExempt == 3 && c.bootMode == .stateful && c.ipsecLogInterval == 3600 && c.ipsecDiagnostics == 0)
    }

    @Test func setConfigErrors() {
        #expect(
            error(of: "ipsec dynamic set config ipsecloginterval 30")?.description
                == "t.netsh:1:43: error: ipsecloginterval: '30' is not a whole number from 60 to 86400")
        #expect(
            error(of: "ipsec dynamic set config ipsecexempt 4")?.message
                == "ipsecexempt: '4' is not a whole number from 0 to 3")
        #expect(
            error(of: "ipsec dynamic set config bootmode open")?.message
                == "bootmode: 'open' is not one of permit, block, stateful")
        #expect(error(of: "ipsec dynamic set config colour 4")?.message.hasPrefix("unknown property 'colour'") == true)
        #expect(error(of: "ipsec dynamic set config ipsecdiagnostics")?.message == "'dynamic set config' needs value=")
    }

    @Test func showConfigWorksOffline() throws {
        let i = try run("ipsec dynamic show config\nipsec dynamic show all")
        #expect(i.outputs.first == .config(DynamicConfig()))
        #expect(i.outputs.count == 3)
    }

    @Test func runtimeCommandsNeedTheDaemon() {
        for line in [
            "add mmpolicy name=m", "add rule srcaddr=any dstaddr=any mmpolicy=m", "delete all", "show rule",
            "add qmpolicy name=q"
        ] {
            #expect(
                error(of: "ipsec dynamic " + line)?.message.contains("rampartd; the daemon is not running") == true,
                "\(line)")
        }
    }

    @Test func dynamicRulesWithARuntimeState() throws {
        let i = try run(
            """
            pushd ipsec dynamic
            add mmpolicy name=TempMMpolicy mmsec="3DES-SHA1-2"
            add qmpolicy name=Q soft=yes pfsgroup=GRP2 qmsec="ESP[3DES,SHA1]"
            add rule srcaddr=any dstaddr=any mmpolicy=TempMMpolicy actioninbound=block actionoutbound=block
            add rule srcaddr=any dstaddr=any protocol=TCP srcport=0 dstport=80 mirrored=yes mmpolicy=TempMMpolicy actioninbound=permit actionoutbound=permit
            set rule srcaddr=any dstaddr=any protocol=TCP dstport=80 qmp=Q actionoutbound=negotiate
            delete rule srcaddr=any dstaddr=any
            """, dynamic: DynamicState())
        let d = try #require(i.dynamic)
        #expect(d.rules.count == 1)
        #expect(d.rules[0].inbound == .permit && d.rules[0].outbound == .negotiate && d.rules[0].qmpolicy == "Q")
        #expect(d.quickModePolicies[0].soft && d.quickModePolicies[0].pfsGroup == "GRP2")
        #expect(
            error(of: "ipsec dynamic add rule srcaddr=any dstaddr=me mmpolicy=Nope", dynamic: DynamicState())?.message
                == "no main mode policy named 'Nope'")
        #expect(
            error(
                of: "ipsec dynamic add mmpolicy m\nipsec dynamic add rule any me m\nipsec dynamic delete mmpolicy m",
                dynamic: DynamicState())?.message
                == "main mode policy 'm' is used by a dynamic rule")
    }

    @Test func securityAssociationQueriesAreInert() throws {
        let i = try run("ipsec dynamic show mmsas\nipsec dynamic show qmsas\nipsec dynamic show stats")
        #expect(i.outputs.count == 3)
    }
}
