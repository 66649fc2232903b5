import ACME
import ACMECrypto
import Base
import DNS
import Synchronization

/// DNS-01 through a user's script (RFC 8555 §8.4; the one record publisher's hook kind,
/// `HookPublisher`, which DANE's TLSA records use too): called with `ACME_ACTION=add` to publish
/// `_acme-challenge.<domain>. TXT <ACME_VALIDATION>` and with `ACME_ACTION=remove` to withdraw it
/// (also after a failure), with `ACME_DOMAIN`, `ACME_VALIDATION`, `ACME_TOKEN`,
/// `ACME_TXT_NAME` and `ACME_REMAINING_CHALLENGES` in its environment, like certbot's manual
/// hooks (the contract of `Hook`, Docs/HOOKS.md). Before the CA is told to look, it waits `propagationWait` once for all names, or with
/// a `resolver` asks that server for every record side by side until all are visible (for at
/// most `propagationWait`). With `parallel`, the script runs for every name at once.
public final class DNS01HookSolver: ChallengeSolver, Sendable {
    public let challengeType = "dns-01"
    public let script: String
    public let propagationWait: Duration
    public let resolver: TXTLookup?
    /// Whether the script may run for several names at the same time (`--dns-hook-parallel`).
    public let parallel: Bool
    private let progress: EventSink
    private let state = Mutex<(remaining: Int, records: [(name: String, value: String)])>((0, []))

    public init(script: String, propagationWait: Duration, resolver: TXTLookup?, parallel: Bool = false,
                progress: @escaping EventSink) {
        self.script = script
        self.propagationWait = propagationWait
        self.resolver = resolver
        self.parallel = parallel
        self.progress = progress
    }

    /// base64url(SHA-256(keyAuthorization)) (RFC 8555 §8.4).
    public static func validation(_ keyAuthorization: String) -> String {
        Base64URL.encode(Digest.sha256(Array(keyAuthorization.utf8)))
    }

    public var presentsConcurrently: Bool { parallel }

    public func willPresent(count: Int) async {
        state.withLock { $0.remaining = count }
    }

    public func present(identifier: String, token: String, keyAuthorization: String) async throws {
        let value = Self.validation(keyAuthorization)
        let remaining = state.withLock { state -> Int in
            state.remaining = max(state.remaining - 1, 0)
            return state.remaining
        }
        let result = await run(action: .add, identifier: identifier, token: token, value: value, remaining: remaining)
        guard result.succeeded else {
            throw ChallengeError(.hookFailed, "DNS hook \(script) failed to add the TXT record for \(identifier) (exit status \(result.status)): \(result.lastLine)")
        }
        state.withLock { $0.records.append((name: "_acme-challenge." + identifier, value: value)) }
    }

    public func cleanup(identifier: String, token: String) async {
        let value = state.withLock { state -> String? in
            guard let index = state.records.firstIndex(where: { $0.name == "_acme-challenge." + identifier }) else { return nil }
            return state.records.remove(at: index).value
        }
        let result = await run(action: .remove, identifier: identifier, token: token, value: value ?? "", remaining: 0)
        if !result.succeeded {
            progress("DNS hook \(script) failed to remove the TXT record for \(identifier) (exit status \(result.status)): \(result.lastLine); remove _acme-challenge.\(identifier) by hand")
        }
    }

    public func awaitPublished() async throws {
        let records = state.withLock { $0.records }
        guard let resolver else {
            if propagationWait > .zero {
                progress("waiting \(propagationWait) for the TXT records to propagate")
                try await Task.sleep(for: propagationWait)
            }
            return
        }
        try await TXTPropagation(checks: [(resolver, records)], wait: propagationWait,
                                 advice: "check what the DNS hook published, or raise \(SettingName.dnsPropagationWait)").run()
        progress("TXT records visible at \(resolver.label)")
    }

    private func run(action: RecordChange.Action, identifier: String, token: String, value: String, remaining: Int) async -> Subprocess.Result {
        let name = "_acme-challenge." + identifier
        let environment = HookEnvironment(action: action == .add ? "add" : "remove", challengeType: challengeType, domain: identifier,
                                          token: token, validation: value, txtName: name, remainingChallenges: remaining)
        // No zone to find: the script knows its DNS; its resolver (if any) is asked in awaitPublished.
        let change = RecordChange(action, .txt(value), owner: name, zone: nil, hookEnvironment: environment)
        return await onOwnThread { [script] in HookPublisher(.dns, command: script).run(change) as Subprocess.Result }
    }
}
