import Foundation
import TestFixtures
import Testing

/// DNS-01 through a hook script against Pebble, with pebble-challtestsrv as the DNS server
/// Pebble asks: the hook publishes through challtestsrv's management API (`/set-txt`,
/// `/clear-txt`), as an RFC 2136 or provider-API script would through its DNS.
@Suite("DNS-01 hooks against Pebble", .serialized, .integration)
struct DNS01Tests {
    /// A hook that logs its environment and publishes/withdraws the record at challtestsrv. With
    /// `addLatency`, each `add` first sleeps that long ("API latency"), and every call writes when
    /// it started and ended to `log + ".times"`.
    func hook(_ pebble: Pebble, _ dir: String, publish: Bool = true, addLatency: String? = nil) throws -> (script: String, log: String) {
        let log = dir + "/hook.log"
        let script = dir + "/dns-hook.sh"
        let api = "http://127.0.0.1:\(pebble.challtestManagementPort)"
        let stamp = { (word: String) in addLatency == nil ? "" : "echo \"\(word) $ACME_ACTION $ACME_DOMAIN $(date +%s.%N)\" >> \(log).times" }
        try """
        #!/bin/sh
        set -eu
        \(stamp("start"))
        echo "$ACME_ACTION $ACME_DOMAIN $ACME_TXT_NAME $ACME_REMAINING_CHALLENGES ${#ACME_VALIDATION} ${#ACME_TOKEN}" >> \(log)
        case "$ACME_ACTION" in
          add) \(addLatency.map { "sleep \($0); " } ?? "")\(publish ? "curl -sf -X POST -d \"{\\\"host\\\":\\\"$ACME_TXT_NAME.\\\",\\\"value\\\":\\\"$ACME_VALIDATION\\\"}\" \(api)/set-txt" : "true") ;;
          remove) curl -sf -X POST -d "{\\"host\\":\\"$ACME_TXT_NAME.\\"}" \(api)/clear-txt ;;
        esac
        \(stamp("end"))
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

    /// The [start, end] of each hook call for `action`, by name, from the timed hook's log.
    func calls(_ log: String, _ action: String) throws -> [String: (start: Double, end: Double)] {
        var calls: [String: (start: Double, end: Double)] = [:]
        for line in try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 4, f[1] == action, let t = Double(f[3]) else { continue }
            if f[0] == "start" { calls[String(f[2]), default: (0, 0)].start = t } else { calls[String(f[2]), default: (0, 0)].end = t }
        }
        return calls
    }

    @Test("--dns-hook-parallel: the hook runs for every name at once (its calls overlap), one propagation check for all; without it, one call at a time")
    func parallelHooks() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("dns01-parallel")
        let (script, hookLog) = try hook(pebble, dir, addLatency: "0.3")
        let log = hookLog + ".times"
        let names = (1...4).map { "p\($0).example.test" }
        let resolver = ["--dns-resolver", "127.0.0.1:\(pebble.dnsPort)", "--dns-propagation-wait", "20"]
        let parallel = try run(TestSupport.acmeBinary, ["issue", "--dns-hook", script, "--dns-hook-parallel"] + names.flatMap { ["-d", $0] }
                               + resolver + issueArguments(pebble, dir))
        #expect(parallel.status == 0, "\(parallel.output)")
        let adds = try calls(log, "add")
        #expect(Set(adds.keys) == Set(names), "\(adds)")
        // Every add started before any ended: all four ran side by side.
        let latestStart = adds.values.map(\.start).max() ?? 0, earliestEnd = adds.values.map(\.end).min() ?? 0
        #expect(latestStart < earliestEnd, "hook calls did not overlap: \(adds)")
        #expect(Set(try calls(log, "remove").keys) == Set(names))
        #expect(parallel.stderr.components(separatedBy: "TXT records visible at").count == 2, "one propagation check for all: \(parallel.output)")
        let conf = try String(contentsOfFile: dir + "/le/renewal/p1.example.test.conf", encoding: .utf8)
        #expect(conf.contains("acme_dns_hook_parallel = True"), "\(conf)")

        // Without the flag (the default: a hook may not be safe to run twice at once), never two at a time.
        try FileManager.default.removeItem(atPath: log)
        let serial = try run(TestSupport.acmeBinary, ["issue", "--dns-hook", script, "--cert-name", "serial"]
                             + names.map { "s" + $0 }.flatMap { ["-d", $0] } + resolver + issueArguments(pebble, dir))
        #expect(serial.status == 0, "\(serial.output)")
        let serialAdds = try calls(log, "add").values.sorted { $0.start < $1.start }
        #expect(serialAdds.count == 4)
        #expect(zip(serialAdds, serialAdds.dropFirst()).allSatisfy { $0.end <= $1.start }, "hook calls overlapped without --dns-hook-parallel: \(serialAdds)")

        let stray = try run(TestSupport.acmeBinary, ["issue", "-d", "x.example.test", "--dns-hook-parallel"] + issueArguments(pebble, dir))
        #expect(stray.status == 64 && stray.stderr.contains("go with --dns-hook"), "\(stray.output)")
    }
}
