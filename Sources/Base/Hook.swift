/// One protocol for every command `acme` runs for the user (Docs/HOOKS.md): the DNS-01 hook,
/// certbot's manual auth and cleanup hooks, the DANE hook, the pre, deploy and post hooks and
/// the daemon's alert command. Each runs through `/bin/sh -c` (a directory hook is executed
/// directly), on a thread of its own, with one environment contract and one timeout rule.
///
/// Like uacme's single hook, one script can serve every kind: `ACME_HOOK` says which setting
/// started it and `ACME_ACTION` what to do; the variables scripts already read (`CERTBOT_*`
/// for manual hooks, `RENEWED_*` for deploy hooks, the `ACME_*` ones of the DNS-01, DANE and
/// alert hooks) are set as before, as aliases of the contract's values.
public struct Hook: Sendable {
    /// Which setting the command comes from (`ACME_HOOK`).
    public enum Kind: String, Sendable, CaseIterable {
        case dns, manualAuth = "manual-auth", manualCleanup = "manual-cleanup", dane, pre, deploy, post, alert
    }

    /// The one timeout rule: a hook still running (or still holding its output open) after its
    /// kind's limit is killed, counts as failed with status 124, and its output so far is kept.
    /// 300 s for hooks that do the work of a step; 30 s for the alert command, which runs between
    /// the daemon's steps (a stuck one must not hold its loop, or its SIGTERM, for minutes).
    public static let timeout: Duration = .seconds(300)

    /// This kind's limit under the rule above.
    public static func timeout(for kind: Kind) -> Duration { kind == .alert ? .seconds(30) : timeout }

    public var kind: Kind
    /// A shell command, or with `executable` the path of a program run without a shell.
    public var command: String
    public var executable: Bool
    public var environment: HookEnvironment
    public var timeout: Duration

    public init(_ kind: Kind, command: String, executable: Bool = false, environment: HookEnvironment,
                timeout: Duration? = nil) {
        (self.kind, self.command, self.executable, self.environment) = (kind, command, executable, environment)
        self.timeout = timeout ?? Hook.timeout(for: kind)
    }

    /// What the command sees added to acme's own environment: the contract and its aliases.
    public var variables: [String: String] { environment.variables(for: kind) }

    /// Runs the hook and waits for it on a thread of its own, never on the threads async code shares.
    public func run() async -> Subprocess.Result {
        await onOwnThread { self.runHere() as Subprocess.Result }
    }

    /// Runs the hook on the calling thread, for code already on a thread of its own.
    public func runHere() -> Subprocess.Result {
        Subprocess(ownProcessGroup: true).run(executable ? [command] : ["/bin/sh", "-c", command], environment: variables, timeout: timeout)
    }
}

/// The one environment contract of `Hook` (Docs/HOOKS.md). Unset values are not exported.
public struct HookEnvironment: Sendable, Equatable {
    /// `ACME_ACTION`: `add`/`remove` for a challenge, `tlsa-add`/`tlsa-remove` for DANE, else the hook's kind.
    public var action: String?
    /// `ACME_CHALLENGE_TYPE`: `dns-01` or `http-01`.
    public var challengeType: String?
    /// `ACME_DOMAIN`, `ACME_TOKEN`, `ACME_VALIDATION` (the TXT value for dns-01, the key
    /// authorization for http-01), `ACME_TXT_NAME`, `ACME_REMAINING_CHALLENGES`.
    public var domain: String?
    public var token: String?
    public var validation: String?
    public var txtName: String?
    public var remainingChallenges: Int?
    /// `ACME_DOMAINS`: every name of the certificate, separated by spaces.
    public var domains: [String]?
    /// `ACME_LINEAGE`: the lineage's name; `ACME_LIVE_DIR`: its `live/` directory.
    public var lineage: String?
    public var liveDirectory: String?
    /// `ACME_AUTH_OUTPUT`: what the manual auth hook printed, for its cleanup hook.
    public var authOutput: String?
    /// The kind's own `ACME_*` variables (`ACME_TLSA_*` for DANE, `ACME_EVENT`… for alerts).
    public var details: [String: String]

    public init(action: String? = nil, challengeType: String? = nil, domain: String? = nil, token: String? = nil,
                validation: String? = nil, txtName: String? = nil, remainingChallenges: Int? = nil, domains: [String]? = nil,
                lineage: String? = nil, liveDirectory: String? = nil, authOutput: String? = nil, details: [String: String] = [:]) {
        self.action = action
        self.challengeType = challengeType
        (self.domain, self.token, self.validation, self.txtName) = (domain, token, validation, txtName)
        self.remainingChallenges = remainingChallenges
        (self.domains, self.lineage, self.liveDirectory) = (domains, lineage, liveDirectory)
        self.authOutput = authOutput
        self.details = details
    }

    /// The contract's variables for a hook of `kind`, with the aliases that kind's scripts know.
    public func variables(for kind: Hook.Kind) -> [String: String] {
        var out = details
        out["ACME_HOOK"] = kind.rawValue
        out["ACME_ACTION"] = action ?? kind.rawValue
        let contract: [(String, String?)] = [
            ("ACME_CHALLENGE_TYPE", challengeType), ("ACME_DOMAIN", domain), ("ACME_TOKEN", token),
            ("ACME_VALIDATION", validation), ("ACME_TXT_NAME", txtName), ("ACME_REMAINING_CHALLENGES", remainingChallenges.map(String.init)),
            ("ACME_DOMAINS", domains?.joined(separator: " ")), ("ACME_LINEAGE", lineage), ("ACME_LIVE_DIR", liveDirectory),
            ("ACME_AUTH_OUTPUT", authOutput),
        ]
        for (name, value) in contract { if let value { out[name] = value } }
        for (name, value) in aliases(for: kind) { if let value { out[name] = value } }
        return out
    }

    /// certbot's names: `CERTBOT_*` for manual hooks, `RENEWED_*` for deploy hooks.
    private func aliases(for kind: Hook.Kind) -> [(String, String?)] {
        switch kind {
        case .manualAuth, .manualCleanup:
            return [("CERTBOT_DOMAIN", domain), ("CERTBOT_TOKEN", token), ("CERTBOT_VALIDATION", validation),
                    ("CERTBOT_REMAINING_CHALLENGES", remainingChallenges.map(String.init)),
                    ("CERTBOT_ALL_DOMAINS", domains?.joined(separator: ",")), ("CERTBOT_AUTH_OUTPUT", authOutput)]
        case .deploy:
            return [("RENEWED_LINEAGE", liveDirectory), ("RENEWED_DOMAINS", domains?.joined(separator: " "))]
        case .dns, .dane, .pre, .post, .alert:
            return []
        }
    }
}
