/// Pre-shared keys are root's: every answer to another caller — `dump`, `exportpolicy`, `show`,
/// the JSON forms — is rendered from a copy with each key replaced (issue 29, item 7), as the
/// store file itself is 0640 so that members cannot read it.
extension AuthMethod {
    /// What a member sees instead of a key; not a key anyone would choose (it has blanks).
    public static let redactedKey = "(redacted: root only)"

    public var redacted: AuthMethod {
        if case .presharedKey = self { return .presharedKey(AuthMethod.redactedKey) }
        return self
    }
}

extension Array where Element == AuthMethod {
    var redacted: [AuthMethod] { map(\.redacted) }
}

extension PolicyStore {
    public func redactingSecrets() -> PolicyStore {
        var copy = self
        for p in copy.policies.indices {
            copy.policies[p].defaultRule.authMethods = copy.policies[p].defaultRule.authMethods.redacted
            for r in copy.policies[p].rules.indices {
                copy.policies[p].rules[r].authMethods = copy.policies[p].rules[r].authMethods.redacted
            }
        }
        return copy
    }
}

extension Store {
    public func redactingSecrets() -> Store {
        var copy = self
        copy.local = local.redactingSecrets()
        copy.persistent = persistent.redactingSecrets()
        copy.domain?.store = domain?.store.redactingSecrets() ?? PolicyStore()
        return copy
    }
}

extension DynamicState {
    public func redactingSecrets() -> DynamicState {
        var copy = self
        for r in copy.rules.indices { copy.rules[r].authMethods = copy.rules[r].authMethods.redacted }
        return copy
    }
}
