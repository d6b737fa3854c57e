import Testing
import RampartCompiler
import RampartPolicy
import RampartReport

/// The metrics and monitor renderers, pure: label bounds, escaping, trimming to the terminal.
@Suite struct ObserveRenderTests {
    @Test func pastTheSeriesLimitFiltersAreCountedPerRule() {
        var m = MetricsSnapshot()
        m.filters = (0..<1500).map {
            MetricsSnapshot.FilterCount(
                filter: "F\($0)", chain: "input", policy: "P", rule: $0 < 1000 ? "a" : "b \"q\"", packets: 1, bytes: 10)
        }
        let text = m.render(.prometheus)
        #expect(!text.contains("rampart_filter_packets_total"))
        #expect(text.contains(#"rampart_rule_packets_total{policy="P",rule="a",chain="input"} 1000"#))
        #expect(
            text.contains(#"rampart_rule_packets_total{policy="P",rule="b \"q\"",chain="input"} 500"#), "quotes escaped"
        )
        m.filters = Array(m.filters.prefix(2))
        let small = m.render(.openMetrics)
        #expect(
            small.contains(#"rampart_filter_packets_total{filter="F0",chain="input"} 1"#)
                && small.contains("# TYPE rampart_filter_packets counter"))
        #expect(small.hasSuffix("# EOF\n"))
    }

    @Test func theMonitorFrameFitsTheTerminal() {
        let filter = MonitorSnapshot.Filter(
            id: "F1", origin: "local/P/r/L/#1", source: "any", destination: "me", proto: "TCP", sourcePort: 0,
            destinationPort: 22, inbound: "permit", outbound: "permit", mirrored: false)
        var many = [MonitorSnapshot.Filter](repeating: filter, count: 200)
        for i in many.indices { many[i].id = "F\(i + 1)" }
        let s = MonitorSnapshot(
            time: 100, state: "running", problems: [], enforcing: "policy", bootMode: "block",
            policies: [.init(location: "local", name: "P")],
            store: "/s", storeModified: nil, lastApply: nil, generic: [filter], specific: many,
            counters: [.init(id: "F1", packets: 30, bytes: 3000)], drops: [], sets: [])
        let all = MonitorView.frame(s, previous: nil, height: nil)
        #expect(all.contains("F200 "))
        let fitted = MonitorView.frame(s, previous: nil, height: 40)
        #expect(fitted.split(separator: "\n").count <= 40, "\(fitted.split(separator: "\n").count) lines")
        #expect(fitted.contains("more (rampart monitor --once shows all)") && !fitted.contains("F200 "))
        var later = s
        later.time = 102
        later.counters = [.init(id: "F1", packets: 50, bytes: 5000)]
        let rates = MonitorView.frame(later, previous: s, height: nil)
        #expect(
            rates.split(separator: "\n").contains { $0.hasPrefix("F1 ") && $0.hasSuffix("10.0") }, "20 packets in 2 s")
    }
}
