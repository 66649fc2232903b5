import ACMECrypto
import Base
import CertStore
import Issuance

/// Turns a renewal conf (ours or certbot's) into the `IssueRequest` that renews it:
/// the same server, account, authenticator and its settings, key type, chain and
/// profile preference, key reuse and hooks, all read through `RenewalParams`.
struct RenewalRequest {
    var params: RenewalParams
    var certificate: Certificate
    var lineage: Lineage
    var server: String
    var caBundle: String?
    var hooks: SavedHooks
    var options: RenewOptions
    /// The fleet's challenge solver (`FleetInputs`).
    var solverOverride: SolverOverride?

    func make() throws -> IssueRequest {
        // The conf's acme_domains when it lists them (a change there is why this renewal runs).
        if let listed = params.names { return try request(names: listed) }
        var names = certificate.dnsNames
        if let cn = certificate.subjectCommonName?.lowercased(), let index = names.firstIndex(of: cn), index > 0 {
            names.insert(names.remove(at: index), at: 0)  // certbot puts the common name first
        }
        guard !names.isEmpty else {
            throw IssuanceError(.unreadableLineage, "\(lineage.certPath) names no DNS names; re-issue it with acme issue")
        }
        return try request(names: names)
    }

    private func request(names: [String]) throws -> IssueRequest {
        var request = IssueRequest(names: names, server: server, configDirectory: lineage.configDirectory, certName: lineage.name,
                                   keyType: params.keyType, registration: RegistrationOptions(agreeTOS: options.dryRun),
                                   challenge: params.challenge, preferredChain: params.preferredChain,
                                   caBundle: caBundle, forceRenewal: true, toolVersion: options.toolVersion)
        request.accountID = params.account
        request.reuseKey = options.reuseKey || params.reuseKey
        request.dryRun = options.dryRun
        request.hooks = hooks
        request.profile = params.profile
        request.pairedLineage = params.pairedLineage
        request.solverOverride = solverOverride
        return request
    }
}
