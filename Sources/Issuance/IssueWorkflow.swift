import ACME
import Base
import CertStore

/// `acme issue` as one call, also what `acme provision --issue-if-missing` and the daemon use:
/// takes the config directory's lock, connects to the CA, prints the Certificate Transparency
/// notice once the CA is really contacted (public CAs only), runs the request's hooks in
/// certbot's order (pre before contacting the CA, deploy after a new certificate, post after
/// any attempt, also a failed one), and issues through `Issuer`.
public struct IssueWorkflow: Sendable {
    public var makeClient: ACMEClientFactory
    public var progress: @Sendable (String) -> Void
    /// Run the request's saved hooks (`acme issue`); provisioning leaves them to renewals.
    public var runHooks = true
    /// Say that the names go to public CT logs (not with --quiet).
    public var transparencyNotice = true
    /// Called once if the config directory is locked by another run.
    public var waiting: @Sendable () -> Void = {}

    public init(makeClient: @escaping ACMEClientFactory, progress: @escaping @Sendable (String) -> Void) {
        self.makeClient = makeClient
        self.progress = progress
    }

    public func run(_ request: IssueRequest) async throws -> IssueResult {
        let client = try makeClient(request.caServer)
        let lock = try ConfigLock.acquire(configDirectory: request.configDirectory, create: true, waiting: waiting)
        defer { withExtendedLifetime(lock) {} }

        let hooks = runHooks ? HookPlan(runner: HookRunner(configDirectory: request.configDirectory, useDirectoryHooks: false,
                                                          report: progress)) : nil
        let notice = transparencyNotice && TransparencyNotice.applies(server: request.server, caBundle: request.caBundle)
            ? TransparencyNotice.text(names: request.names) : nil
        var request = request
        let pre = request.hooks.pre.map { [$0] } ?? []
        let progress = progress
        request.beforeContactingCA = {
            if let notice { progress(notice) }
            hooks?.beforeContactingCA(pre: pre)
        }
        // As certbot: the post hook runs after any attempt, also a failed one.
        defer { hooks?.finish(post: request.hooks.post.map { [$0] } ?? []) }
        var result = try await Issuer(client: client, progress: progress).issue(request)
        switch result.outcome {
        case .issued, .renewed:
            hooks?.deployed(request.hooks.deploy.map { [$0] } ?? [], livePath: result.livePath, names: result.names,
                            lineage: result.lineageName)
        case .notDue, .dryRun:
            break
        }
        result.requestCount = await client.requestCount
        return result
    }
}
