import Testing
@testable import RampartPolicy
import RampartReport

@Suite struct StaticCommandTests {
    let base = """
        add filteraction name=Perm action=permit
        add filteraction name=Block action=block
        add policy name=P description="My policy"
        add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80
        """

    @Test func addPolicyWithEveryParameter() throws {
        let i = try runStatic(
            #"add policy name="IIS Policy" description="web" mmpfs=yes qmpermm=2 mmlifetime=60 activatedefaultrule=NO pollinginterval=300 assign=y mmsecmethods="3DES-SHA1-2 DES-MD5-1""#
        )
        let p = try #require(i.store.local.policies.first)
        #expect(p.name == "IIS Policy" && p.description == "web" && p.mmpfs && p.qmpermm == 2 && p.mmlifetime == 60)
        #expect(!p.defaultRule.active && p.pollingInterval == 300 && p.assigned)
        #expect(p.mmsecmethods.map(\.description) == ["3DES-SHA1-2", "DES-MD5-1"])
    }

    @Test func setPolicyRenamesAndAssignsOnePolicyPerStore() throws {
        let i = try runStatic(
            """
            add policy name=A assign=yes
            add policy name=B
            set policy name=B assign=yes newname=C description=x
            """)
        #expect(i.store.local.policies.map(\.name) == ["A", "C"])
        #expect(i.store.local.policies.map(\.assigned) == [false, true])
        #expect(i.diagnostics.contains { $0.severity == .note && $0.message.contains("'A' is no longer assigned") })
        let g = i.store.local.policies[1].guid
        let j = try runStatic("set policy guid=\(g) description=byguid", store: i.store)
        #expect(j.store.local.policies[1].description == "byguid")
    }

