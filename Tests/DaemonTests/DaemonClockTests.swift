import ACME
import ACMECrypto
import ACMEHTTP
import Base
import CertStore
import Foundation
import Renewal
import Synchronization
import Testing
@testable import Daemon

/// A CA that cannot be reached: every request fails as a connection failure would.
private struct OfflineCA: HTTPTransport {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        throw HTTPError(.connect, url: request.url, "cannot connect (test transport)")
    }
}

/// The daemon's clock, set by the test.
private final class FakeClock: Sendable {
    private let time: Mutex<Date>
    init(_ start: Date) { time = Mutex(start) }
    var now: Date { time.withLock { $0 } }
    func set(_ date: Date) { time.withLock { $0 = date } }
}

@Suite("daemon renewal rounds with an injected clock")
struct DaemonClockTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    private func daemon(clock: FakeClock) throws -> (Daemon, String) {
        let directory = NSTemporaryDirectory() + "acme-daemon-clock-\(UUID().uuidString.prefix(8))"
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let leaf = try CertificateBuilder.make(commonName: "mail.example", dnsNames: ["mail.example"], key: key, notBefore: start,
                                               notAfter: start + 90 * 86_400, isCA: false, issuer: nil)
        try LineageStore(configDirectory: directory).create(
            name: "mail", files: LineageFiles(cert: leaf.pem, chain: leaf.pem, fullchain: leaf.pem + leaf.pem, privkey: try key.pemPKCS8()),
            renewalParams: [("server", "https://ca.invalid/dir")], version: "test")
        let settings = DaemonSettings(configDirectory: directory,
                                      makeClient: { _ in ACMEClient(directoryURL: "https://ca.invalid/dir", transport: OfflineCA()) },
                                      renewOptions: RenewOptions(toolVersion: "test"), alerter: Alerter(mailTo: nil, command: nil),
                                      statusPath: directory + "/daemon-status.json", log: EventLog(format: .text, write: { _ in }))
        return (Daemon(settings: settings, now: { clock.now }), directory)
    }

    @Test("the clock decides: not due, then due (the CA is down: a failure with backoff), then left out while it backs off")
    func roundsFollowTheClock() async throws {
        let clock = FakeClock(start.addingTimeInterval(86_400))
        let (daemon, directory) = try daemon(clock: clock)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        #expect(await daemon.renewPass() == false)
        var entry = try #require(daemon.status.lineages.first)
        // The CA could not be asked for its window: the dates decide, ARI is asked again in an hour.
        #expect(entry.name == "mail" && entry.nextAction == .askARI)
        #expect(entry.nextActionAt == start.addingTimeInterval(86_400 + 3600))

        clock.set(start.addingTimeInterval(61 * 86_400))
        #expect(await daemon.renewPass() == false)
        entry = try #require(daemon.status.lineages.first)
        #expect(entry.nextAction == .retry && entry.failures == 1)
        let retry = try #require(daemon.status.retries["mail"]?.retryAt)
        #expect(retry > start.addingTimeInterval(61 * 86_400))

        // Backing off: the filter leaves it out, and its entry keeps the retry.
        let (filter, waiting, _) = daemon.renewFilter(at: start.addingTimeInterval(61 * 86_400))
        #expect(filter.leaveOut == ["mail"] && waiting["mail"]?.0 == retry)
        #expect(await daemon.renewPass() == false)
        entry = try #require(daemon.status.lineages.first)
        #expect(entry.nextAction == .retry && entry.nextActionAt == retry && entry.failures == 1)
    }

    @Test("calm after a renewal (a quarter of the lifetime): left out, or rollover steps only with a DANE step pending")
    func calmFilter() throws {
        let now = start.addingTimeInterval(10 * 86_400)
        let (daemon, directory) = try daemon(clock: FakeClock(now))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        daemon.status.lineages = [
            DaemonStatus.Lineage(name: "calm", names: [], nextAction: .renew, failures: 0),
            DaemonStatus.Lineage(name: "dane", names: [], nextAction: .dane, failures: 0),
            DaemonStatus.Lineage(name: "over", names: [], nextAction: .renew, failures: 0),
        ]
        for index in daemon.status.lineages.indices {
            (daemon.status.lineages[index].notBefore, daemon.status.lineages[index].notAfter) = (start, start + 90 * 86_400)
        }
        daemon.renewedAt = ["calm": start, "dane": start, "over": start - 20 * 86_400]
        let (filter, waiting, calm) = daemon.renewFilter(at: now)
        #expect(filter.leaveOut == ["calm"] && filter.rolloverOnly == ["dane"] && !filter.keepRetiringRecords)
        #expect(waiting["calm"]?.1 == .renew && waiting["calm"]?.0 == start + 22.5 * 86_400)
        #expect(calm["dane"] == start + 22.5 * 86_400)
    }
}
