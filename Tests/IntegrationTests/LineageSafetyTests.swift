import Foundation
import TestFixtures
import Testing

/// Issue 21, items 8 and 9: a lineage appears whole or not at all, a full disk costs no order,
/// and a certificate this host's clock rejects never replaces a working one.
@Suite("lineage creation and the clock check", .serialized, .integration)
struct LineageSafetyTests {
    func issue(_ double: ACMEDouble, _ dir: String, _ name: String, _ extra: [String] = []) throws -> RunResult {
        try run(TestSupport.acmeBinary, ["issue", "-d", name, "--server", double.directoryURL, "--ca-bundle", double.caBundle,
                                         "--agree-tos", "--config-dir", dir] + extra)
    }

    /// A double, a config directory with one lineage issued, its live cert.pem and that certificate.
    func issuedLineage(_ label: String, _ name: String) throws -> (ACMEDouble, String, String, String) {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory(label) + "/le"
        let issued = try issue(double, dir, name)
        #expect(issued.status == 0, "\(issued.output)")
        let live = dir + "/live/\(name)/cert.pem"
        return (double, dir, live, try String(contentsOfFile: live, encoding: .utf8))
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    func names(_ dir: String, _ sub: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/" + sub)) ?? []).filter { !$0.hasPrefix(".") && $0 != "README" }.sorted()
    }

    @Test("a first issuance that fails half-way (renewal/ not writable) leaves nothing; the next run creates the name, not <name>-0001")
    func failedCreation() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("half-way") + "/le"
        try FileManager.default.createDirectory(atPath: dir + "/renewal", withIntermediateDirectories: true)
        // Immutable: even root cannot add the renewal conf, after the key and certificate were written.
        #expect(try run("/usr/bin/chattr", ["+i", dir + "/renewal"]).status == 0)
        var locked = true
        defer { if locked { _ = try? run("/usr/bin/chattr", ["-i", dir + "/renewal"]) } }
        let failed = try issue(double, dir, "half.example.test")
        #expect(failed.status == 2, "\(failed.output)")
        #expect(!exists(dir + "/archive/half.example.test") && !exists(dir + "/live/half.example.test"),
                "a failed first issuance left \(names(dir, "archive")) in archive/, \(names(dir, "live")) in live/")
        #expect(try run("/usr/bin/chattr", ["-i", dir + "/renewal"]).status == 0)
        locked = false
        let again = try issue(double, dir, "half.example.test")
        #expect(again.status == 0, "\(again.output)")
        #expect(names(dir, "live") == ["half.example.test"] && names(dir, "archive") == ["half.example.test"], "\(names(dir, "live"))")
        #expect(exists(dir + "/renewal/half.example.test.conf"))
        #expect(try RenewTests.consistent(dir, "half.example.test"))
    }

    @Test("a first issuance killed before its renewal conf is finished by the next run; one killed before its certificate is removed")
    func interruptedCreation() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("killed") + "/le"
        for name in ["done.example.test", "early.example.test"] {
            let issued = try issue(double, dir, name)
            #expect(issued.status == 0, "\(issued.output)")
        }
        for name in ["done.example.test", "early.example.test"] {
            // What a kill leaves: the marker holding the conf, version 1 and the live links, no conf.
            let conf = dir + "/renewal/\(name).conf"
            try FileManager.default.moveItem(atPath: conf, toPath: dir + "/archive/.\(name).acme-creating")
        }
        // Killed earlier: the certificate of version 1 was never written.
        try FileManager.default.removeItem(atPath: dir + "/archive/early.example.test/cert1.pem")
        let orders = try double.requests(to: "/order").count

        let finished = try issue(double, dir, "done.example.test")
        #expect(finished.status == 0, "\(finished.output)")
        #expect(finished.stderr.contains("finished lineage done.example.test"), "\(finished.output)")
        #expect(finished.stderr.contains("removed what an interrupted first issuance of early.example.test left"), "\(finished.output)")
        #expect(!exists(dir + "/archive/early.example.test") && !exists(dir + "/live/early.example.test"))
        #expect(finished.stdout.contains("not due") || finished.stderr.contains("not due"), "\(finished.output)")
        #expect(try double.requests(to: "/order").count == orders, "the finished lineage was ordered again")
        #expect(exists(dir + "/renewal/done.example.test.conf") && !exists(dir + "/live/done.example.test-0001"))
        #expect(try RenewTests.consistent(dir, "done.example.test"))

        let redone = try issue(double, dir, "early.example.test")
        #expect(redone.status == 0, "\(redone.output)")
        #expect(names(dir, "live") == ["done.example.test", "early.example.test"], "\(names(dir, "live"))")
        #expect(try RenewTests.consistent(dir, "early.example.test"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/archive").filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "left in archive/: \(leftovers)")
    }

    @Test("a config directory on a full file system: no order is placed, exit 2, nothing half-made")
    func fullDisk() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("full") + "/le"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A 256 KiB file system of its own, filled to a few pages, in a private mount namespace.
        let script = """
        mount -t tmpfs -o size=256k tmpfs "$1" && dd if=/dev/zero of="$1/filler" bs=4k count=60 2>/dev/null
        shift; exec "$@"
        """
        let full = try run("/usr/bin/unshare", ["-m", "/bin/sh", "-c", script, "sh", dir, TestSupport.acmeBinary, "issue",
                                                "-d", "full.example.test", "--server", double.directoryURL, "--ca-bundle",
                                                double.caBundle, "--agree-tos", "--config-dir", dir])
        #expect(full.status == 2, "\(full.output)")
        #expect(full.stderr.contains("config directory \(dir) has") && full.stderr.contains("no order was placed"), "\(full.output)")
        #expect(try double.requests(to: "/order").isEmpty, "an order was placed although the disk was full")
        #expect(full.stderr.split(separator: "\n").count == 1, "\(full.output)")
    }

    @Test("a certificate a year off is held: the working one stays, one line says by how much, exit 1; renew does not order again")
    func clockCheck() throws {
        let name = "clock.example.test"
        let (double, dir, live, working) = try issuedLineage("clock", name)

        try double.setControl(["clock_offset_days": -365])
        let forced = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir])
        #expect(forced.status == 1, "\(forced.output)")
        let lines = forced.stderr.split(separator: "\n").filter { $0.contains("disagree") }
        #expect(lines.count == 1 && lines[0].contains("disagree by about 365 days") && lines[0].contains("expired at"), "\(forced.output)")
        #expect(try String(contentsOfFile: live, encoding: .utf8) == working, "the expired certificate replaced the working one")
        #expect(exists(dir + "/archive/\(name)/.acme-held-fullchain.pem"))
        let orders = try double.requests(to: "/order").count

        // Due by the operator's rule, but the same clocks would give the same certificate: no order.
        for _ in 0..<2 {
            let again = try run(TestSupport.acmeBinary, ["renew", "--renew-within", "3650", "--no-random-sleep", "--config-dir", dir])
            #expect(again.status == 1 && again.stderr.contains("no other is ordered"), "\(again.output)")
        }
        #expect(try double.requests(to: "/order").count == orders, "renew ordered again while a certificate was held")
        #expect(try String(contentsOfFile: live, encoding: .utf8) == working)

        // The CA's clock is right again: a forced renewal installs a good one and forgets the held one.
        try double.setControl(["clock_offset_days": 0])
        let fixed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir])
        #expect(fixed.status == 0, "\(fixed.output)")
        #expect(try String(contentsOfFile: live, encoding: .utf8) != working)
        #expect(!exists(dir + "/archive/\(name)/.acme-held-fullchain.pem"))
    }

    @Test("a held certificate (a CA clock seconds ahead) is installed without another order once this host's clock accepts it")
    func heldBecomesValid() throws {
        let name = "ahead.example.test"
        let (double, dir, live, working) = try issuedLineage("clock-ahead", name)
        // 30 s ahead: far enough that a loaded machine still checks before it passes.
        try double.setControl(["clock_offset_days": 30.0 / 86400])
        let ordered = Date()
        let forced = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir])
        #expect(forced.status == 1 && forced.stderr.contains("not valid before"), "\(forced.output)")
        #expect(try String(contentsOfFile: live, encoding: .utf8) == working)
        let orders = try double.requests(to: "/order").count
        Thread.sleep(until: ordered.addingTimeInterval(31))  // the held certificate's notBefore has passed
        let later = try run(TestSupport.acmeBinary, ["renew", "--renew-within", "3650", "--no-random-sleep", "--config-dir", dir])
        #expect(later.status == 0 && later.stderr.contains("installing it instead of ordering another"), "\(later.output)")
        #expect(try double.requests(to: "/order").count == orders, "the held certificate was ordered again instead of installed")
        #expect(try String(contentsOfFile: live, encoding: .utf8) != working)
        #expect(!exists(dir + "/archive/\(name)/.acme-held-fullchain.pem"))
    }
}