    @Test func addFilterCreatesItsListAndAppliesDefaults() throws {
        let i = try runStatic("add filter filterlist=Web srcaddr=any dstaddr=me")
        let list = try #require(i.store.local.filterLists.first)
        #expect(list.name == "Web")
        let f = try #require(list.filters.first)
        #expect(
            f.source == .any && f.destination == .me && f.proto == .any && f.mirrored && f.sourcePort == 0
                && f.destinationPort == 0)
    }

    @Test func addFilterEveryParameterAndPositional() throws {
        let i = try runStatic(
            """
            add filter filterlist=L srcaddr=192.0.2.0 dstaddr=me description=d protocol=UDP mirrored=no srcmask=255.255.255.0 dstmask=32 srcport=53 dstport=1024
            add filter L 198.51.100.7 me "second" TCP yes 32 32 0 25
            """)
        let fs = i.store.local.filterLists[0].filters
        #expect(fs[0].source == .subnet(IPAddress("192.0.2.0")!, prefix: 24))
        #expect(
            fs[0].proto == .udp && !fs[0].mirrored && fs[0].sourcePort == 53 && fs[0].destinationPort == 1024
                && fs[0].description == "d")
        #expect(
            fs[1].source == .subnet(IPAddress("198.51.100.7")!, prefix: 32) && fs[1].proto == .tcp
                && fs[1].destinationPort == 25 && fs[1].description == "second")
    }

    @Test func hostBitsAreNormalisedWithAWarning() throws {
        let i = try runStatic("add filter filterlist=L srcaddr=192.0.2.77 srcmask=255.255.255.0 dstaddr=me")
        #expect(i.store.local.filterLists[0].filters[0].source == .subnet(IPAddress("192.0.2.0")!, prefix: 24))
        #expect(
            warnings(i) == [
                "t.netsh:2:33: warning: srcaddr 192.0.2.77/24 has host bits set under its mask; using 192.0.2.0/24"
            ])
    }

    @Test func serverTypeForcesTheOtherSideToMe() throws {
        let i = try runStatic("add filter filterlist=L srcaddr=any dstaddr=DNS protocol=udp dstport=53")
        #expect(i.store.local.filterLists[0].filters[0].source == .me)
        #expect(warnings(i).first?.contains("srcaddr forced to 'me' because dstaddr is the server type DNS") == true)
        #expect(
            staticError("add filter filterlist=L srcaddr=WINS dstaddr=DNS")?.message.contains(
                "both sides are server types") == true)
    }

    @Test func maskWithDNSNameAppliesToEachAddress() throws {
        let i = try runStatic("add filter filterlist=L srcaddr=me dstaddr=update.example.com dstmask=24")
        #expect(i.store.local.filterLists[0].filters[0].destination == .dnsName("update.example.com", prefix: 24))
    }

    @Test func identicalFiltersAreKeptWithAWarning() throws {
        let i = try runStatic(
            """
            add filter filterlist=L srcaddr=192.0.2.1 dstaddr=me
            add filter filterlist=L srcaddr=192.0.2.1 dstaddr=me
            """)
        #expect(i.store.local.filterLists[0].filters.count == 2)
        #expect(warnings(i) == ["t.netsh:3:1: warning: identical filter already in filter list 'L'; both are kept"])
    }

    @Test func filterErrors() {
        #expect(
            staticError("add filter filterlist=L srcaddr=any dstaddr=me protocol=icmp dstport=80")?.description
                == "t.netsh:2:70: error: ports need protocol TCP or UDP (protocol is ICMP)")
        #expect(
            staticError("add filter filterlist=L srcaddr=192.0.2.1 dstaddr=2001:db8::1")?.description
                == "t.netsh:2:51: error: srcaddr is IPv4 but dstaddr is IPv6")
        #expect(
            staticError("add filter filterlist=L srcaddr=192.0.2.1-192.0.2.9 srcmask=24 dstaddr=me")?.description
                == "t.netsh:2:61: error: a mask does not apply to a range")
        #expect(
            staticError("add filter filterlist=L srcaddr=192.0.2.0/24 srcmask=16 dstaddr=me")?.description
                == "t.netsh:2:54: error: srcmask /16 conflicts with the prefix /24 in srcaddr")
        #expect(staticError("add filter filterlist=L dstaddr=me")?.message == "'static add filter' needs srcaddr=")
        #expect(
            staticError("add filter filterlist=L srcaddr=any dstaddr=me mirrored=perhaps")?.description
                == "t.netsh:2:57: error: mirrored: 'perhaps' is not yes, no or stateful (mirrored, the mirror half admitting replies only: docs/extensions.md)"
        )
        #expect(
            staticError("add filter filterlist=L srcaddr=any dstaddr=me dstport=70000 protocol=tcp")?.message
                == "dstport: '70000' is not a port number from 0 (any) to 65535")
    }

    @Test func deleteFilterMatchesFieldsAndWarnsWhenMissing() throws {
        let i = try runStatic(
            """
            add filter filterlist=L srcaddr=192.0.2.1 dstaddr=me protocol=tcp dstport=22 description=ban
            add filter filterlist=L srcaddr=192.0.2.2 dstaddr=me protocol=tcp dstport=22
            delete filter filterlist=L srcaddr=192.0.2.1 dstaddr=me protocol=tcp dstport=22
            delete filter filterlist=L srcaddr=192.0.2.9 dstaddr=me
            delete filter filterlist=Nope srcaddr=any dstaddr=me
            """)
        #expect(i.store.local.filterLists[0].filters.map(\.source.description) == ["192.0.2.2"])
        #expect(
            warnings(i) == [
                "t.netsh:5:1: warning: no matching filter in filter list 'L' to delete",
                "t.netsh:6:26: warning: no filter list named 'Nope'; no filter deleted"
            ])
    }

    @Test func filterActionsEveryParameter() throws {
        let i = try runStatic(
            """
            add filteraction name=Secure description=s qmpfs=yes inpass=y soft=n action=negotiate qmsec="ESP[3DES,SHA1]:3600s AH[MD5]"
            set filteraction name=Secure newname=Secure2 soft=yes
            add filteraction Plain "plain text" no no no permit
            """)
        let a = i.store.local.filterActions
        #expect(a[0].name == "Secure2" && a[0].qmpfs && a[0].inpass && a[0].soft && a[0].action == .negotiate)
        #expect(a[0].qmsecmethods.map(\.description) == ["ESP[3DES,SHA1]:3600s", "AH[MD5]"])
        #expect(a[1].action == .permit && a[1].description == "plain text")
    }

    @Test func filterActionDefaultsToNegotiate() throws {
        let i = try runStatic("add filteraction name=N")
        #expect(i.store.local.filterActions[0].action == .negotiate)
    }

    @Test func rulesEveryParameter() throws {
        let i = try runStatic(
            base + "\n" + #"""
                add rule name=R policy=P filterlist=Web filteraction=Perm tunnel=192.0.2.9 conntype=lan activate=no description="r" psk="secret" kerberos=yes rootca="CN=Root certmap:yes excludecaname:no" rootca="CN=Other"
                set rule name=R policy=P newname=R2 conntype=all activate=yes filteraction=Block
                """#)
        let r = try #require(i.store.local.policies[0].rules.first)
        #expect(r.name == "R2" && r.id == 1 && r.filterAction == "Block" && r.connectionType == .all && r.active)
        #expect(r.tunnel == .subnet(IPAddress("192.0.2.9")!, prefix: 32) && r.description == "r")
        #expect(
            r.authMethods == [
                .presharedKey("secret"), .kerberos, .rootCA("CN=Root certmap:yes excludecaname:no"), .rootCA("CN=Other")
            ])
    }

    @Test func setRuleById() throws {
        let i = try runStatic(
            base + "\nadd rule name=R policy=P filterlist=Web filteraction=Perm\nset rule id=1 policy=P activate=no")
        #expect(i.store.local.policies[0].rules[0].active == false)
    }

    @Test func missingReferencesSuggestTheClosestName() {
        #expect(
            staticError(base + "\nadd rule name=R policy=P filterlist=Web filteraction=Permit")?.description
                == "t.netsh:6:54: error: no filter action named 'Permit' in the local store; did you mean 'Perm'?")
        #expect(
            staticError(base + "\nadd rule name=R policy=P filterlist=Webb filteraction=Perm")?.description
                == "t.netsh:6:37: error: no filter list named 'Webb' in the local store; did you mean 'Web'?")
        #expect(
            staticError(base + "\nadd rule name=R policy=Q filterlist=Web filteraction=Perm")?.description
                == "t.netsh:6:24: error: no policy named 'Q' in the local store; did you mean 'P'?")
    }

    @Test func duplicateRuleNameInAPolicyIsAnError() {
        let script =
            base
            + "\nadd rule name=R policy=P filterlist=Web filteraction=Perm\nadd rule name=r policy=P filterlist=Web filteraction=Block"
        #expect(staticError(script)?.description == "t.netsh:7:15: error: policy 'P' already has a rule named 'r'")
    }

    @Test func duplicateObjectNamesAndAllAreErrors() {
        #expect(
            staticError("add policy name=X\nadd policy name=x")?.message
                == "policy 'x' already exists in the local store")
        #expect(staticError("add filterlist name=all")?.message == "'all' is a keyword and cannot be used as a name")
        #expect(staticError("add filteraction name=\"\"")?.message == "name must not be empty")
    }

    @Test func deleteOfMissingObjectsWarnsAndGoesOn() throws {
        let i = try runStatic(
            """
            delete policy Nope
            del filterlist Nope
            delete filteraction Nope
            delete rule name=Nope policy=Nope
            add policy name=X
            delete rule name=Nope policy=X
            """)
        #expect(warnings(i).count == 5)
        #expect(i.store.local.policies.map(\.name) == ["X"])
    }

    @Test func deleteCascade() throws {
        let withRule = base + "\nadd rule name=R policy=P filterlist=Web filteraction=Perm"
        #expect(
            staticError(withRule + "\ndelete filterlist Web")?.message
                == "filter list 'Web' is used by rule 'R' of policy 'P'; delete or change that rule first")
        #expect(
            staticError(withRule + "\ndelete filteraction Perm")?.message
                == "filter action 'Perm' is used by rule 'R' of policy 'P'; delete or change that rule first")
        #expect(staticError(withRule + "\ndelete filteraction all")?.message.contains("is used by rule") == true)
        let i = try runStatic(withRule + "\ndelete policy P\ndelete filterlist Web\ndelete filteraction all")
        #expect(i.store.local.isEmpty)
        let j = try runStatic(withRule + "\ndel rule all P\ndelete filterlist all")
        #expect(j.store.local.policies[0].rules.isEmpty && j.store.local.filterLists.isEmpty)
    }

    @Test func renamingAListOrActionUpdatesRules() throws {
        let i = try runStatic(
            base
                + "\nadd rule name=R policy=P filterlist=Web filteraction=Perm\nset filterlist name=Web newname=Www description=d\nset filteraction name=Perm newname=Allow"
        )
        #expect(i.store.local.policies[0].rules[0].filterList == "Www")
        #expect(i.store.local.policies[0].rules[0].filterAction == "Allow")
        #expect(i.store.local.filterLists[0].description == "d")
    }

    @Test func defaultRule() throws {
        let i = try runStatic(
            #"add policy name=P\#nset defaultrule policy=P qmpfs=yes activate=no qmsecmethods="ESP[DES,MD5]" kerberos=yes"#
        )
        let d = i.store.local.policies[0].defaultRule
        #expect(d.qmpfs && !d.active && d.qmsecmethods.count == 1 && d.authMethods == [.kerberos])
    }

    @Test func deleteAllClearsTheCurrentStoreOnly() throws {
        let i = try runStatic(
            """
            set store location=persistent
            add policy name=Keep
            set store location=local
            add policy name=Gone
            delete all
            """)
        #expect(i.store.local.isEmpty)
        #expect(i.store.persistent.policies.map(\.name) == ["Keep"])
    }

    @Test func storeLocation() throws {
        let i = try runStatic("set store location=persistent\nshow store")
        #expect(i.outputs == [.storeLocation(.persistent)])
        #expect(staticError("set store location=domain")?.message.contains("Active Directory") == true)
        #expect(
            staticError("set store location=local domain=example.com")?.message
                == "domain= applies only to location=domain")
    }

    @Test func setBatchIsAcceptedAndInert() throws {
        let i = try runStatic("set batch mode=enable")
        #expect(i.diagnostics.first?.severity == .note)
    }

    @Test func showCommandsSelectObjects() throws {
        let script = base + "\nadd rule name=R policy=P filterlist=Web filteraction=Perm\n"
        func objects(_ line: String) throws -> ShowObjects {
            let i = try runStatic(script + line)
            guard case .objects(let o)? = i.outputs.last else {
                Issue.record("no objects")
                return ShowObjects(location: .local)
            }
            return o
        }
        #expect(try objects("show all").policies.count == 1)
        #expect(try objects("show all").filterActions.count == 2)
        #expect(try objects("show policy name=P level=verbose format=table").policies.map(\.name) == ["P"])
        #expect(try objects("show filterlist rule=R").filterLists.map(\.name) == ["Web"])
        #expect(try objects("show filteraction rule=R").filterActions.map(\.name) == ["Perm"])
        #expect(try objects("show filteraction all").filterActions.count == 2)
        #expect(try objects("show rule name=R policy=P").policies[0].rules.map(\.name) == ["R"])
        #expect(try objects("show rule id=1 policy=P").policies[0].rules.map(\.name) == ["R"])
        #expect(try objects("show rule all").policies.count == 1)
        #expect(staticError(script + "show rule name=Nope policy=P")?.message == "no rule 'Nope'")
        #expect(staticError(script + "show gpoassignedpolicy")?.message.contains("no group policy") == true)
    }

    @Test func showAllJSONHasTheContractKeys() throws {
        let i = try runStatic(
            base + "\nadd rule name=R policy=P filterlist=Web filteraction=Perm\nset policy P assign=yes\nshow all")
        let json = ShowRenderer.json(i.outputs[0]).rendered(pretty: false)
        #expect(json.contains(#""policies":[{"name":"P""#))
        #expect(json.contains(#""assigned":true"#))
        #expect(json.contains(#""rules":[{"id":1,"name":"R""#))
        #expect(json.contains(#""filterlists":[{"name":"Web""#))
        #expect(json.contains(#""filters":[{"id":"F5""#))
        #expect(json.contains(#""filteractions":[{"name":"Perm""#))
        #expect(json.contains(#""action":"permit""#))
    }

    @Test func exportAndImportRoundTrip() throws {
        let script =
            base
            + "\nadd rule name=R policy=P filterlist=Web filteraction=Perm\nset policy P assign=yes\nexportpolicy file=out.ipsec"
        let i = try runStatic(script)
        let file = try #require(i.pendingFiles.first)
        #expect(file.path == "/w/out.ipsec")
        #expect(file.contents.hasPrefix(ScriptWriter.exportHeader))
        // Import into a store that has a same-named, different filter list: the import replaces it.
        let j = try run(
            "pushd ipsec static\nadd filterlist name=Web description=old\nadd filteraction name=Other action=block\nimportpolicy file=out.ipsec",
            files: ["/w/out.ipsec": file.contents])
        #expect(j.store.local.filterLists.map(\.name) == ["Web"])
        #expect(j.store.local.filterLists[0].filters.count == 1)
        #expect(j.store.local.filterActions.map(\.name).sorted() == ["Block", "Other", "Perm"])
        #expect(j.store.local.policies.first?.assigned == true)
        #expect(
            error(of: "pushd ipsec static\nimportpolicy file=missing.ipsec")?.message.hasPrefix(
                "cannot read 'missing.ipsec'") == true)
    }

    @Test func dumpRestoresTheWholeConfiguration() throws {
        let script = """
            pushd ipsec static
            set store location=persistent
            add filter filterlist=Mgmt srcaddr=198.51.100.0/24 dstaddr=me protocol=tcp dstport=22 mirrored=yes description="ssh from admin net"
            add filteraction name=Perm action=permit
            add policy name=Boot assign=yes
            add rule name=Ssh policy=Boot filterlist=Mgmt filteraction=Perm
            set store location=local
            add filter filterlist=Names srcaddr=me dstaddr=update.example.com dstmask=24 protocol=tcp dstport=443
            add filter filterlist=Names srcaddr=192.0.2.1-192.0.2.9 dstaddr=me protocol=icmp mirrored=no
            add filter filterlist=Names srcaddr=any dstaddr=me protocol=tcp srcport=1024-65535 dstport=443,8443,9000-9100 tcpflags=!syn
            add filteraction name=Sec action=negotiate inpass=yes qmsec="ESP[3DES,SHA1]:3600s" description="a \\'quoted\\' word"
            add policy name=Main mmsec="3DES-SHA1-2" activatedefaultrule=no
            add rule name=N policy=Main filterlist=Names filteraction=Sec psk="a key" kerberos=yes rootca="CN=\\'Quoted\\' Root"
            set policy Main assign=yes
            popd
            dynamic set config bootmode block
            dynamic set config bootexemptions value="tcp:0:22:inbound udp:0:53:outbound"
            dynamic set config ipsecdiagnostics 3
            """
        let original = try run(script)
        let dumped = ScriptWriter.dump(original.store)
        let restored = try run(dumped, file: "dump.netsh")
        var a = original.store, b = restored.store
        // Sequence numbers and GUIDs are creation artefacts; everything else must survive.
        func strip(_ s: inout Store) {
            s.sequence = 0
            for loc in StoreLocation.allCases {
                var p = s[loc]
                for i in p.filterLists.indices {
                    p.filterLists[i].seq = 0
                    p.filterLists[i].guid = ""
                    for j in p.filterLists[i].filters.indices { p.filterLists[i].filters[j].seq = 0 }
                }
                for i in p.filterActions.indices {
                    p.filterActions[i].seq = 0
                    p.filterActions[i].guid = ""
                }
                for i in p.policies.indices {
                    p.policies[i].seq = 0
                    p.policies[i].guid = ""
                    for j in p.policies[i].rules.indices { p.policies[i].rules[j].seq = 0 }
                }
                s[loc] = p
            }
        }
        strip(&a)
        strip(&b)
        #expect(a == b)
        #expect(
            b.local.policies[0].rules[0].authMethods == [
                .presharedKey("a key"), .kerberos, .rootCA("CN=\"Quoted\" Root")
            ])
        #expect(b.config.bootExemptions.count == 2)
        #expect(b.local.filterActions.first { $0.name == "Sec" }?.description == "a \"quoted\" word")
    }
}
