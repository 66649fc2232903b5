import Base
import FleetStore
import FoundationEssentials
import Renewal

/// `FleetInputs.ariCache` (set by FleetRenewal) for a fleet: the store's `acme_ari` rows. Each call opens its own
/// connection on a thread of its own and closes it (a connection is confined to one thread, an
/// async call may resume on any; libpq blocks). A row is database content, hence untrusted: a
/// date that is missing or infinite, or a value out of bounds, makes it `UnusableRow` (ignored
/// with a note, replaced by the CA's next answer); the window itself is checked by the renewer
/// against the certificate (`SharedRenewalInfo.problem`).
public enum StoreRenewalInfoCache {
    public static func make(_ settings: StoreSettings) -> RenewalInfoCache {
        RenewalInfoCache(load: { lineage in
            let row = try await onStoreThread(settings) { try StoredRenewalInfo($0).row(lineage: lineage) }
            guard let row else { return nil }
            guard let start = row.windowStart, let end = row.windowEnd, let next = row.nextCheck else {
                throw RenewalInfoCache.UnusableRow("its window or next check is missing or not a finite date")
            }
            return SharedRenewalInfo(certificateID: row.certificateID, start: Date(timeIntervalSince1970: Double(start)),
                                     end: Date(timeIntervalSince1970: Double(end)), explanationURL: row.explanationURL,
                                     nextCheck: Date(timeIntervalSince1970: Double(next)))
        }, save: { lineage, info in
            let row = StoredRenewalInfo.Row(certificateID: info.certificateID, windowStart: seconds(info.start),
                                            windowEnd: seconds(info.end), explanationURL: info.explanationURL,
                                            nextCheck: seconds(info.nextCheck))
            try await onStoreThread(settings) { try StoredRenewalInfo($0).put(lineage: lineage, row) }
        })
    }

    static func seconds(_ date: Date) -> Int { Int(saturating: date.timeIntervalSince1970.rounded(.down)) }

    /// Runs `body` on a fresh connection, on a thread of its own.
    static func onStoreThread<T: Sendable>(_ settings: StoreSettings, _ body: @escaping @Sendable (FleetStore) throws -> T) async throws -> T {
        do {
            return try await onOwnThread(throwing: {
                try body(try FleetStore.open(url: settings.url, keyFile: settings.keyFile, migrate: false))
            })
        } catch let error as FleetStoreError where error.code == .corruptRow {
            throw RenewalInfoCache.UnusableRow(error.message)
        }
    }
}
