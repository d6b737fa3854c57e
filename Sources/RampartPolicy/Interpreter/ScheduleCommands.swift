/// `static add|set|delete schedule` (an extension, docs/extensions.md). A schedule belongs to the
/// current store; rules of that store name it with `schedule=`.
extension Interpreter {
    func scheduleIndex(_ arg: CommandArgument) throws(Diagnostic) -> Int {
        guard let i = current.scheduleIndex(arg.value) else {
            throw .error(
                "no schedule named '\(arg.value)' in the \(location) store"
                    + suggestion(for: arg.value, among: current.schedules.map(\.name)), at: arg.location)
        }
        return i
    }

    private func scheduleFields(_ a: Args, into s: inout Schedule) throws(Diagnostic) {
        if let v = try a.value("days", Schedule.parseDays) { s.days = v }
        if let v = try a.value("hours", Schedule.parseHours) { (s.start, s.end) = v }
        if let arg = a.argument("timezone") {
            if arg.value.caseInsensitiveEquals("local") {
                s.timezone = nil
            } else {
                s.timezone = try a.value("timezone", Schedule.parseTimeZone)
            }
        }
        if let d = a.string("description") { s.description = d }
    }

    mutating func addSchedule(_ a: Args) throws(Diagnostic) {
        let nameArg = try a.required("name")
        guard Schedule.validName(nameArg.value) else {
            throw .error(
                "'\(nameArg.value)' is not a schedule name: letters, digits, _ and -, starting with a letter, at most 64",
                at: nameArg.location)
        }
        if current.scheduleIndex(nameArg.value) != nil {
            throw .error("schedule '\(nameArg.value)' already exists in the \(location) store", at: nameArg.location)
        }
        _ = try a.required("days")
        _ = try a.required("hours")
        var s = Schedule(name: nameArg.value, days: 0, start: 0, end: 0, seq: 0)
        try scheduleFields(a, into: &s)
        s.seq = store.nextSequence()
        current.schedules.append(s)
    }

    mutating func setSchedule(_ a: Args) throws(Diagnostic) {
        let i = try scheduleIndex(try a.required("name"))
        var s = current.schedules[i]
        try scheduleFields(a, into: &s)
        if let arg = a.argument("newname") {
            guard Schedule.validName(arg.value) else {
                throw .error("'\(arg.value)' is not a schedule name", at: arg.location)
            }
            if let j = current.scheduleIndex(arg.value), j != i {
                throw .error("schedule '\(arg.value)' already exists in the \(location) store", at: arg.location)
            }
            // Rules name the schedule; renaming follows them.
            for p in current.policies.indices {
                for r in current.policies[p].rules.indices
                where current.policies[p].rules[r].schedule?.caseInsensitiveEquals(s.name) == true {
                    current.policies[p].rules[r].schedule = arg.value
                }
            }
            s.name = arg.value
        }
        current.schedules[i] = s
    }

    mutating func deleteSchedule(_ a: Args) throws(Diagnostic) {
        let store = current
        let doomed = try namesToDelete(a, kind: "schedule", among: current.schedules.map(\.name)) { name in
            store.rules(usingSchedule: name).first.map {
                "schedule '\(name)' is used by rule '\($0.rule)' of policy '\($0.policy)'; change that rule first (schedule=none)"
            }
        }
        current.schedules.removeAll { doomed.contains($0.name) }
    }

    /// `schedule=NAME` on a rule; `schedule=none` clears it.
    func ruleSchedule(_ a: Args) throws(Diagnostic) -> String?? {
        guard let arg = a.argument("schedule") else { return .none }
        if arg.value.caseInsensitiveEquals("none") { return .some(nil) }
        return .some(current.schedules[try scheduleIndex(arg)].name)
    }
}
