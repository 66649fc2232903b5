import ACME
import Base
import Synchronization

/// certbot's `manual` authenticator, so lineages certbot made with `--manual-auth-hook` and
/// `--manual-cleanup-hook` renew under `acme` unchanged: the same hooks, the same
/// environment (`CERTBOT_DOMAIN`, `CERTBOT_VALIDATION`, `CERTBOT_TOKEN`,
/// `CERTBOT_REMAINING_CHALLENGES`, `CERTBOT_ALL_DOMAINS`, and `CERTBOT_AUTH_OUTPUT` for the
/// cleanup hook), for DNS-01 or HTTP-01 as the lineage's `pref_challs` says.
public final class ManualHookSolver: ChallengeSolver, Sendable {
    public let challengeType: String
    let authHook: String
    let cleanupHook: String?
    let allDomains: [String]
    private let progress: @Sendable (String) -> Void
    private let state = Mutex<(remaining: Int, outputs: [String: String])>((0, [:]))

    public init(challengeType: String, authHook: String, cleanupHook: String?, allDomains: [String],
                progress: @escaping @Sendable (String) -> Void) {
        self.challengeType = challengeType
        self.authHook = authHook
        self.cleanupHook = cleanupHook
        self.allDomains = allDomains
        self.progress = progress
    }

    public func willPresent(count: Int) async {
        state.withLock { $0.remaining = count }
    }

    private func environment(_ identifier: String, _ token: String, _ keyAuthorization: String, remaining: Int) -> [String: String] {
        [
            "CERTBOT_DOMAIN": identifier, "CERTBOT_TOKEN": token,
            "CERTBOT_VALIDATION": challengeType == "dns-01" ? DNS01HookSolver.validation(keyAuthorization) : keyAuthorization,
            "CERTBOT_REMAINING_CHALLENGES": String(remaining), "CERTBOT_ALL_DOMAINS": allDomains.joined(separator: ","),
        ]
    }

    public func present(identifier: String, token: String, keyAuthorization: String) async throws {
        let remaining = state.withLock { state -> Int in
            state.remaining = max(state.remaining - 1, 0)
            return state.remaining
        }
        let result = await Subprocess().run(["/bin/sh", "-c", authHook],
                                      environment: environment(identifier, token, keyAuthorization, remaining: remaining))
        guard result.succeeded else {
            throw ChallengeError(.hookFailed, "manual auth hook \(authHook) failed for \(identifier) (exit status \(result.status)): \(result.lastLine)")
        }
        state.withLock { $0.outputs[token] = result.output.hasSuffix("\n") ? String(result.output.dropLast()) : result.output }
    }

    public func cleanup(identifier: String, token: String) async {
        let output = state.withLock { $0.outputs.removeValue(forKey: token) }
        guard let cleanupHook else { return }
        var environment = environment(identifier, token, "", remaining: 0)
        environment["CERTBOT_VALIDATION"] = nil
        environment["CERTBOT_AUTH_OUTPUT"] = output ?? ""
        let result = await Subprocess().run(["/bin/sh", "-c", cleanupHook], environment: environment)
        if !result.succeeded {
            progress("manual cleanup hook \(cleanupHook) failed for \(identifier) (exit status \(result.status)): \(result.lastLine)")
        }
    }
}
