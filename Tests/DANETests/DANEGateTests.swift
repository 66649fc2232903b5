import ACMECrypto
import Base
import CertStore
import Foundation
import Issuance
import Renewal
import Testing
@testable import DANE

/// What DANE's key-rollover gate tells the renewal, for the cases decided before any DNS is asked.
@Suite("DANE gate: the verdicts the renewal gets")
struct DANEGateTests {
    /// The fan-out test's lineage `mx.h.test` (DANE through a hook), optionally without DANE.
    static func subject(dane: Bool) throws -> (RolloverSubject, String) {
        let dir = try TLSACheckFanOutTests.lineage(resolver: 9)
        let store = LineageStore(configDirectory: dir)
        let lineage = try store.existingLineage(named: "mx.h.test")
        var config = try store.renewalConfig(of: lineage)
        if !dane { config.renewalParams = config.renewalParams.filter { !$0.key.hasPrefix("acme_dane") } }
        let certificate = try CertificateSummary(pem: try lineage.readLive("cert"))
        return (RolloverSubject(lineage: lineage, config: config, certificate: certificate), dir)
    }

    @Test("a lineage without acme_dane: off, and no DANE state is written")
    func off() async throws {
        let (subject, dir) = try Self.subject(dane: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let verdict = await DANEGate(progress: { _ in }).step(subject, wantRenewal: true, reuseKey: false, keepRetiring: false, now: Date())
        guard case .off = verdict else {
            Issue.record("expected off, got \(verdict)")
            return
        }
        #expect(!FS.exists(DANEState.path(subject.lineage)))
    }

    @Test("a damaged DANE state: failed with the code issuance.daneState, naming the file; the file is left as it was")
    func damagedState() async throws {
        let (subject, dir) = try Self.subject(dane: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = DANEState.path(subject.lineage)
        try "not json".write(toFile: path, atomically: true, encoding: .utf8)
        let verdict = await DANEGate(progress: { _ in }).step(subject, wantRenewal: true, reuseKey: false, keepRetiring: false, now: Date())
        guard case .failed(let error) = verdict, let coded = error as? IssuanceError else {
            Issue.record("expected failed(IssuanceError), got \(verdict)")
            return
        }
        #expect(coded.code == .daneState)
        #expect(coded.message.contains(path), "\(coded)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "not json")
    }
}
