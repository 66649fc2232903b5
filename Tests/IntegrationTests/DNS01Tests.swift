import Foundation
import Testing

/// DNS-01 through a hook script against Pebble, with pebble-challtestsrv as the DNS server
/// Pebble asks: the hook publishes through challtestsrv's management API (`/set-txt`,
/// `/clear-txt`), as an RFC 2136 or provider-API script would through its DNS.
@Suite("DNS-01 hooks against Pebble", .serialized)
struct DNS01Tests {
    /// A hook that logs its environment and publishes/withdraws the record at challtestsrv.
    func hook(_ pebble: Pebble, _ dir: String, publish: Bool = true) throws -> (script: String, log: String) {
        let log = dir + "/hook.log"
        let script = dir + "/dns-hook.sh"
        let api = "http://127.0.0.1:\(pebble.challtestManagementPort)"
        try """
        #!/bin/sh
        set -eu
        echo "$ACME_ACTION $ACME_DOMAIN $ACME_TXT_NAME $ACME_REMAINING_CHALLENGES ${#ACME_VALIDATION} ${#ACME_TOKEN}" >> \(log)
        case "$ACME_ACTION" in
          add) \(publish ? "curl -sf -X POST -d \"{\\\"host\\\":\\\"$ACME_TXT_NAME.\\\",\\\"value\\\":\\\"$ACME_VALIDATION\\\"}\" \(api)/set-txt" : "true") ;;
          remove) curl -sf -X POST -d "{\\"host\\":\\"$ACME_TXT_NAME.\\"}" \(api)/clear-txt ;;
        esac
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        return (script, log)
    }

    func issueArguments(_ pebble: Pebble, _ dir: String) -> [String] {
        ["--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", dir + "/le", "--agree-tos"]
    }

    @Test("a wildcard and its base name with a DNS hook: lineage example name, checked at the resolver, records removed, renewable")
    func wildcard() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("dns01")
        let (script, log) = try hook(pebble, dir)
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "*.wild.example.test", "-d", "wild.example.test", "--dns-hook", script,
                                                      "--dns-resolver", "127.0.0.1:\(pebble.dnsPort)", "--dns-propagation-wait", "20"]
                             + issueArguments(pebble, dir))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stderr.contains("TXT records visible at 127.0.0.1:\(pebble.dnsPort)"), "\(result.output)")
        let live = dir + "/le/live/wild.example.test"
        #expect(FileManager.default.fileExists(atPath: live + "/fullchain.pem"), "lineage should be named wild.example.test")
        for name in ["anything.wild.example.test", "wild.example.test"] {
            let check = try run("/usr/bin/openssl", ["x509", "-in", live + "/cert.pem", "-noout", "-checkhost", name])
            #expect(check.stdout.contains("does match"), "\(name): \(check.stdout)")
        }
        let root = dir + "/root.pem"
        try pebble.rootPEM().write(toFile: root, atomically: true, encoding: .utf8)
        let verify = try run("/usr/bin/openssl", ["verify", "-CAfile", root, "-untrusted", live + "/chain.pem", live + "/cert.pem"])
        #expect(verify.status == 0, "\(verify.output)")

        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        // Two authorizations (wildcard and base share _acme-challenge.wild.example.test): two adds, two removes.
        #expect(lines.filter { $0.hasPrefix("add wild.example.test _acme-challenge.wild.example.test") }.count == 2, "\(lines)")
        #expect(lines.filter { $0.hasPrefix("remove wild.example.test") }.count == 2, "\(lines)")
        #expect(lines.first?.hasPrefix("add wild.example.test _acme-challenge.wild.example.test 1 43 ") == true, "first add: remaining 1, 43-char validation: \(lines)")
        let conf = try String(contentsOfFile: dir + "/le/renewal/wild.example.test.conf", encoding: .utf8)
        #expect(conf.contains("authenticator = acme-dns-hook") && conf.contains("acme_dns_hook = \(script)"), "\(conf)")

        // Renewal uses the saved hook.
        try FileManager.default.removeItem(atPath: log)
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir + "/le"])
        #expect(renewed.status == 0, "\(renewed.output)")
        #expect(renewed.stdout.contains("wild.example.test: renewed"), "\(renewed.output)")
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("add wild.example.test"))
    }

    @Test("a hook that publishes nothing: the resolver check fails with a clear line, the CA is never asked to validate, remove still runs")
    func unpublished() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("dns01-fail")
        let (script, log) = try hook(pebble, dir, publish: false)
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", "quiet.example.test", "--dns-hook", script,
                                                      "--dns-resolver", "127.0.0.1:\(pebble.dnsPort)", "--dns-propagation-wait", "2"]
                             + issueArguments(pebble, dir))
        #expect(result.status == 2, "\(result.output)")
        #expect(result.stderr.contains("the TXT record for _acme-challenge.quiet.example.test is not visible at 127.0.0.1:\(pebble.dnsPort)"), "\(result.output)")
        #expect(!result.stderr.contains("validating"), "the CA was told to validate: \(result.output)")
        let lines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(lines.contains("remove quiet.example.test"), "cleanup did not run: \(lines)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/le/live/quiet.example.test"))

        let failing = try run(TestSupport.acmeBinary, ["issue", "-d", "broken.example.test", "--dns-hook", "echo no API token >&2; exit 7"]
                              + issueArguments(pebble, dir))
        #expect(failing.status == 2, "\(failing.output)")
        #expect(failing.stderr.contains("failed to add the TXT record for broken.example.test (exit status 7): no API token"), "\(failing.output)")
    }
}
