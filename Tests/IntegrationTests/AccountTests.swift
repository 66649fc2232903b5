import Foundation
import TestFixtures
import Testing

/// `acme account register|show|deactivate` against a real Pebble CA.
@Suite("acme account against Pebble", .serialized, .integration)
struct AccountTests {
    @Test("register, register again, show, deactivate, then nothing is stored")
    func lifecycle() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("account")
        let ca = ["--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", dir + "/le"]

        let registered = try run(TestSupport.acmeBinary, ["account", "register", "--email", "admin@example.test", "--agree-tos"] + ca)
        #expect(registered.status == 0, "\(registered.output)")
        let url = try #require(registered.stdout.split(separator: "\n").first { $0.hasPrefix("account: https://") })

        let again = try run(TestSupport.acmeBinary, ["account", "register", "--agree-tos"] + ca)
        #expect(again.status == 0, "\(again.output)")
        #expect(again.stderr.contains("already stored"), "\(again.output)")
        #expect(again.stdout.contains(url), "a second register must find the same account: \(again.output)")

        let shown = try run(TestSupport.acmeBinary, ["account", "show"] + ca)
        #expect(shown.status == 0, "\(shown.output)")
        #expect(shown.stdout.contains("status:   valid"), "\(shown.output)")
        #expect(shown.stdout.contains("contact:  mailto:admin@example.test"), "\(shown.output)")
        #expect(shown.stdout.contains(String(url.dropFirst("account: ".count))), "\(shown.output)")

        let unconfirmed = try run(TestSupport.acmeBinary, ["account", "deactivate"] + ca)
        #expect(unconfirmed.status == 64, "\(unconfirmed.output)")
        #expect(unconfirmed.stderr.contains("--yes"))

        let deactivated = try run(TestSupport.acmeBinary, ["account", "deactivate", "--yes"] + ca)
        #expect(deactivated.status == 0, "\(deactivated.output)")
        #expect(deactivated.stdout.contains("is deactivated"), "\(deactivated.output)")

        let gone = try run(TestSupport.acmeBinary, ["account", "show"] + ca)
        #expect(gone.status == 64, "\(gone.output)")
        #expect(gone.stderr.contains("no account stored"), "\(gone.output)")
    }
}
