import Base
import CertStore
import FleetStore
import FoundationEssentials
import Glibc
import Issuance

/// `acme issue --store` and `acme provision --store`'s first certificate: the store's lineages
/// first (a lineage the store already holds is not ordered again: the issue workflow finds it
/// and reports it not due), then the lineage's and the account's locks, the order, and the
/// new version published to the store with the node's accounts.
public struct FleetIssue: Sendable {
    public var store: StoreSettings
    /// How long to wait for a lock another node holds (it is issuing the same lineage, or
    /// registering the account): then the store holds its result.
    public var lockWait: Duration = .seconds(300)
    public var progress: EventSink

    public init(store: StoreSettings, progress: @escaping EventSink) {
        self.store = store
        self.progress = progress
    }

    public func run(_ request: IssueRequest, workflow: IssueWorkflow) async throws -> IssueResult {
        // libpq and the lock waits block: on a thread of its own, the order's requests awaited from there.
        try await OwnThread.run { thread in try await runHoldingLocks(on: thread, request, workflow: workflow) }
    }

    private func runHoldingLocks(on thread: isolated OwnThread, _ request: IssueRequest, workflow: IssueWorkflow) async throws -> IssueResult {
        let opened = try store.open()
        let sync = StoreSync(configDirectory: request.configDirectory, toolVersion: request.toolVersion)
        for problem in try sync.run(opened).problems { progress(.warning(problem)) }
        let name = request.certName ?? request.names[0]
        let lineageLock = AdvisoryLock.lineage(name), accountLock = AdvisoryLock.account(serverPath: request.server)
        try acquire(lineageLock, on: opened)
        // A release that fails means the connection is gone, which released the lock too.
        defer { _ = try? lineageLock.release(on: opened.connection) }
        try acquire(accountLock, on: opened)
        defer { _ = try? accountLock.release(on: opened.connection) }
        // Under the locks: what another node issued or registered meanwhile.
        let again = try sync.run(opened)
        if !again.installed.isEmpty { progress("from the store: \(again.installed.joined(separator: ", "))") }
        let result = try await workflow.run(request)
        switch result.outcome {
        case .issued, .renewed:
            let lineages = LineageStore(configDirectory: request.configDirectory)
            let lineage = try lineages.existingLineage(named: result.lineageName)
            let conf = try FS.read(lineage.renewalConfigPath, limit: 64 << 10)
            if let version = try opened.publish(lineage, files: try lineages.readLive(lineage), conf: Array(conf.utf8)) {
                progress("\(result.lineageName): published as version \(version) of the store \(store.redacted)")
            }
            try opened.publishAccounts(from: request.configDirectory)
        case .notDue, .dryRun:
            try opened.publishAccounts(from: request.configDirectory)
        }
        return result
    }

    /// Takes `lock`, waiting (polling every second) while another node holds it.
    func acquire(_ lock: AdvisoryLock, on opened: FleetStore) throws {
        try lock.acquire(on: opened, waitingAtMost: lockWait, progress: progress)
    }
}
