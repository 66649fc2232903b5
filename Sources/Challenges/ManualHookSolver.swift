import ACME
import Base
import Synchronization

/// certbot's `manual` authenticator, so lineages certbot made with `--manual-auth-hook` and
/// `--manual-cleanup-hook` renew under `acme` unchanged: the same hooks, the same
/// environment (`CERTBOT_DOMAIN`, `CERTBOT_VALIDATION`, `CERTBOT_TOKEN`,
/// `CERTBOT_REMAINING_CHALLENGES`, `CERTBOT_ALL_DOMAINS`, and `CERTBOT_AUTH_OUTPUT` for the
/// cleanup hook), for DNS-01 or HTTP-01 as the lineage's `pref_challs` says. These are
/// aliases of `Hook`'s one contract (Docs/HOOKS.md); the hooks run on a thread of their own.
public final class ManualHookSolver: ChallengeSolver, Sendable {
    public let challengeType: String
    let authHook: String
    let cleanupHook: String?
    let allDomains: [String]
    private let progress: EventSink
    private let state = Mutex<(remaining: Int, outputs: [String: String])>((0, [:]))

    public init(challengeType: String, authHook: String, cleanupHook: String?, allDomains: [String],
                progress: @escaping EventSink) {
        self.challengeType = challengeType
        self.authHook = authHook
        self.cleanupHook = cleanupHook
        self.allDomains = allDomains
        self.progress = progress
    }

    public func willPresent(count: Int) async {
        state.withLock { $0.remaining = count }
    }

    private func environment(_ identifier: String, _ token: String, validation: String?, remaining: Int) -> HookEnvironment {
        HookEnvironment(challengeType: challengeType, domain: identifier, token: token, validation: validation,
                        remainingChallenges: remaining, domains: allDomains)
    }

    public func present(identifier: String, token: String, keyAuthorization: String) async throws {
        let remaining = state.withLock { state -> Int in
            state.remaining = max(state.remaining - 1, 0)
            return state.remaining
        }
        let validation = challengeType == "dns-01" ? DNS01HookSolver.validation(keyAuthorization) : keyAuthorization
        var environment = environment(identifier, token, validation: validation, remaining: remaining)
        environment.action = "add"
        let result = await Hook(.manualAuth, command: authHook, environment: environment).run()
        guard result.succeeded else {
            throw ChallengeError(.hookFailed, "manual auth hook \(authHook) failed for \(identifier) (exit status \(result.status)): \(result.lastLine)")
        }
        state.withLock { $0.outputs[token] = result.output.hasSuffix("\n") ? String(result.output.dropLast()) : result.output }
    }

    public func cleanup(identifier: String, token: String) async {
        let output = state.withLock { $0.outputs.removeValue(forKey: token) }
        guard let cleanupHook else { return }
        var environment = environment(identifier, token, validation: nil, remaining: 0)
        environment.action = "remove"
        environment.authOutput = output ?? ""
        let result = await Hook(.manualCleanup, command: cleanupHook, environment: environment).run()
        if !result.succeeded {
            progress("manual cleanup hook \(cleanupHook) failed for \(identifier) (exit status \(result.status)): \(result.lastLine)")
        }
    }
}
